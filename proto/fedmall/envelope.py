"""Signed envelopes (the DSSE pattern): sign bytes, ship bytes, verify, then parse.

The signature is over PAE(payload_type, payload) so a signature for one message
type can never be replayed as another. The receiver checks, in order: size, type,
signer is the expected party, the key is known and active, the signature, and only
then parses the exact bytes it verified.

One rule for the bytes of every signed payload, at every level of it (a batch, each
Prepare, Accept or Reject in it, a Reconciliation and its breaks, a key change...): they
must be the payload's canonical form, and hold no field the contract does not define.
Otherwise MALFORMED_PAYLOAD, for the whole envelope.

- Canonical: parsing the bytes and serialising the message again deterministically gives
  the same bytes. That is what SigningKey.sign produces, and what every mainstream
  protobuf serialiser emits for these messages (fields once each, in number order,
  defaults left out). It refuses a field encoded twice (the parser keeps the last, so the
  signed bytes say two things), a default encoded explicitly, fields out of order,
  non-minimal varints. So a receiver may store, hash and forward the re-serialisation of
  any part of the payload: it is exactly the bytes that were signed (the clearing keeps
  each Prepare that way), and the same content always has the same hash (EXISTS and
  MODIFIED_REQUEST compare content, never encodings).
- No unknown fields, at any depth: a field this contract does not define is either a
  sender on a newer contract (both sides move to it together) or something smuggled past
  the checks into what the receiver keeps and forwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf.message import DecodeError, Message

from fedmall import limits
from fedmall.results import FedmallError
from fedmall.v1 import envelope_pb2, result_pb2

Envelope = envelope_pb2.Envelope
MessageT = TypeVar("MessageT", bound=Message)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: 'DSSEv1 <len> <type> <len> <payload>'."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, message: Message) -> envelope_pb2.Envelope:
        payload = message.SerializeToString(deterministic=True)
        payload_type = message.DESCRIPTOR.full_name
        signature = self.private_key.sign(pae(payload_type, payload))
        return Envelope(payload_type=payload_type, payload=payload, key_id=self.key_id, signature=signature)


@dataclass(frozen=True, slots=True)
class VerificationKey:
    key_id: str
    owner: str  # The party the key belongs to: a bank id, or "clearing".
    public_key: Ed25519PublicKey


class KeyLookup(Protocol):
    def __call__(self, key_id: str) -> VerificationKey | None: ...


def has_unknown_fields(message: Message) -> bool:
    """Does the message, or any message inside it, hold fields its type does not define?
    (DiscardUnknownFields is recursive: the difference in size is anywhere in the tree.)"""
    known = type(message)()
    known.CopyFrom(message)
    known.DiscardUnknownFields()
    return known.ByteSize() != message.ByteSize()


def payload_problem(message: Message, payload: bytes) -> str | None:
    """Why payload, parsed into message, is not an acceptable signed payload, or None."""
    if has_unknown_fields(message):
        return "the payload holds fields the contract does not define"
    if message.SerializeToString(deterministic=True) != payload:
        return "the payload is not in canonical form (a field repeated, out of order or a default encoded)"
    return None


def open_envelope(
    envelope: envelope_pb2.Envelope,
    message_class: Callable[[], MessageT],
    *,
    expected_signer: str,
    keys: KeyLookup,
) -> MessageT:
    """Verify an envelope from expected_signer and parse its payload, or raise FedmallError."""
    if len(envelope.payload) + len(envelope.signature) + len(envelope.key_id) > limits.envelope_bytes_max:
        raise FedmallError(result_pb2.RESULT_CODE_ENVELOPE_TOO_LARGE)
    message = message_class()
    if envelope.payload_type != message.DESCRIPTOR.full_name:
        raise FedmallError(result_pb2.RESULT_CODE_MALFORMED_PAYLOAD, f"expected {message.DESCRIPTOR.full_name}")
    if len(envelope.key_id) > limits.key_id_length_max:
        raise FedmallError(result_pb2.RESULT_CODE_UNKNOWN_KEY, f"a signing key id has at most {limits.key_id_length_max} "
                                                               "characters")
    key = keys(envelope.key_id)
    if key is None:
        raise FedmallError(result_pb2.RESULT_CODE_UNKNOWN_KEY, f"unknown signing key {envelope.key_id!r}")
    if key.owner != expected_signer:
        raise FedmallError(result_pb2.RESULT_CODE_SIGNER_NOT_PEER, f"signed by {key.owner}, not {expected_signer}")
    try:
        key.public_key.verify(envelope.signature, pae(envelope.payload_type, envelope.payload))
    except InvalidSignature:
        raise FedmallError(result_pb2.RESULT_CODE_INVALID_SIGNATURE) from None
    try:
        message.ParseFromString(envelope.payload)
    except DecodeError:
        raise FedmallError(result_pb2.RESULT_CODE_MALFORMED_PAYLOAD, "payload does not parse") from None
    problem = payload_problem(message, envelope.payload)
    if problem is not None:
        raise FedmallError(result_pb2.RESULT_CODE_MALFORMED_PAYLOAD, problem)
    return message
