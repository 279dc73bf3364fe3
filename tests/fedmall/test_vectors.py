"""The test vectors of docs/protocol.md (tests/vectors/*.json), checked against the code so they
can never go stale, and each checked a second way that uses none of Fedmall's code (hashlib and
the cryptography package alone), so they say what the contract means, not what the code does.

A vector changes only with the contract. Were one ever to change on purpose, rewrite them all with

    .venv/bin/python -m tests.fedmall.test_vectors --write
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf import json_format
from google.protobuf.internal.encoder import _VarintBytes

from fedmall.envelope import SigningKey, VerificationKey, open_envelope, pae
from fedmall.results import FedmallError
from fedmall.statement_hash import statement_sha256
from fedmall.v1 import envelope_pb2, money_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
# Fixed test keys: never a real one. Ed25519 signing is deterministic (RFC 8032), so the
# same key and bytes always give the same signature.
BANK_SEED = bytes(range(32))
CLEARING_SEED = bytes(range(32, 64))


def _key(seed: bytes, key_id: str) -> SigningKey:
    return SigningKey(key_id, Ed25519PrivateKey.from_private_bytes(seed))


def _public_hex(seed: bytes) -> str:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def _prepare_batch() -> transfer_pb2.PrepareBatch:
    fulfilment = _fulfilment()
    return transfer_pb2.PrepareBatch(prepares=[transfer_pb2.Prepare(
        transfer_id="7c9e6679-7425-40de-944b-e07fc1f90ae7", payer_bank_id="bank-a", payee_bank_id="bank-b",
        payee_account="bob", amount=money_pb2.Money(amount_minor=2_500, currency="EUR"),
        condition=hashlib.sha256(fulfilment).digest(), expires_at_unix_ms=1_767_225_600_000,
        reference="order 42: Grüße")])


def _fulfilment() -> bytes:
    return hashlib.sha256(b"fedmall test vector fulfilment").digest()


def _statement_pages() -> list[settlement_pb2.Statement]:
    entries = [settlement_pb2.StatementEntry(
        transfer_id=transfer_id, direction=direction, counterparty_bank_id=counterparty,
        amount=money_pb2.Money(amount_minor=amount_minor, currency="EUR"), reference="",
        committed_at_unix_ms=1_767_225_601_000)
        for transfer_id, direction, counterparty, amount_minor in (
            ("7c9e6679-7425-40de-944b-e07fc1f90ae7", settlement_pb2.ENTRY_DIRECTION_DEBIT, "bank-b", 2_500),
            ("3f2504e0-4f89-41d3-9a0c-0305e82c3301", settlement_pb2.ENTRY_DIRECTION_CREDIT, "bank-c", 700))]
    summary = dict(window_id=7, bank_id="bank-a", page_count=2, entry_count=2,
                   opening_position=money_pb2.Money(amount_minor=0, currency="EUR"),
                   closing_position=money_pb2.Money(amount_minor=1_800, currency="EUR"),
                   net=money_pb2.Money(amount_minor=-1_800, currency="EUR"),
                   audit_head=settlement_pb2.AuditHead(sequence=19, entry_hash=hashlib.sha256(b"head").digest()),
                   opening_liquidity=money_pb2.Money(amount_minor=100_000, currency="EUR"),
                   closing_liquidity=money_pb2.Money(amount_minor=100_000, currency="EUR"))
    return [settlement_pb2.Statement(page_index=index, entries=[entry], **summary)
            for index, entry in enumerate(entries)]


def _refused_payloads(batch: transfer_pb2.PrepareBatch) -> list[tuple[str, bytes]]:
    """Payloads a receiver refuses even when their signature verifies (fedmall.envelope)."""
    prepare = batch.prepares[0].SerializeToString(deterministic=True)
    twice = prepare + b"\x38\x00"  # expires_at_unix_ms (field 7) again, as 0, after field 8.
    return [("a field encoded twice, out of order, as its default",
             b"\x0a" + _VarintBytes(len(twice)) + twice),
            ("a field the contract does not define (field 2 of PrepareBatch)",
             batch.SerializeToString(deterministic=True) + b"\x10\x01")]


def _as_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def build_vectors() -> dict[str, dict]:
    """Every vector file's content, computed by the code."""
    batch = _prepare_batch()
    bank_key = _key(BANK_SEED, "bank-a/k1")
    envelope = bank_key.sign(batch)
    clearing_key = _key(CLEARING_SEED, "clearing/k1")
    pages = [clearing_key.sign(page) for page in _statement_pages()]
    fulfilment = _fulfilment()
    return {
        "pae.json": {"about": "DSSE pre-authentication encoding: the bytes an Ed25519 signature covers",
                     "cases": [{"payload_type": payload_type, "payload_hex": payload.hex(),
                                "pae_hex": pae(payload_type, payload).hex()}
                               for payload_type, payload in (("fedmall.v1.PrepareBatch", b""),
                                                             ("fedmall.v1.DecisionBatch", b"\x0a\x02hi"),
                                                             ("fedmall.v1.PrepareBatch", envelope.payload))]},
        "envelope.json": {
            "about": "a PrepareBatch signed by bank-a/k1 with a fixed test key",
            "private_key_seed_hex": BANK_SEED.hex(), "public_key_hex": _public_hex(BANK_SEED),
            "key_id": envelope.key_id, "payload_type": envelope.payload_type,
            "payload_json": _as_dict(batch), "payload_hex": envelope.payload.hex(),
            "pae_hex": pae(envelope.payload_type, envelope.payload).hex(),
            "signature_hex": envelope.signature.hex(), "envelope_hex": envelope.SerializeToString().hex(),
            "refused": [{"why": why, "payload_hex": payload.hex(), "result": "RESULT_CODE_MALFORMED_PAYLOAD"}
                        for why, payload in _refused_payloads(batch)]},
        "statement.json": {
            "about": "a two-page statement signed by clearing/k1 with a fixed test key, and its hash",
            "clearing_private_key_seed_hex": CLEARING_SEED.hex(), "clearing_public_key_hex": _public_hex(CLEARING_SEED),
            "pages": [{"payload_json": _as_dict(page_message), "payload_hex": page.payload.hex(),
                       "signature_hex": page.signature.hex()}
                      for page, page_message in zip(pages, _statement_pages())],
            "statement_sha256_hex": statement_sha256(page.payload for page in pages).hex()},
        "fulfilment.json": {
            "about": "a fulfilment and its condition: condition = SHA-256(fulfilment)",
            "fulfilment_hex": fulfilment.hex(), "condition_hex": hashlib.sha256(fulfilment).digest().hex()},
    }


@pytest.mark.parametrize("name", sorted(build_vectors()))
def test_vector_file__is_what_the_code_computes(name):
    assert json.loads((VECTORS / name).read_text()) == build_vectors()[name], (
        f"tests/vectors/{name} differs from the code: the contract changed? (see this module's docstring)")


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def test_pae__is_the_dsse_layout_built_by_hand():
    for case in _load("pae.json")["cases"]:
        type_bytes, payload = case["payload_type"].encode(), bytes.fromhex(case["payload_hex"])
        by_hand = b"DSSEv1 " + str(len(type_bytes)).encode() + b" " + type_bytes + b" " \
            + str(len(payload)).encode() + b" " + payload
        assert by_hand.hex() == case["pae_hex"]


def test_envelope__verifies_with_the_raw_public_key_and_opens():
    vector = _load("envelope.json")
    public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(vector["public_key_hex"]))
    public_key.verify(bytes.fromhex(vector["signature_hex"]), bytes.fromhex(vector["pae_hex"]))  # Raises if not.
    envelope = envelope_pb2.Envelope.FromString(bytes.fromhex(vector["envelope_hex"]))
    key = VerificationKey(vector["key_id"], "bank-a", public_key)
    batch = open_envelope(envelope, transfer_pb2.PrepareBatch, expected_signer="bank-a", keys=lambda _: key)
    assert _as_dict(batch) == vector["payload_json"]
    assert batch.prepares[0].condition.hex() == _load("fulfilment.json")["condition_hex"]


def test_envelope__non_canonical_or_unknown_fields_are_refused_even_when_signed():
    vector = _load("envelope.json")
    signer = _key(bytes.fromhex(vector["private_key_seed_hex"]), vector["key_id"])
    key = VerificationKey(vector["key_id"], "bank-a", signer.private_key.public_key())
    for case in vector["refused"]:
        payload = bytes.fromhex(case["payload_hex"])
        envelope = envelope_pb2.Envelope(payload_type=vector["payload_type"], payload=payload, key_id=vector["key_id"],
                                         signature=signer.private_key.sign(pae(vector["payload_type"], payload)))
        with pytest.raises(FedmallError) as refused:
            open_envelope(envelope, transfer_pb2.PrepareBatch, expected_signer="bank-a", keys=lambda _: key)
        assert rc.ResultCode.Name(refused.value.code) == case["result"], case["why"]


def test_statement__pages_verify_and_hash_to_the_statement_sha256():
    vector = _load("statement.json")
    public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(vector["clearing_public_key_hex"]))
    payloads = [bytes.fromhex(page["payload_hex"]) for page in vector["pages"]]
    for page, payload in zip(vector["pages"], payloads):
        public_key.verify(bytes.fromhex(page["signature_hex"]), pae("fedmall.v1.Statement", payload))
        assert _as_dict(settlement_pb2.Statement.FromString(payload)) == page["payload_json"]
    assert hashlib.sha256(b"".join(payloads)).hexdigest() == vector["statement_sha256_hex"]


def test_fulfilment__condition_is_its_sha256():
    vector = _load("fulfilment.json")
    assert hashlib.sha256(bytes.fromhex(vector["fulfilment_hex"])).hexdigest() == vector["condition_hex"]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    for file_name, content in build_vectors().items():
        (VECTORS / file_name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote tests/vectors/{file_name}")
