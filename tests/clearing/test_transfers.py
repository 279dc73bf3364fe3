"""The clearing's two-phase transfer over real mTLS gRPC, on SQLite and PostgreSQL.

Golden path first, then every refusal: each asserts the result code and that
positions, reservations and states did not change.
"""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from fedmall.envelope import open_envelope, VerificationKey
from fedmall import identifiers, limits, pki
from fedmall.v1 import clearing_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing.store import transfers
from tests.support.federation import fulfilment_for, make_prepare, next_deliveries

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED


def submit_prepares(world, bank_id: str, *prepares, key=None):
    envelope = (key or world.banks[bank_id].signing_key).sign(transfer_pb2.PrepareBatch(prepares=prepares))
    return world.stub(bank_id).SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))


def submit_decisions(world, bank_id: str, *, accepts=(), rejects=(), key=None):
    envelope = (key or world.banks[bank_id].signing_key).sign(
        transfer_pb2.DecisionBatch(accepts=accepts, rejects=rejects))
    return world.stub(bank_id).SubmitDecisions(clearing_pb2.SubmitDecisionsRequest(envelope=envelope))


def accept(transfer_id: str, fulfilment: bytes | None = None) -> transfer_pb2.Accept:
    return transfer_pb2.Accept(transfer_id=transfer_id, fulfilment=fulfilment or fulfilment_for(transfer_id))


def positions(world) -> dict[str, tuple[int, int]]:
    return {b: (world.participant(b).position_minor, world.participant(b).reserved_minor) for b in world.banks}


def clearing_key(world) -> VerificationKey:
    public_key = pki.load_public_key_pem((world.home / "clearing.pub").read_bytes())
    return VerificationKey(key_id="clearing/k1", owner="clearing", public_key=public_key)


# Delivery 1 on every bank's stream: the funds in of the liquidity it was admitted with.
ADMITTED = 1


def notices(world, bank_id: str, *, after_sequence: int, count: int) -> list[transfer_pb2.TransferNotice]:
    key = clearing_key(world)
    found = []
    for delivery in next_deliveries(world.stub(bank_id), after_sequence=after_sequence, count=count):
        batch = open_envelope(delivery.envelope, transfer_pb2.NoticeBatch, expected_signer="clearing",
                              keys=lambda key_id: key if key_id == key.key_id else None)
        assert batch.recipient_bank_id == bank_id
        found.extend(batch.notices)
    return found


def assert_positions_sum_to_zero(world) -> None:
    assert sum(world.participant(b).position_minor for b in world.banks) == 0


def test_golden_path__prepare_accept_commit_moves_positions(world):
    prepare = make_prepare("bank-a", "bank-b", 12_345, now_ms=world.clock())

    response = submit_prepares(world, "bank-a", prepare)
    assert response.result == rc.RESULT_CODE_OK
    assert [(r.result, r.state) for r in response.results] == [(rc.RESULT_CODE_OK, RESERVED)]
    assert positions(world)["bank-a"] == (0, 12_345)
    assert positions(world)["bank-b"] == (0, 0)

    [reserved] = notices(world, "bank-b", after_sequence=ADMITTED, count=1)
    assert reserved.state == RESERVED and reserved.prepare == prepare

    response = submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id)])
    assert [(r.result, r.state) for r in response.results] == [(rc.RESULT_CODE_OK, COMMITTED)]
    assert positions(world) == {"bank-a": (12_345, 0), "bank-b": (-12_345, 0), "bank-c": (0, 0)}
    assert_positions_sum_to_zero(world)

    [payer_notice] = notices(world, "bank-a", after_sequence=ADMITTED, count=1)
    assert payer_notice.state == COMMITTED and payer_notice.fulfilment == fulfilment_for(prepare.transfer_id)
    [_, payee_notice] = notices(world, "bank-b", after_sequence=ADMITTED, count=2)
    assert payee_notice.state == COMMITTED

    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert status.result == rc.RESULT_CODE_OK and status.state == COMMITTED
    hidden = world.stub("bank-c").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert hidden.result == rc.RESULT_CODE_TRANSFER_NOT_FOUND


def test_batch__one_result_per_prepare_in_order(world):
    now_ms = world.clock()
    good = make_prepare("bank-a", "bank-b", 100, now_ms=now_ms)
    to_self = make_prepare("bank-a", "bank-a", 100, now_ms=now_ms)
    too_big = make_prepare("bank-a", "bank-c", 10**9, now_ms=now_ms)
    response = submit_prepares(world, "bank-a", good, to_self, too_big)
    assert [r.result for r in response.results] == [
        rc.RESULT_CODE_OK, rc.RESULT_CODE_PAYER_IS_PAYEE, rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED]
    assert positions(world)["bank-a"] == (0, 100)


def test_prepare__same_id_same_content_is_exists(world):
    prepare = make_prepare("bank-a", "bank-b", 500, now_ms=world.clock())
    submit_prepares(world, "bank-a", prepare)
    again = submit_prepares(world, "bank-a", prepare)
    assert [(r.result, r.state) for r in again.results] == [(rc.RESULT_CODE_EXISTS, RESERVED)]
    assert positions(world)["bank-a"] == (0, 500)


def test_prepare__same_id_other_amount_is_modified_request(world):
    prepare = make_prepare("bank-a", "bank-b", 500, now_ms=world.clock())
    submit_prepares(world, "bank-a", prepare)
    modified = transfer_pb2.Prepare()
    modified.CopyFrom(prepare)
    modified.amount.amount_minor = 501
    response = submit_prepares(world, "bank-a", modified)
    assert [r.result for r in response.results] == [rc.RESULT_CODE_MODIFIED_REQUEST]
    assert positions(world)["bank-a"] == (0, 500)


@pytest.mark.parametrize("change, code", [
    (lambda p: p.amount.__setattr__("amount_minor", 0), rc.RESULT_CODE_INVALID_AMOUNT),
    (lambda p: p.amount.__setattr__("amount_minor", -5), rc.RESULT_CODE_INVALID_AMOUNT),
    (lambda p: p.amount.__setattr__("currency", "XXX"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (lambda p: p.amount.__setattr__("currency", "USD"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (lambda p: p.__setattr__("payee_bank_id", "bank-zz"), rc.RESULT_CODE_UNKNOWN_PARTICIPANT),
    (lambda p: p.__setattr__("payee_bank_id", "bank-a"), rc.RESULT_CODE_PAYER_IS_PAYEE),
    (lambda p: p.__setattr__("payer_bank_id", "bank-c"), rc.RESULT_CODE_PAYER_NOT_SIGNER),
    (lambda p: p.__setattr__("transfer_id", "not-a-uuid"), rc.RESULT_CODE_INVALID_FIELD),
    (lambda p: p.__setattr__("payee_account", ""), rc.RESULT_CODE_INVALID_FIELD),
    (lambda p: p.__setattr__("reference", "x" * 141), rc.RESULT_CODE_INVALID_FIELD),
    (lambda p: p.__setattr__("condition", b"short"), rc.RESULT_CODE_INVALID_CONDITION),
    (lambda p: p.__setattr__("expires_at_unix_ms", p.expires_at_unix_ms - 60_000), rc.RESULT_CODE_INVALID_EXPIRY),
    (lambda p: p.__setattr__("expires_at_unix_ms", p.expires_at_unix_ms + 2 * 86_400_000), rc.RESULT_CODE_INVALID_EXPIRY),
    (lambda p: p.amount.__setattr__("amount_minor", 2**63 - 1), rc.RESULT_CODE_INVALID_AMOUNT),
    (lambda p: p.amount.__setattr__("amount_minor", limits.amount_minor_max + 1), rc.RESULT_CODE_INVALID_AMOUNT),
    (lambda p: p.amount.__setattr__("amount_minor", limits.amount_minor_max), rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED),
])
def test_prepare__bad_input_is_refused_and_changes_nothing(world, change, code):
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    change(prepare)
    before = positions(world)
    response = submit_prepares(world, "bank-a", prepare)
    assert [r.result for r in response.results] == [code]
    assert positions(world) == before
    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert status.result == (rc.RESULT_CODE_TRANSFER_NOT_FOUND if identifiers.is_uuid(prepare.transfer_id)
                             else rc.RESULT_CODE_INVALID_FIELD)


def test_prepare__over_net_debit_cap_is_refused(world):
    # bank-a: cap 1000.00 under liquidity 2000.00, so the cap binds.
    response = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 100_001, now_ms=world.clock()))
    assert [r.result for r in response.results] == [rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED]
    assert positions(world)["bank-a"] == (0, 0)


def test_prepare__over_liquidity_is_refused(world):
    # bank-c: cap 800.00 above liquidity 500.00, so the liquidity binds.
    response = submit_prepares(world, "bank-c", make_prepare("bank-c", "bank-a", 50_001, now_ms=world.clock()))
    assert [r.result for r in response.results] == [rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY]
    assert positions(world)["bank-c"] == (0, 0)


def test_prepare__suspended_payee_or_payer_is_refused(world):
    world.clearing.registry.set_status("bank-b", "suspended")
    response = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 100, now_ms=world.clock()))
    assert [r.result for r in response.results] == [rc.RESULT_CODE_PARTICIPANT_SUSPENDED]
    world.clearing.registry.set_status("bank-b", "active")
    world.clearing.registry.set_status("bank-a", "suspended")   # A suspended payer is refused the whole call.
    response = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 100, now_ms=world.clock()))
    assert (response.result, list(response.results)) == (rc.RESULT_CODE_PARTICIPANT_SUSPENDED, [])
    assert positions(world)["bank-a"] == (0, 0)


def test_envelope__signed_by_another_bank_is_signer_not_peer(world):
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    response = submit_prepares(world, "bank-a", prepare, key=world.banks["bank-c"].signing_key)
    assert response.result == rc.RESULT_CODE_SIGNER_NOT_PEER and not response.results
    assert positions(world)["bank-a"] == (0, 0)


def test_envelope__unknown_key_id_is_refused(world):
    stranger = pki.new_signing_key("bank-a/k9")
    response = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 100, now_ms=world.clock()), key=stranger)
    assert response.result == rc.RESULT_CODE_UNKNOWN_KEY


def test_envelope__wrong_signature_is_refused_and_audited(world):
    envelope = world.banks["bank-a"].signing_key.sign(
        transfer_pb2.PrepareBatch(prepares=[make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())]))
    envelope.signature = bytes(64)
    response = world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert response.result == rc.RESULT_CODE_INVALID_SIGNATURE
    assert positions(world)["bank-a"] == (0, 0)
    from clearing import audit
    with world.clearing.store.read() as connection:
        report = audit.verify_chain(connection)
    assert not report.problems
    import sqlalchemy as sa
    from clearing.store import audit_log
    with world.clearing.store.read() as connection:
        kinds = connection.execute(sa.select(audit_log.c.kind).order_by(audit_log.c.sequence)).scalars().all()
    assert kinds[-1] == "refused"


def test_envelope__malformed_payload_bytes_are_refused(world):
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch())
    envelope.payload = b"\xff\xff\xff not protobuf"
    from fedmall.envelope import pae
    envelope.signature = world.banks["bank-a"].signing_key.private_key.sign(pae(envelope.payload_type, envelope.payload))
    response = world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert response.result == rc.RESULT_CODE_MALFORMED_PAYLOAD


def test_envelope__wrong_payload_type_is_refused(world):
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.DecisionBatch(accepts=[accept(str(uuid.uuid4()))]))
    response = world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert response.result == rc.RESULT_CODE_MALFORMED_PAYLOAD


def test_envelope__oversize_batch_is_refused(world):
    from fedmall import limits
    now_ms = world.clock()
    prepares = [make_prepare("bank-a", "bank-b", 1, now_ms=now_ms) for _ in range(limits.prepares_per_batch_max + 1)]
    response = submit_prepares(world, "bank-a", *prepares)
    assert response.result == rc.RESULT_CODE_BATCH_TOO_LARGE
    assert positions(world)["bank-a"] == (0, 0)


def test_envelope__oversize_bytes_are_refused(world):
    from fedmall import limits
    envelope = world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch())
    envelope.payload = bytes(limits.envelope_bytes_max + 1)
    response = world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert response.result == rc.RESULT_CODE_ENVELOPE_TOO_LARGE


def reserve(world, amount_minor: int = 1_000, *, expires_in_ms: int = 30_000):
    prepare = make_prepare("bank-a", "bank-b", amount_minor, now_ms=world.clock(), expires_in_ms=expires_in_ms)
    assert submit_prepares(world, "bank-a", prepare).results[0].result == rc.RESULT_CODE_OK
    return prepare


def test_accept__wrong_fulfilment_is_refused_and_stays_reserved(world):
    prepare = reserve(world)
    response = submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id, b"\x00" * 32)])
    assert [(r.result, r.state) for r in response.results] == [(rc.RESULT_CODE_INVALID_FULFILMENT, RESERVED)]
    assert positions(world)["bank-a"] == (0, 1_000)


def test_accept__by_a_bank_that_is_not_the_payee_is_refused(world):
    prepare = reserve(world)
    response = submit_decisions(world, "bank-c", accepts=[accept(prepare.transfer_id)])
    assert [r.result for r in response.results] == [rc.RESULT_CODE_TRANSFER_NOT_FOUND]   # As for no transfer.
    response = submit_decisions(world, "bank-a", accepts=[accept(prepare.transfer_id)])
    assert [r.result for r in response.results] == [rc.RESULT_CODE_NOT_PAYEE]           # Its payer knows it.
    assert positions(world)["bank-a"] == (0, 1_000)


def test_accept__unknown_transfer_is_not_found(world):
    response = submit_decisions(world, "bank-b", accepts=[accept(str(uuid.uuid4()))])
    assert [r.result for r in response.results] == [rc.RESULT_CODE_TRANSFER_NOT_FOUND]


def test_accept__after_expiry_aborts_with_expired(world):
    prepare = reserve(world, expires_in_ms=2_000)
    world.clock.advance(ms=3_000)
    response = submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id)])
    assert [(r.result, r.state) for r in response.results] == [(rc.RESULT_CODE_EXPIRED, ABORTED)]
    assert positions(world) == {"bank-a": (0, 0), "bank-b": (0, 0), "bank-c": (0, 0)}


def test_accept__second_accept_is_exists_and_reject_after_commit_is_invalid_state(world):
    prepare = reserve(world)
    submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id)])
    committed = positions(world)
    again = submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id)])
    assert [(r.result, r.state) for r in again.results] == [(rc.RESULT_CODE_EXISTS, COMMITTED)]
    late_reject = submit_decisions(world, "bank-b", rejects=[transfer_pb2.Reject(
        transfer_id=prepare.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN)])
    assert [(r.result, r.state) for r in late_reject.results] == [(rc.RESULT_CODE_INVALID_STATE, COMMITTED)]
    other_fulfilment = submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id, b"\x01" * 32)])
    assert [r.result for r in other_fulfilment.results] == [rc.RESULT_CODE_INVALID_STATE]
    assert positions(world) == committed


def test_reject__aborts_and_releases_the_reservation(world):
    prepare = reserve(world)
    response = submit_decisions(world, "bank-b", rejects=[transfer_pb2.Reject(
        transfer_id=prepare.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN, reason="no such account")])
    assert [(r.result, r.state) for r in response.results] == [(rc.RESULT_CODE_OK, ABORTED)]
    assert positions(world)["bank-a"] == (0, 0)
    [notice] = notices(world, "bank-a", after_sequence=ADMITTED, count=1)
    assert notice.state == ABORTED and notice.result == rc.RESULT_CODE_PAYEE_REJECTED
    assert (notice.payee_reason_code, notice.payee_reason) == (rc.RESULT_CODE_ACCOUNT_UNKNOWN, "no such account")
    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert (status.abort_reason, status.payee_reason_code, status.payee_reason) == (
        rc.RESULT_CODE_PAYEE_REJECTED, rc.RESULT_CODE_ACCOUNT_UNKNOWN, "no such account")
    late_accept = submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id)])
    assert [r.result for r in late_accept.results] == [rc.RESULT_CODE_INVALID_STATE]


def test_reject__the_same_reject_again_is_exists_another_reason_is_invalid_state(world):
    prepare = reserve(world)
    reject = transfer_pb2.Reject(transfer_id=prepare.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_CLOSED,
                                 reason="closed on request")
    assert submit_decisions(world, "bank-b", rejects=[reject]).results[0].result == rc.RESULT_CODE_OK
    assert submit_decisions(world, "bank-b", rejects=[reject]).results[0].result == rc.RESULT_CODE_EXISTS
    other = transfer_pb2.Reject(transfer_id=prepare.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_CLOSED,
                                reason="something else")
    assert submit_decisions(world, "bank-b", rejects=[other]).results[0].result == rc.RESULT_CODE_INVALID_STATE
    [notice] = notices(world, "bank-a", after_sequence=ADMITTED, count=1)
    assert notice.payee_reason == "closed on request"


def test_expiry__sweeper_aborts_reserved_transfers_and_tells_both_banks(world):
    prepare = reserve(world, expires_in_ms=2_000)
    world.clock.advance(ms=3_000)
    assert world.clearing.transfers.expire_due() == 1
    assert positions(world)["bank-a"] == (0, 0)
    [notice] = notices(world, "bank-a", after_sequence=ADMITTED, count=1)
    assert notice.prepare.transfer_id == prepare.transfer_id
    assert notice.state == ABORTED and notice.result == rc.RESULT_CODE_EXPIRED
    assert notices(world, "bank-b", after_sequence=ADMITTED + 1, count=1)[0].state == ABORTED


def test_restart__reserved_prepares_survive_and_still_expire(world):
    prepare = reserve(world, expires_in_ms=2_000)
    world.restart()
    assert positions(world)["bank-a"] == (0, 1_000)
    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert status.state == RESERVED
    world.clock.advance(ms=3_000)
    from tests.support.federation import wait_until
    wait_until(lambda: positions(world)["bank-a"] == (0, 0))  # The restarted sweeper did it.
    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert (status.state, status.abort_reason) == (ABORTED, rc.RESULT_CODE_EXPIRED)


def test_stream__resumes_after_cursor_without_gaps(world):
    for _ in range(5):
        reserve(world, 10)
    first = next_deliveries(world.stub("bank-b"), after_sequence=0, count=6)
    assert [d.sequence for d in first] == [1, 2, 3, 4, 5, 6]
    resumed = next_deliveries(world.stub("bank-b"), after_sequence=4, count=2)
    assert [d.sequence for d in resumed] == [5, 6]


def test_prepare__fields_outside_the_contract_refuse_the_whole_envelope(world):
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    padded = transfer_pb2.Prepare()
    padded.MergeFromString(prepare.SerializeToString() + b"\xfa\x06\x03abc")  # Field 111, unknown.
    assert padded.ByteSize() > prepare.ByteSize()
    sound = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    response = submit_prepares(world, "bank-a", sound, padded)
    assert (response.result, list(response.results)) == (rc.RESULT_CODE_MALFORMED_PAYLOAD, [])
    assert positions(world)["bank-a"] == (0, 0)


def test_prepare__another_banks_transfer_id_reveals_nothing(world):
    prepare = reserve(world)
    copy = make_prepare("bank-c", "bank-b", 1_000, now_ms=world.clock(), transfer_id=prepare.transfer_id)
    [result] = submit_prepares(world, "bank-c", copy).results
    assert (result.result, result.state) == (rc.RESULT_CODE_MODIFIED_REQUEST, transfer_pb2.TRANSFER_STATE_UNSPECIFIED)


def test_stream__a_new_stream_for_the_same_bank_ends_the_old_one(world):
    old = world.stub("bank-b").StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=ADMITTED),
                                                timeout=10)
    reserve(world, 10)
    assert next(old).deliveries[0].sequence == ADMITTED + 1
    assert [d.sequence for d in next_deliveries(world.stub("bank-b"), after_sequence=ADMITTED, count=1)] == [2]
    assert list(old) == []  # The replaced stream ends cleanly instead of waiting for its deadline.


# --- UETRs and returns ------------------------------------------------------------------


def stored(world, transfer_id: str):
    with world.clearing.store.read() as connection:
        return connection.execute(sa.select(transfers.c.uetr, transfers.c.original_transfer_id, transfers.c.state)
                                  .where(transfers.c.transfer_id == transfer_id)).one()


def paid(world, payer: str, payee: str, amount_minor: int) -> transfer_pb2.Prepare:
    prepare = make_prepare(payer, payee, amount_minor, now_ms=world.clock())
    assert submit_prepares(world, payer, prepare).results[0].result == rc.RESULT_CODE_OK
    assert submit_decisions(world, payee, accepts=[accept(prepare.transfer_id)]).results[0].result == rc.RESULT_CODE_OK
    return prepare


def test_prepare__the_uetr_is_stored_and_one_without_is_refused_and_changes_nothing(world):
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    assert submit_prepares(world, "bank-a", prepare).results[0].result == rc.RESULT_CODE_OK
    assert stored(world, prepare.transfer_id).uetr == prepare.uetr
    bare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    bare.uetr = ""
    before = positions(world)
    assert submit_prepares(world, "bank-a", bare).results[0].result == rc.RESULT_CODE_INVALID_FIELD
    assert positions(world) == before


def test_return__back_along_a_committed_original_is_reserved_and_names_it(world):
    original = paid(world, "bank-a", "bank-b", 1_000)
    refund = make_prepare("bank-b", "bank-a", 400, now_ms=world.clock())
    refund.original_transfer_id = original.transfer_id
    assert submit_prepares(world, "bank-b", refund).results[0].result == rc.RESULT_CODE_OK
    row = stored(world, refund.transfer_id)
    assert (row.original_transfer_id, row.uetr) == (original.transfer_id, refund.uetr)


@pytest.mark.parametrize("payer, payee, amount_minor", [
    ("bank-a", "bank-b", 100),     # The original's own direction.
    ("bank-c", "bank-a", 100),     # A bank that was not paid by it.
    ("bank-b", "bank-a", 1_001),   # More than it paid.
])
def test_return__not_back_along_its_original_is_refused_and_changes_nothing(world, payer, payee, amount_minor):
    original = paid(world, "bank-a", "bank-b", 1_000)
    refund = make_prepare(payer, payee, amount_minor, now_ms=world.clock())
    refund.original_transfer_id = original.transfer_id
    before = positions(world)
    assert submit_prepares(world, payer, refund).results[0].result == rc.RESULT_CODE_RETURN_NOT_OF_ORIGINAL
    assert positions(world) == before


def test_return__of_a_transfer_not_committed_or_unknown_is_refused(world):
    reserved = make_prepare("bank-a", "bank-b", 1_000, now_ms=world.clock())
    assert submit_prepares(world, "bank-a", reserved).results[0].result == rc.RESULT_CODE_OK
    for original_id in (reserved.transfer_id, str(uuid.uuid4())):
        refund = make_prepare("bank-b", "bank-a", 100, now_ms=world.clock())
        refund.original_transfer_id = original_id
        assert submit_prepares(world, "bank-b", refund).results[0].result == rc.RESULT_CODE_RETURN_NOT_OF_ORIGINAL
