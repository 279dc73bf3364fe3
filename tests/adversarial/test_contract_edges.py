"""A hostile member cannot hurt the others, class 7: the loose edges of the contract.

A member with a valid certificate and signing key sends what the contract's types allow but its
rules do not: an id in a second spelling, text that rewrites itself on the payee's screen, a
reason of a megabyte, a key that is not a key, fields the contract does not define, a field
encoded twice under a valid signature. Each test sends one against the real clearing (on SQLite
and PostgreSQL) or real nodes, and asserts the typed refusal AND that nothing changed: the
clearing's transfers, participants, signing keys, deliveries and reconciliations are as before,
and the audit log grew by exactly the one entry that records the refusal.
"""
from __future__ import annotations

import collections

import json
import time
import uuid

import pytest
import sqlalchemy as sa

from fedmall import delivery_kinds, limits, pki, tls
from fedmall.envelope import Envelope, pae
from fedmall.v1 import clearing_pb2, marketplace_pb2 as mp, marketplace_pb2_grpc, money_pb2, node_pb2
from fedmall.v1 import node_pb2_grpc, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import audit
from clearing.store import audit_log, deliveries, participants, reconciliations, signing_keys, transfers
from node.bank import store as node_store
from node.market import search_text, store as market_store

from tests.acceptance.conftest import Federation, closed_at_rest
from tests.fedmall.test_ed25519 import NON_CANONICAL, SMALL_ORDER
from tests.node.bank import test_services as node_harness
from tests.support.federation import CURRENCY, make_prepare, next_deliveries

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
BIDI_REFERENCE = "invoice 2024-117 \u202e007.41 EUR\u202c"   # Shows as "invoice 2024-117 RUE 14.700".
ADMITTED = 1  # Delivery 1 on every bank's stream: the funds in it was admitted with.


# What the clearing holds, and what may change -------------------------------------------------

WATCHED = {"transfers": transfers, "participants": participants, "signing_keys": signing_keys,
           "deliveries": deliveries, "reconciliations": reconciliations}


def clearing_state(world) -> dict[str, list[tuple]]:
    with world.clearing.store.read() as connection:
        state = {name: sorted(tuple(row) for row in connection.execute(sa.select(table)))
                 for name, table in WATCHED.items()}
        state["audit_log"] = [tuple(row) for row in connection.execute(
            sa.select(audit_log).order_by(audit_log.c.sequence))]
    return state


def new_audit_entries(world, before: dict) -> list:
    with world.clearing.store.read() as connection:
        assert not audit.verify_chain(connection).problems
        return connection.execute(sa.select(audit_log).where(
            audit_log.c.sequence > len(before["audit_log"])).order_by(audit_log.c.sequence)).all()


def assert_nothing_changed_but_the_refusal(world, before: dict, *, code: int, peer: str) -> None:
    """An envelope refused whole: every watched table as before, and one new audit entry, bounded,
    naming the peer and the code."""
    after = clearing_state(world)
    assert {name: after[name] for name in WATCHED} == {name: before[name] for name in WATCHED}
    assert after["audit_log"][:len(before["audit_log"])] == before["audit_log"]
    [entry] = new_audit_entries(world, before)
    assert (entry.kind, entry.party_id) == ("refused", peer)
    assert json.loads(entry.body)["result"] == code
    assert len(entry.body) <= limits.audit_refusal_bytes_max * 4 // 3 + 512  # The envelope in base64, or its hash.


def assert_only_items_refused(world, before: dict, *, kind: str, peer: str, refused: dict[str, int]) -> None:
    """A batch whose refused items changed nothing: one audit entry records the batch, with each
    refused item's code, and nothing else moved."""
    after = clearing_state(world)
    assert {name: after[name] for name in WATCHED} == {name: before[name] for name in WATCHED}
    [entry] = new_audit_entries(world, before)
    assert (entry.kind, entry.party_id) == (kind, peer)
    body = json.loads(entry.body)
    results = {transfer_id: code for transfer_id, code in body["results"]}
    named = {transfer_id: code for transfer_id, code in refused.items() if transfer_id in results}
    assert {transfer_id: results[transfer_id] for transfer_id in named} == named
    # An id that is no transfer id is never copied into the log, only counted by its result
    # (clearing.audit_envelopes).
    unnamed = collections.Counter(code for transfer_id, code in refused.items() if transfer_id not in named)
    assert all(dict(body.get("unnamed", [])).get(code, 0) >= count for code, count in unnamed.items()), body


# Sending what a hostile member would ------------------------------------------------------------

def signed_bytes(key, payload_type: str, payload: bytes) -> Envelope:
    """An envelope whose signature is valid for exactly these payload bytes, whatever they hold."""
    return Envelope(payload_type=payload_type, payload=payload, key_id=key.key_id,
                    signature=key.private_key.sign(pae(payload_type, payload)))


def length_delimited(number: int, payload: bytes) -> bytes:
    """Field number, wire type 2, then the payload (lengths here stay under 2**14)."""
    length = len(payload)
    varint = bytes([length]) if length < 0x80 else bytes([length & 0x7F | 0x80, length >> 7])
    return bytes([number << 3 | 2]) + varint + payload


UNKNOWN_FIELD = b"\xf8\x07\x01"   # Field 127, a varint 1: defined nowhere in the contract.


def submit_prepares(world, bank_id: str, *prepares) -> clearing_pb2.SubmitPreparesResponse:
    envelope = world.banks[bank_id].signing_key.sign(transfer_pb2.PrepareBatch(prepares=prepares))
    return world.stub(bank_id).SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))


def submit_prepare_bytes(world, bank_id: str, payload: bytes) -> clearing_pb2.SubmitPreparesResponse:
    envelope = signed_bytes(world.banks[bank_id].signing_key, "fedmall.v1.PrepareBatch", payload)
    return world.stub(bank_id).SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))


def submit_decision_bytes(world, bank_id: str, payload: bytes) -> clearing_pb2.SubmitDecisionsResponse:
    envelope = signed_bytes(world.banks[bank_id].signing_key, "fedmall.v1.DecisionBatch", payload)
    return world.stub(bank_id).SubmitDecisions(clearing_pb2.SubmitDecisionsRequest(envelope=envelope))


def submit_decisions(world, bank_id: str, *, accepts=(), rejects=()) -> clearing_pb2.SubmitDecisionsResponse:
    batch = transfer_pb2.DecisionBatch(accepts=accepts, rejects=rejects)
    return submit_decision_bytes(world, bank_id, batch.SerializeToString(deterministic=True))


def change_key(world, bank_id: str, change: transfer_pb2.SigningKeyChange, *, key=None) -> int:
    envelope = (key or world.banks[bank_id].signing_key).sign(change)
    return world.stub(bank_id).ChangeSigningKey(clearing_pb2.ChangeSigningKeyRequest(envelope=envelope)).result


def change_key_bytes(world, bank_id: str, payload: bytes) -> int:
    envelope = signed_bytes(world.banks[bank_id].signing_key, "fedmall.v1.SigningKeyChange", payload)
    return world.stub(bank_id).ChangeSigningKey(clearing_pb2.ChangeSigningKeyRequest(envelope=envelope)).result


def reconcile_bytes(world, bank_id: str, payload: bytes) -> int:
    envelope = signed_bytes(world.banks[bank_id].signing_key, "fedmall.v1.Reconciliation", payload)
    return world.stub(bank_id).SubmitReconciliation(clearing_pb2.SubmitReconciliationRequest(envelope=envelope)).result


def reserve(world) -> transfer_pb2.Prepare:
    prepare = make_prepare("bank-a", "bank-b", 1_000, now_ms=world.clock())
    assert [r.result for r in submit_prepares(world, "bank-a", prepare).results] == [rc.RESULT_CODE_OK]
    return prepare


def public_key_of(key) -> bytes:
    return pki.public_key_raw(key.private_key.public_key())


# 1. One spelling per id ------------------------------------------------------------------------

def test_transfer_id__an_upper_case_copy_of_a_reserved_id_is_invalid_field_and_reserves_nothing(world):
    prepare = reserve(world)
    before = clearing_state(world)
    copy = make_prepare("bank-a", "bank-b", 1_000, now_ms=world.clock(), transfer_id=prepare.transfer_id.upper())
    response = submit_prepares(world, "bank-a", copy)
    assert [(r.transfer_id, r.result) for r in response.results] == [(copy.transfer_id, rc.RESULT_CODE_INVALID_FIELD)]
    assert_only_items_refused(world, before, kind="prepares", peer="bank-a",
                              refused={copy.transfer_id: rc.RESULT_CODE_INVALID_FIELD})
    assert world.participant("bank-a").reserved_minor == 1_000   # Reserved once, not twice.


@pytest.mark.parametrize("spelling", [
    lambda u: str(uuid.UUID(int=0)),                 # The nil UUID.
    lambda u: "ffffffff-ffff-ffff-ffff-ffffffffffff",  # The max UUID.
    lambda u: "{" + u + "}",
    lambda u: "urn:uuid:" + u,
    lambda u: u.replace("-", ""),
    lambda u: "A" + u[1:],                           # Partly upper case (always: u[:8].upper() may be digits).
    lambda u: u + "\n",
], ids=["nil", "max", "braced", "urn", "no-hyphens", "mixed-case", "trailing-newline"])
def test_transfer_id__any_other_spelling_or_a_sentinel_is_invalid_field(world, spelling):
    before = clearing_state(world)
    transfer_id = spelling(str(uuid.uuid4()))
    response = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 100, now_ms=world.clock(),
                                                             transfer_id=transfer_id))
    assert [r.result for r in response.results] == [rc.RESULT_CODE_INVALID_FIELD]
    assert_only_items_refused(world, before, kind="prepares", peer="bank-a",
                              refused={transfer_id: rc.RESULT_CODE_INVALID_FIELD})


def test_transfer_id__two_spellings_in_one_batch_reserve_once(world):
    lower = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    upper = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock(), transfer_id=lower.transfer_id.upper())
    response = submit_prepares(world, "bank-a", lower, upper)
    assert [r.result for r in response.results] == [rc.RESULT_CODE_OK, rc.RESULT_CODE_INVALID_FIELD]
    assert world.participant("bank-a").reserved_minor == 100


def test_transfer_id__a_decision_or_lookup_under_another_spelling_is_invalid_field_and_decides_nothing(world):
    prepare = reserve(world)
    before = clearing_state(world)
    upper = prepare.transfer_id.upper()
    response = submit_decisions(world, "bank-b", accepts=[transfer_pb2.Accept(
        transfer_id=upper, fulfilment=b"\0" * 32)], rejects=[transfer_pb2.Reject(
        transfer_id=str(uuid.UUID(int=0)), reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN)])
    assert [r.result for r in response.results] == [rc.RESULT_CODE_INVALID_FIELD, rc.RESULT_CODE_INVALID_FIELD]
    assert_only_items_refused(world, before, kind="decisions", peer="bank-b",
                              refused={upper: rc.RESULT_CODE_INVALID_FIELD})
    lookup = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=upper))
    assert lookup.result == rc.RESULT_CODE_INVALID_FIELD


# 2. Printable text, bounded -------------------------------------------------------------------

@pytest.mark.parametrize("reference", [
    BIDI_REFERENCE, "order 7\nPAID IN FULL", "\x1b[2Jcleared", "zero\u200bwidth", "\u2066isolated\u2069",
    "nul\0byte", "r" * (limits.reference_length_max + 1),
], ids=["override", "newline", "escape", "zero-width", "isolate", "nul", "too-long"])
def test_reference__controls_bidirectional_or_too_long_is_invalid_field_and_never_reaches_the_payee(world, reference):
    before = clearing_state(world)
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    prepare.reference = reference
    response = submit_prepares(world, "bank-a", prepare)
    assert [r.result for r in response.results] == [rc.RESULT_CODE_INVALID_FIELD]
    assert_only_items_refused(world, before, kind="prepares", peer="bank-a",
                              refused={prepare.transfer_id: rc.RESULT_CODE_INVALID_FIELD})
    assert world.participant("bank-b").delivery_sequence == ADMITTED   # Nothing was delivered to the payee.


def test_reference__text_of_any_script_is_carried_to_the_payee_as_it_was_signed(world):
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    prepare.reference = "订单 2024-117 für Zürich\u3000☕"
    assert [r.result for r in submit_prepares(world, "bank-a", prepare).results] == [rc.RESULT_CODE_OK]
    [delivered] = next_deliveries(world.stub("bank-b"), after_sequence=ADMITTED, count=1)
    [notice] = transfer_pb2.NoticeBatch.FromString(delivered.envelope.payload).notices
    assert notice.prepare.reference == prepare.reference


@pytest.mark.parametrize("reason", ["x" * 1_000_000, "x" * (limits.reject_reason_length_max + 1),
                                    "account closed\u202e", "line\nbreak"],
                         ids=["one-megabyte", "one-too-many", "override", "newline"])
def test_reject_reason__unbounded_or_unprintable_is_invalid_field_and_the_transfer_stays_reserved(world, reason):
    prepare = reserve(world)
    before = clearing_state(world)
    response = submit_decisions(world, "bank-b", rejects=[transfer_pb2.Reject(
        transfer_id=prepare.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_CLOSED, reason=reason)])
    assert [(r.result, r.state) for r in response.results] == [(rc.RESULT_CODE_INVALID_FIELD, 0)]
    assert_only_items_refused(world, before, kind="decisions", peer="bank-b",
                              refused={prepare.transfer_id: rc.RESULT_CODE_INVALID_FIELD})
    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert status.state == RESERVED


def test_reject_reason__exactly_at_its_bound_aborts(world):
    prepare = reserve(world)
    response = submit_decisions(world, "bank-b", rejects=[transfer_pb2.Reject(
        transfer_id=prepare.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_CLOSED,
        reason="é" * limits.reject_reason_length_max)])
    assert [r.result for r in response.results] == [rc.RESULT_CODE_OK]


@pytest.mark.parametrize("reason_code", [rc.RESULT_CODE_UNSPECIFIED, rc.RESULT_CODE_OK, 9_999],
                         ids=["unspecified", "ok", "undefined"])
def test_reject_reason_code__not_a_refusal_of_the_contract_is_invalid_field(world, reason_code):
    prepare = reserve(world)
    before = clearing_state(world)
    response = submit_decisions(world, "bank-b", rejects=[transfer_pb2.Reject(
        transfer_id=prepare.transfer_id, reason_code=reason_code, reason="no")])
    assert [r.result for r in response.results] == [rc.RESULT_CODE_INVALID_FIELD]
    assert_only_items_refused(world, before, kind="decisions", peer="bank-b",
                              refused={prepare.transfer_id: rc.RESULT_CODE_INVALID_FIELD})


def test_reconciliation__a_break_detail_with_controls_or_too_long_is_invalid_field_and_audited(world):
    for detail in ("statement \x1b[31mFORGED", "d" * (limits.break_detail_length_max + 1)):
        before = clearing_state(world)
        answer = settlement_pb2.Reconciliation(window_id=1, bank_id="bank-a", statement_sha256=bytes(32), breaks=[
            settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT, detail=detail)])
        code = reconcile_bytes(world, "bank-a", answer.SerializeToString(deterministic=True))
        assert code == rc.RESULT_CODE_INVALID_FIELD
        assert_nothing_changed_but_the_refusal(world, before, code=code, peer="bank-a")


# 3. Signing keys --------------------------------------------------------------------------------

@pytest.mark.parametrize("key_id", [
    "bank-a/" + "k" * (limits.key_name_length_max + 1), "bank-a/k\n2", "bank-a/k\u202e2", "bank-a/../k2",
    "bank-a/", "bank-a/k2/k3", "bank-a/ k2",
], ids=["too-long", "newline", "override", "dot-dot", "empty-name", "two-slashes", "space"])
def test_key_change__a_key_id_unbounded_or_ill_formed_is_invalid_field_and_audited(world, key_id):
    before = clearing_state(world)
    code = change_key(world, "bank-a", transfer_pb2.SigningKeyChange(
        bank_id="bank-a", key_id=key_id, public_key=public_key_of(pki.new_signing_key("bank-a/k2"))))
    assert code == rc.RESULT_CODE_INVALID_FIELD
    assert_nothing_changed_but_the_refusal(world, before, code=code, peer="bank-a")


@pytest.mark.parametrize("public_key", SMALL_ORDER[:3] + SMALL_ORDER[4:5] + NON_CANONICAL[:2] + ["00" * 31],
                         ids=["identity", "order-2", "order-4", "order-8", "identity-sign-set", "y-is-p-plus-1",
                              "31-bytes"])
def test_key_change__a_public_key_that_is_not_a_prime_order_point_is_invalid_field_and_audited(world, public_key):
    before = clearing_state(world)
    code = change_key(world, "bank-a", transfer_pb2.SigningKeyChange(
        bank_id="bank-a", key_id="bank-a/k2", public_key=bytes.fromhex(public_key)))
    assert code == rc.RESULT_CODE_INVALID_FIELD
    assert_nothing_changed_but_the_refusal(world, before, code=code, peer="bank-a")


def test_key_change__a_revoked_key_is_never_added_again_under_its_id_or_another(world):
    second = pki.new_signing_key("bank-a/k2")
    add = transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k2", public_key=public_key_of(second))
    assert change_key(world, "bank-a", add) == rc.RESULT_CODE_OK
    assert change_key(world, "bank-a", add) == rc.RESULT_CODE_EXISTS      # A retry before revocation.
    assert change_key(world, "bank-a", transfer_pb2.SigningKeyChange(
        bank_id="bank-a", key_id="bank-a/k2", revoke=True)) == rc.RESULT_CODE_OK
    for change in (add,                                                    # Its id and key again.
                   transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k2",   # Its id, a new key.
                                                 public_key=public_key_of(pki.new_signing_key("bank-a/k2"))),
                   transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k3",   # Its key, a new id.
                                                 public_key=public_key_of(second))):
        before = clearing_state(world)
        assert change_key(world, "bank-a", change) == rc.RESULT_CODE_KEY_REVOKED
        assert_nothing_changed_but_the_refusal(world, before, code=rc.RESULT_CODE_KEY_REVOKED, peer="bank-a")
    # And the revoked key still signs nothing.
    refused = submit_prepares_with(world, "bank-a", second)
    assert refused.result == rc.RESULT_CODE_UNKNOWN_KEY


def submit_prepares_with(world, bank_id: str, key) -> clearing_pb2.SubmitPreparesResponse:
    envelope = key.sign(transfer_pb2.PrepareBatch(prepares=[make_prepare(bank_id, "bank-b", 100, now_ms=world.clock())]))
    return world.stub(bank_id).SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))


def test_key_change__another_banks_public_key_is_refused_so_no_one_can_sign_as_two(world):
    before = clearing_state(world)
    code = change_key(world, "bank-a", transfer_pb2.SigningKeyChange(
        bank_id="bank-a", key_id="bank-a/k9", public_key=public_key_of(world.banks["bank-b"].signing_key)))
    assert code == rc.RESULT_CODE_INVALID_FIELD
    assert_nothing_changed_but_the_refusal(world, before, code=code, peer="bank-a")


@pytest.mark.parametrize("change, code", [
    (transfer_pb2.SigningKeyChange(bank_id="bank-b", key_id="bank-b/k2", revoke=True), rc.RESULT_CODE_FORBIDDEN),
    (transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k1", revoke=True), rc.RESULT_CODE_FORBIDDEN),
    (transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k7", revoke=True), rc.RESULT_CODE_UNKNOWN_KEY),
    (transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k7", revoke=True, public_key=b"k" * 32),
     rc.RESULT_CODE_INVALID_FIELD),
    (transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k1",
                                   public_key=public_key_of(pki.new_signing_key("x/k"))), rc.RESULT_CODE_MODIFIED_REQUEST),
], ids=["another-banks", "self-revocation", "unknown", "revocation-with-a-key", "other-key-same-id"])
def test_key_change__every_other_refusal_leaves_its_audit_entry_too(world, change, code):
    before = clearing_state(world)
    assert change_key(world, "bank-a", change) == code
    assert_nothing_changed_but_the_refusal(world, before, code=code, peer="bank-a")


def test_envelope__a_key_id_of_ten_thousand_characters_is_unknown_key_and_audited_bounded(world):
    before = clearing_state(world)
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(
        prepares=[make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())]))
    envelope.key_id = "bank-a/" + "k" * 10_000
    response = world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert response.result == rc.RESULT_CODE_UNKNOWN_KEY
    assert_nothing_changed_but_the_refusal(world, before, code=rc.RESULT_CODE_UNKNOWN_KEY, peer="bank-a")


# 4. Unknown fields: refused at every level, the whole envelope ---------------------------------

def prepare_bytes_of(world) -> bytes:
    return make_prepare("bank-a", "bank-b", 100, now_ms=world.clock()).SerializeToString(deterministic=True)


def reconciliation_bytes(*, break_extra: bytes = b"", extra: bytes = b"") -> bytes:
    found = settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE,
                                               transfer_id=str(uuid.uuid4()))
    answer = settlement_pb2.Reconciliation(window_id=1, bank_id="bank-a", statement_sha256=bytes(32))
    return (answer.SerializeToString(deterministic=True)
            + length_delimited(4, found.SerializeToString(deterministic=True) + break_extra) + extra)


UNKNOWN_FIELD_CASES = {
    "batch": lambda world: ("prepares", length_delimited(1, prepare_bytes_of(world)) + UNKNOWN_FIELD),
    "prepare": lambda world: ("prepares", length_delimited(1, prepare_bytes_of(world) + UNKNOWN_FIELD)),
    "prepare-money": lambda world: ("prepares", length_delimited(1, prepare_bytes_of(world) + length_delimited(
        5, money_pb2.Money(amount_minor=1, currency="EUR").SerializeToString() + UNKNOWN_FIELD))),
    "accept": lambda world: ("decisions", length_delimited(1, transfer_pb2.Accept(
        transfer_id=str(uuid.uuid4()), fulfilment=b"f" * 32).SerializeToString() + UNKNOWN_FIELD)),
    "reject": lambda world: ("decisions", length_delimited(2, transfer_pb2.Reject(
        transfer_id=str(uuid.uuid4()), reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN).SerializeToString()
        + UNKNOWN_FIELD)),
    "decision-batch": lambda world: ("decisions", length_delimited(2, transfer_pb2.Reject(
        transfer_id=str(uuid.uuid4()), reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN).SerializeToString())
        + UNKNOWN_FIELD),
    "reconciliation": lambda world: ("reconciliation", reconciliation_bytes(extra=UNKNOWN_FIELD)),
    "reconciliation-break": lambda world: ("reconciliation", reconciliation_bytes(break_extra=UNKNOWN_FIELD)),
    "key-change": lambda world: ("key", transfer_pb2.SigningKeyChange(
        bank_id="bank-a", key_id="bank-a/k2", public_key=public_key_of(pki.new_signing_key("bank-a/k2")))
        .SerializeToString(deterministic=True) + UNKNOWN_FIELD),
}


def submit_raw(world, bank_id: str, kind: str, payload: bytes) -> int:
    if kind == "prepares":
        return submit_prepare_bytes(world, bank_id, payload).result
    if kind == "decisions":
        return submit_decision_bytes(world, bank_id, payload).result
    if kind == "reconciliation":
        return reconcile_bytes(world, bank_id, payload)
    return change_key_bytes(world, bank_id, payload)


@pytest.mark.parametrize("case", list(UNKNOWN_FIELD_CASES))
def test_unknown_fields__at_any_level_of_any_signed_payload_refuse_the_envelope(world, case):
    prepare = reserve(world)   # Something a decision could have touched.
    before = clearing_state(world)
    kind, payload = UNKNOWN_FIELD_CASES[case](world)
    bank_id = "bank-b" if kind == "decisions" else "bank-a"
    assert submit_raw(world, bank_id, kind, payload) == rc.RESULT_CODE_MALFORMED_PAYLOAD
    assert_nothing_changed_but_the_refusal(world, before, code=rc.RESULT_CODE_MALFORMED_PAYLOAD, peer=bank_id)
    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert status.state == RESERVED


# 5. Exactly the bytes that were signed --------------------------------------------------------

def test_signed_bytes__a_field_encoded_twice_under_a_valid_signature_is_malformed_and_stores_nothing(world):
    before = clearing_state(world)
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    # payee_account twice: a parser keeps the last, so the signature covers two different accounts.
    doubled = prepare.SerializeToString(deterministic=True) + length_delimited(4, b"acct-2")
    assert transfer_pb2.Prepare.FromString(doubled).payee_account == "acct-2"
    response = submit_prepare_bytes(world, "bank-a", length_delimited(1, doubled))
    assert (response.result, list(response.results)) == (rc.RESULT_CODE_MALFORMED_PAYLOAD, [])
    assert_nothing_changed_but_the_refusal(world, before, code=rc.RESULT_CODE_MALFORMED_PAYLOAD, peer="bank-a")


@pytest.mark.parametrize("encoding", ["default-written-out", "out-of-order", "long-varint-length"])
def test_signed_bytes__another_encoding_of_a_sound_prepare_is_malformed(world, encoding):
    before = clearing_state(world)
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    canonical = prepare.SerializeToString(deterministic=True)
    if encoding == "default-written-out":   # reference = "" written out, where canonical leaves it out.
        prepare.reference = ""
        item = prepare.SerializeToString(deterministic=True) + b"\x42\x00"
    elif encoding == "out-of-order":
        item = canonical[len(length_delimited(1, prepare.transfer_id.encode())):] + length_delimited(
            1, prepare.transfer_id.encode())
    else:
        item = canonical
    payload = length_delimited(1, item) if encoding != "long-varint-length" else (
        b"\x0a" + bytes([len(item) & 0x7F | 0x80, len(item) >> 7 | 0x80, 0x00]) + item)
    assert transfer_pb2.PrepareBatch.FromString(payload).prepares[0] == prepare
    response = submit_prepare_bytes(world, "bank-a", payload)
    assert response.result == rc.RESULT_CODE_MALFORMED_PAYLOAD
    assert_nothing_changed_but_the_refusal(world, before, code=rc.RESULT_CODE_MALFORMED_PAYLOAD, peer="bank-a")


def test_signed_bytes__the_clearing_stores_and_forwards_each_prepare_exactly_as_signed(world):
    prepares = [make_prepare("bank-a", "bank-b", 100 + index, now_ms=world.clock()) for index in range(3)]
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(prepares=prepares))
    response = world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert [r.result for r in response.results] == [rc.RESULT_CODE_OK] * 3
    with world.clearing.store.read() as connection:
        stored = dict(connection.execute(sa.select(transfers.c.transfer_id, transfers.c.prepare_bytes)).all())
    [delivered] = next_deliveries(world.stub("bank-b"), after_sequence=ADMITTED, count=1)
    forwarded = {n.prepare.transfer_id: n.prepare.SerializeToString(deterministic=True)
                 for n in transfer_pb2.NoticeBatch.FromString(delivered.envelope.payload).notices}
    for prepare in prepares:
        signed_item = length_delimited(1, stored[prepare.transfer_id])
        assert signed_item in envelope.payload          # The very bytes the payer signed,
        assert forwarded[prepare.transfer_id] == stored[prepare.transfer_id]   # and the payee gets them.


# The node's side: its own API, what peers send it, and what the clearing sends it -------------

@pytest.fixture
def federation(world, request):
    federation = Federation(world)
    for bank_id in world.banks:
        federation.start_node(bank_id)
    yield federation
    closed_at_rest(request, federation)


def node_state(federation: Federation, bank_id: str) -> dict[str, list[tuple]]:
    tables = {"accounts": node_store.accounts, "journal_entries": node_store.journal_entries,
              "postings": node_store.postings, "outgoing_transfers": node_store.outgoing_transfers,
              "incoming_transfers": node_store.incoming_transfers, "merchants": market_store.merchants,
              "products": market_store.products, "buyer_orders": market_store.buyer_orders}
    with federation.nodes[bank_id].engine.connect() as connection:
        return {name: sorted(tuple(row) for row in connection.execute(sa.select(table))) for name, table in tables.items()}


def peer_channel(federation: Federation, caller: str, callee: str):
    channel = tls.secure_channel(f"127.0.0.1:{federation.world.banks[callee].node_port}",
                                 federation.world.banks[caller].tls, server=pki.Identity(callee, "bank"))
    federation.world._channels.append(channel)
    return channel


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_node_api__another_spelling_of_an_id_or_unprintable_text_is_invalid_field_everywhere(federation):
    federation.open_account("bank-a", "alice", deposit_minor=10_000)
    federation.open_account("bank-b", "bob")
    before = {bank_id: node_state(federation, bank_id) for bank_id in ("bank-a", "bank-b")}
    clearing_before = clearing_state(federation.world)
    teller, market = federation.teller("bank-a"), federation.market("bank-a")
    upper = str(uuid.uuid4()).upper()
    _, response = federation.send("bank-a", "alice", "bank-b", "bob", 100, transfer_id=upper)
    assert response.result == rc.RESULT_CODE_INVALID_FIELD
    _, response = federation.send("bank-a", "alice", "bank-b", "bob", 100, transfer_id=str(uuid.UUID(int=0)))
    assert response.result == rc.RESULT_CODE_INVALID_FIELD
    bidi = teller.SendTransfer(node_pb2.SendTransferRequest(
        transfer_id=str(uuid.uuid4()), from_account_id="alice", payee_bank_id="bank-b", payee_account_id="bob",
        amount=money_pb2.Money(amount_minor=100, currency=CURRENCY), reference=BIDI_REFERENCE))
    assert bidi.result == rc.RESULT_CODE_INVALID_FIELD
    deposit = teller.Deposit(node_pb2.DepositRequest(deposit_id="D-1", account_id="alice",
                                                     amount=money_pb2.Money(amount_minor=1, currency=CURRENCY)))
    assert deposit.result == rc.RESULT_CODE_INVALID_FIELD
    holder = teller.OpenAccount(node_pb2.OpenAccountRequest(account_id="mallory", holder_name="Mallory\u202eyrolla M",
                                                            currency=CURRENCY))
    assert holder.result == rc.RESULT_CODE_INVALID_FIELD
    checkout = market.Checkout(mp.CheckoutRequest(checkout_id=str(uuid.uuid4()).upper(), buyer_account_id="alice",
                                                  items=[mp.CartItem(seller_bank_id="bank-b", merchant_id="m", sku="s",
                                                                     quantity=1, unit_price=money_pb2.Money(
                                                                         amount_minor=1, currency=CURRENCY))]))
    assert checkout.result == rc.RESULT_CODE_INVALID_FIELD
    merchant = market.OnboardMerchant(mp.OnboardMerchantRequest(
        merchant_id="shop", legal_name="Shop\u2066 Ltd", contact="a@example.test", settlement_account_id="alice"))
    assert merchant.result == rc.RESULT_CODE_INVALID_FIELD
    assert {bank_id: node_state(federation, bank_id) for bank_id in ("bank-a", "bank-b")} == before
    assert clearing_state(federation.world) == clearing_before


@SQLITE_ONLY
def test_peer_calls__another_spelling_of_an_id_or_unprintable_text_from_a_peer_is_invalid_field(federation):
    federation.open_account("bank-b", "bob")
    before = node_state(federation, "bank-b")
    quotes = node_pb2_grpc.PeerServiceStub(peer_channel(federation, "bank-a", "bank-b"))
    items = [node_pb2.QuoteItem(transfer_id=transfer_id, payee_account="bob",
                                amount=money_pb2.Money(amount_minor=100, currency=CURRENCY))
             for transfer_id in (str(uuid.uuid4()).upper(), str(uuid.UUID(int=0)), str(uuid.uuid4()))]
    answer = quotes.QuoteTransfers(node_pb2.QuoteTransfersRequest(items=items))
    assert [r.result for r in answer.results] == [rc.RESULT_CODE_INVALID_FIELD, rc.RESULT_CODE_INVALID_FIELD,
                                                  rc.RESULT_CODE_OK]
    assert [r.condition for r in answer.results][:2] == [b"", b""]
    orders = marketplace_pb2_grpc.MarketplacePeerServiceStub(peer_channel(federation, "bank-a", "bank-b"))
    for event in (mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=str(uuid.uuid4()).upper(),
                                             kind=mp.ORDER_EVENT_KIND_COMPLETED),
                  mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=str(uuid.uuid4()),
                                             kind=mp.ORDER_EVENT_KIND_CANCELLED, reason="late\u202e")):
        assert orders.NotifyOrderEvent(event).result == rc.RESULT_CODE_INVALID_FIELD
    assert node_state(federation, "bank-b") == before


@SQLITE_ONLY
def test_search__a_peers_product_with_bidirectional_or_control_text_is_not_shown_to_buyers(federation):
    """A hostile member's node answers searches with whatever its database holds: the buyer's
    node shows only products whose text follows the rules its own merchants follow."""
    federation.open_account("bank-c", "pots-settle")
    market_c = federation.market("bank-c")
    assert market_c.OnboardMerchant(mp.OnboardMerchantRequest(
        merchant_id="pots", legal_name="Pots", contact="p@example.test",
        settlement_account_id="pots-settle")).result == rc.RESULT_CODE_OK
    assert market_c.UpsertProduct(mp.UpsertProductRequest(
        merchant_id="pots", sku="mug-1", title="Honest mug", description="", stock=5,
        price=money_pb2.Money(amount_minor=500, currency=CURRENCY))).result == rc.RESULT_CODE_OK
    federation.open_account("bank-b", "spoof-settle")
    now_ms = int(time.time() * 1000)
    with federation.nodes["bank-b"].engine.begin() as connection:   # Written past bank b's own API.
        connection.execute(market_store.merchants.insert().values(
            merchant_id="spoof", legal_name="Spoof", contact="s@example.test", settlement_account_id="spoof-settle",
            status=market_store.ACTIVE, created_at_unix_ms=now_ms))
        connection.execute(market_store.products.insert(), [dict(  # Numbered and worded: in its search index.
            merchant_id="spoof", sku=sku, title=title, description="", price_minor=1, currency=CURRENCY,
            stock_on_hand=5, stock_reserved=0, updated_at_unix_ms=now_ms, product_number=1_000 + number,
            **search_text.search_columns(title=title, description="", sku=sku)) for number, (sku, title) in enumerate((
                ("mug-2", "mug \u202e00.005 EUR"), ("mug-3", "mug\nPAID"), ("mug-4", "mug " + "x" * 200)))])
    found = federation.market("bank-a").Search(mp.SearchRequest(query="mug", page_size=10))
    assert [(p.bank_id, p.title) for p in found.products] == [("bank-c", "Honest mug")]
    assert list(found.banks_not_answering) == []


def test_payee_node__a_prepare_the_clearing_should_have_refused_is_rejected_and_its_text_never_booked(tmp_path):
    """Defence in depth: were a clearing to let one through, the payee's node checks the prepare
    with the same rule (fedmall.wellformed), rejects it with INVALID_FIELD and keeps no text of it
    in its books (the signed delivery itself is kept, as every delivery is)."""
    bank_b = node_harness.Bank(tmp_path, "bank-b", node_harness.FakeQuoter())
    bank_b.accounts.open_account(account_id="bob", holder_name="Bob", currency="EUR")
    try:
        books = bank_b.balance("bob"), bank_b.postings_count()
        handler = node_harness.consumer(bank_b, "bank-b")
        sound = node_harness.incoming_prepare(None, transfer_id=str(uuid.uuid4()))
        upper = node_harness.incoming_prepare(None, transfer_id=str(uuid.uuid4()).upper())
        bidi = node_harness.incoming_prepare(None, transfer_id=str(uuid.uuid4()))
        bidi.reference = BIDI_REFERENCE
        handler.handle(node_harness.delivery(1, "bank-b", [node_harness.notice(p, RESERVED)
                                                            for p in (sound, upper, bidi)]))
        decisions = bank_b.notices.pending_decisions(limit=10)
        assert [a.transfer_id for a in decisions.accepts] == [sound.transfer_id]
        assert sorted((r.transfer_id, r.reason_code) for r in decisions.rejects) == sorted(
            [(upper.transfer_id, rc.RESULT_CODE_INVALID_FIELD), (bidi.transfer_id, rc.RESULT_CODE_INVALID_FIELD)])
        with bank_b.engine.connect() as connection:
            references = dict(connection.execute(sa.select(node_store.incoming_transfers.c.transfer_id,
                                                           node_store.incoming_transfers.c.reference)).all())
        assert references[bidi.transfer_id] == "" and "\u202e" not in "".join(references.values())
        assert (bank_b.balance("bob"), bank_b.postings_count()) == books and bank_b.books_problems() == []
    finally:
        bank_b.engine.dispose()


def test_payee_node__a_statement_page_with_a_reference_that_breaks_the_rules_is_refused_whole(tmp_path):
    bank_a = node_harness.Bank(tmp_path, "bank-a", node_harness.FakeQuoter())
    try:
        entry = settlement_pb2.StatementEntry(
            transfer_id=str(uuid.uuid4()), direction=settlement_pb2.ENTRY_DIRECTION_CREDIT,
            counterparty_bank_id="bank-b", amount=money_pb2.Money(amount_minor=1, currency="EUR"),
            reference="ok\x1b[8m hidden")
        page = settlement_pb2.Statement(window_id=1, bank_id="bank-a", page_index=0, page_count=1, entries=[entry],
                                        entry_count=1)
        delivery = delivery_kinds.delivery(1, node_harness.CLEARING_KEY.sign(page))
        with pytest.raises(node_harness.DeliveryRefused):
            node_harness.consumer(bank_a, "bank-a").handle(delivery)
        assert bank_a.notices.cursor() == 0
    finally:
        bank_a.engine.dispose()


def test_audit__a_refusal_entry_keeps_what_was_sent_without_letting_it_grow_the_log(world):
    """The refusal entry of a large refused envelope keeps its hash and size, not its bytes."""
    before = clearing_state(world)
    prepares = [make_prepare("bank-a", "bank-b", 1, now_ms=world.clock()) for _ in range(limits.prepares_per_batch_max)]
    payload = transfer_pb2.PrepareBatch(prepares=prepares).SerializeToString(deterministic=True) + UNKNOWN_FIELD
    assert len(payload) > limits.audit_refusal_bytes_max
    assert submit_prepare_bytes(world, "bank-a", payload).result == rc.RESULT_CODE_MALFORMED_PAYLOAD
    assert_nothing_changed_but_the_refusal(world, before, code=rc.RESULT_CODE_MALFORMED_PAYLOAD, peer="bank-a")
    [entry] = new_audit_entries(world, before)
    document = json.loads(entry.body)
    assert "envelope" not in document and document["envelope_bytes"] > len(payload)
    assert len(document["envelope_sha256"]) == 64
