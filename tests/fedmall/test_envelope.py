"""Signed envelopes: verify the exact bytes, then parse; every failure has its code."""
from __future__ import annotations

import pytest

from fedmall import pki
from fedmall.envelope import VerificationKey, open_envelope, pae
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

KEY = pki.new_signing_key("bank-a/k1")
OTHER = pki.new_signing_key("bank-b/k1")
KEYS = {k.key_id: VerificationKey(k.key_id, k.key_id.split("/")[0], k.private_key.public_key()) for k in (KEY, OTHER)}


def open_(envelope, *, signer="bank-a", message_class=transfer_pb2.DecisionBatch):
    return open_envelope(envelope, message_class, expected_signer=signer, keys=KEYS.get)


def sample():
    return transfer_pb2.DecisionBatch(accepts=[transfer_pb2.Accept(transfer_id="t1", fulfilment=b"f" * 32)])


def code_of(call) -> int:
    with pytest.raises(FedmallError) as error:
        call()
    return error.value.code


def test_pae__encodes_lengths_so_type_and_payload_cannot_be_shifted():
    assert pae("a", b"bc") == b"DSSEv1 1 a 2 bc"
    assert pae("ab", b"c") != pae("a", b"bc")


def test_open__round_trip_returns_the_signed_message():
    assert open_(KEY.sign(sample())) == sample()


def test_open__payload_changed_after_signing_is_invalid_signature():
    envelope = KEY.sign(sample())
    envelope.payload = envelope.payload[:-1] + b"g"
    assert code_of(lambda: open_(envelope)) == rc.RESULT_CODE_INVALID_SIGNATURE


def test_open__type_changed_after_signing_is_refused():
    envelope = KEY.sign(sample())
    envelope.payload_type = "fedmall.v1.PrepareBatch"
    assert code_of(lambda: open_(envelope, message_class=transfer_pb2.PrepareBatch)) == rc.RESULT_CODE_INVALID_SIGNATURE


def test_open__unexpected_type_is_malformed_payload():
    assert code_of(lambda: open_(KEY.sign(sample()), message_class=transfer_pb2.PrepareBatch)) == rc.RESULT_CODE_MALFORMED_PAYLOAD


def test_open__unknown_key_is_unknown_key():
    stranger = pki.new_signing_key("bank-a/k7")
    assert code_of(lambda: open_(stranger.sign(sample()))) == rc.RESULT_CODE_UNKNOWN_KEY


def test_open__signed_by_someone_else_is_signer_not_peer():
    assert code_of(lambda: open_(OTHER.sign(sample()))) == rc.RESULT_CODE_SIGNER_NOT_PEER


def test_open__verified_garbage_is_malformed_payload():
    envelope = KEY.sign(sample())
    envelope.payload = b"\xff\xff\xff"
    envelope.signature = KEY.private_key.sign(pae(envelope.payload_type, envelope.payload))
    assert code_of(lambda: open_(envelope)) == rc.RESULT_CODE_MALFORMED_PAYLOAD


# One rule for the bytes of a signed payload: canonical, and nothing the contract does not define.

def signed(payload: bytes, payload_type: str = "fedmall.v1.DecisionBatch"):
    """An envelope validly signed over exactly these bytes."""
    envelope = KEY.sign(transfer_pb2.DecisionBatch())
    envelope.payload_type, envelope.payload = payload_type, payload
    envelope.signature = KEY.private_key.sign(pae(payload_type, payload))
    return envelope


def accept_bytes(transfer_id: bytes, fulfilment: bytes = b"f" * 32) -> bytes:
    return b"\x0a" + bytes([len(transfer_id)]) + transfer_id + b"\x12" + bytes([len(fulfilment)]) + fulfilment


@pytest.mark.parametrize("payload, why", [
    (b"\x0a" + bytes([len(accept_bytes(b"t1"))]) + accept_bytes(b"t1") + b"\xf8\x07\x01", "unknown field at batch level"),
    (b"\x0a" + bytes([len(accept_bytes(b"t1") + b"\xf8\x07\x01")]) + accept_bytes(b"t1") + b"\xf8\x07\x01",
     "unknown field inside an Accept"),
])
def test_open__unknown_fields_at_any_depth_are_malformed_payload(payload, why):
    with pytest.raises(FedmallError) as error:
        open_(signed(payload))
    assert error.value.code == rc.RESULT_CODE_MALFORMED_PAYLOAD and "does not define" in str(error.value), why


def test_open__a_field_encoded_twice_is_malformed_though_it_parses_and_verifies():
    # transfer_id twice: the parser keeps the last, so the signed bytes say two things.
    twice = b"\x0a\x02t1" + accept_bytes(b"t2")
    payload = b"\x0a" + bytes([len(twice)]) + twice
    assert transfer_pb2.DecisionBatch.FromString(payload).accepts[0].transfer_id == "t2"
    with pytest.raises(FedmallError) as error:
        open_(signed(payload))
    assert error.value.code == rc.RESULT_CODE_MALFORMED_PAYLOAD and "canonical" in str(error.value)


def batch_of(accept: bytes) -> bytes:
    return b"\x0a" + bytes([len(accept)]) + accept


@pytest.mark.parametrize("payload, same_as", [
    (batch_of(b"\x0a\x02t1\x12\x00"), transfer_pb2.Accept(transfer_id="t1")),         # A default written out.
    (batch_of(b"\x12\x20" + b"f" * 32 + b"\x0a\x02t1"), sample().accepts[0]),       # Fields out of order.
    (batch_of(b"\x0a\x02t1\x12\xa0\x00" + b"f" * 32), sample().accepts[0]),         # A length as a long varint.
])
def test_open__other_encodings_of_the_same_content_are_malformed(payload, same_as):
    assert transfer_pb2.DecisionBatch.FromString(payload) == transfer_pb2.DecisionBatch(accepts=[same_as])
    assert code_of(lambda: open_(signed(payload))) == rc.RESULT_CODE_MALFORMED_PAYLOAD


def test_open__a_key_id_longer_than_any_key_is_unknown_without_a_lookup():
    looked_up = []
    envelope = KEY.sign(sample())
    envelope.key_id = "bank-a/" + "k" * 10_000
    with pytest.raises(FedmallError) as error:
        open_envelope(envelope, transfer_pb2.DecisionBatch, expected_signer="bank-a", keys=looked_up.append)
    assert error.value.code == rc.RESULT_CODE_UNKNOWN_KEY and looked_up == []
