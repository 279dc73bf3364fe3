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
