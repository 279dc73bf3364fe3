"""Messages that contradict what the clearing recorded (late, repeated, reordered, from the wrong
party), on SQLite and PostgreSQL: decisions and prepares for transfers already decided,
reconciliations for windows not awaiting them or from banks they do not concern, and
settlement steps out of turn. Each is answered with its result code, and no position,
reservation, liquidity, delivery, window, net or stored answer moves.

The cases tests/clearing/test_transfers.py and test_windows.py already hold (a second accept,
reject after commit, accept after a reject or past expiry, accept by a non-payee, settling an
open or settled window, another answer without withdrawing the first) are not repeated."""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from fedmall.v1 import clearing_pb2, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import transfers as clearing_transfers
from clearing.server import Clearing
from clearing.store import audit_log, participants, reconciliations, settlement_windows, transfers, window_nets

from tests.clearing.test_transfers import accept, reserve, submit_decisions, submit_prepares
from tests.clearing.test_windows import acknowledge_all, close, commit, refused
from tests.support.federation import make_prepare

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED
PAST_EXPIRY_MS = 31_000
DISPUTE = settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE, transfer_id="x")


@pytest.fixture
def world(world, monkeypatch):
    """The clearing without its own expiry sweeper and window scheduler: the tests run
    expire_due and issue themselves, so no background step lands inside a contradiction."""
    monkeypatch.setattr(Clearing, "_sweep", lambda self: None)
    monkeypatch.setattr(Clearing, "_schedule_windows", lambda self: None)
    world.restart()
    return world


def recorded(world, *, audit: bool = True) -> dict:
    """Everything a contradiction could move at the clearing. A decision batch is audited even
    when every item is refused, so the decision tests leave the audit log out."""
    with world.clearing.store.read() as connection:
        def rows(query):
            return [tuple(row) for row in connection.execute(query)]
        state = dict(
            participants=rows(sa.select(participants.c.bank_id, participants.c.position_minor,
                                        participants.c.reserved_minor, participants.c.liquidity_minor,
                                        participants.c.delivery_sequence).order_by(participants.c.bank_id)),
            transfers=rows(sa.select(transfers.c.transfer_id, transfers.c.state, transfers.c.result,
                                     transfers.c.window_id).order_by(transfers.c.transfer_id)),
            windows=rows(sa.select(settlement_windows.c.window_id, settlement_windows.c.state,
                                   settlement_windows.c.operator_reason).order_by(settlement_windows.c.window_id)),
            nets=rows(sa.select(window_nets.c.window_id, window_nets.c.bank_id, window_nets.c.net_minor)
                      .order_by(window_nets.c.window_id, window_nets.c.bank_id)),
            answers=rows(sa.select(reconciliations.c.window_id, reconciliations.c.bank_id, reconciliations.c.envelope)
                         .order_by(reconciliations.c.window_id, reconciliations.c.bank_id)))
        if audit:
            state["audit"] = connection.scalar(sa.select(sa.func.count()).select_from(audit_log))
    return state


def reject(transfer_id: str) -> transfer_pb2.Reject:
    return transfer_pb2.Reject(transfer_id=transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN)


def decide(world, bank_id: str, transfer_id: str, decision: str):
    if decision == "accept":
        return submit_decisions(world, bank_id, accepts=[accept(transfer_id)])
    return submit_decisions(world, bank_id, rejects=[reject(transfer_id)])


def transfer_in(world, outcome: str) -> transfer_pb2.Prepare:
    """A transfer of 10.00 from bank a to bank b, RESERVED or taken to its outcome."""
    prepare = reserve(world)   # Expires in 30 s.
    if outcome == "committed":
        assert decide(world, "bank-b", prepare.transfer_id, "accept").results[0].state == COMMITTED
    elif outcome == "rejected":
        assert decide(world, "bank-b", prepare.transfer_id, "reject").results[0].state == ABORTED
    elif outcome == "expired":
        world.clock.advance(ms=PAST_EXPIRY_MS)
        assert world.clearing.transfers.expire_due() == 1
    return prepare


# Decisions --------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome, decision, code", [
    ("expired", "reject", rc.RESULT_CODE_EXPIRED),    # The payee's reject came after the sweeper's abort.
    ("expired", "accept", rc.RESULT_CODE_EXPIRED),    # So did its accept: the money stays with the payer.
    ("rejected", "reject", rc.RESULT_CODE_EXISTS),    # The same reject again.
])
def test_decision__after_the_transfer_aborted_moves_nothing(world, outcome, decision, code):
    prepare = transfer_in(world, outcome)
    before = recorded(world, audit=False)
    [result] = decide(world, "bank-b", prepare.transfer_id, decision).results
    assert (result.result, result.state) == (code, ABORTED)
    assert recorded(world, audit=False) == before


def test_decision__a_reject_past_expiry_aborts_as_expired_not_as_rejected(world):
    """Late is late: the payer is told its transfer expired, whatever the payee decided."""
    prepare = transfer_in(world, "reserved")
    world.clock.advance(ms=PAST_EXPIRY_MS)
    [result] = decide(world, "bank-b", prepare.transfer_id, "reject").results
    assert (result.result, result.state) == (rc.RESULT_CODE_EXPIRED, ABORTED)
    status = world.stub("bank-a").GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
    assert (status.state, status.abort_reason) == (ABORTED, rc.RESULT_CODE_EXPIRED)
    assert world.participant("bank-a").reserved_minor == 0


@pytest.mark.parametrize("decider, decision, outcome, code", [
    ("bank-a", "accept", "reserved", rc.RESULT_CODE_NOT_PAYEE),   # The payer commits its own transfer.
    ("bank-a", "reject", "reserved", rc.RESULT_CODE_NOT_PAYEE),   # ...or takes it back.
    # A third bank aborts another bank's transfer, or decides one already decided: it is told
    # what it would be told of an id nobody used, so it learns nothing of it.
    ("bank-c", "reject", "reserved", rc.RESULT_CODE_TRANSFER_NOT_FOUND),
    ("bank-c", "accept", "committed", rc.RESULT_CODE_TRANSFER_NOT_FOUND),
    ("bank-c", "reject", "committed", rc.RESULT_CODE_TRANSFER_NOT_FOUND),
    ("bank-c", "reject", "expired", rc.RESULT_CODE_TRANSFER_NOT_FOUND),
])
def test_decision__for_a_transfer_of_another_payee_is_refused_and_moves_nothing(world, decider, decision, outcome,
                                                                                 code):
    prepare = transfer_in(world, outcome)
    before = recorded(world, audit=False)
    [result] = decide(world, decider, prepare.transfer_id, decision).results
    assert (result.result, result.state) == (code, transfer_pb2.TRANSFER_STATE_UNSPECIFIED)
    assert recorded(world, audit=False) == before


@pytest.mark.parametrize("accepts, rejects, answers, state", [
    (2, 0, [rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS], COMMITTED),
    (0, 2, [rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS], ABORTED),
    (1, 1, [rc.RESULT_CODE_OK, rc.RESULT_CODE_INVALID_STATE], COMMITTED),   # Both answers in one batch.
])
def test_decision__the_same_transfer_twice_in_one_batch_is_decided_once(world, accepts, rejects, answers, state):
    prepare = transfer_in(world, "reserved")
    sequence = world.participant("bank-a").delivery_sequence
    response = submit_decisions(world, "bank-b", accepts=[accept(prepare.transfer_id)] * accepts,
                                rejects=[reject(prepare.transfer_id)] * rejects)
    assert [(r.result, r.state) for r in response.results] == [(answers[0], state), (answers[1], state)]
    moved = 1_000 if state == COMMITTED else 0
    assert {b: (world.participant(b).position_minor, world.participant(b).reserved_minor) for b in world.banks} == {
        "bank-a": (moved, 0), "bank-b": (-moved, 0), "bank-c": (0, 0)}
    assert world.participant("bank-a").delivery_sequence == sequence + 1   # One outcome notice, not two.


# Prepares --------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome, state", [("committed", COMMITTED), ("rejected", ABORTED), ("expired", ABORTED)])
def test_prepare__resent_after_its_outcome_is_exists_and_reserves_nothing(world, outcome, state):
    prepare = transfer_in(world, outcome)
    before = recorded(world, audit=False)
    [result] = submit_prepares(world, "bank-a", prepare).results
    assert (result.result, result.state) == (rc.RESULT_CODE_EXISTS, state)
    assert recorded(world, audit=False) == before


def test_prepare__the_same_prepare_twice_in_one_batch_reserves_once(world):
    prepare = make_prepare("bank-a", "bank-b", 1_000, now_ms=world.clock())
    response = submit_prepares(world, "bank-a", prepare, prepare)
    assert [(r.result, r.state) for r in response.results] == [
        (rc.RESULT_CODE_OK, RESERVED), (rc.RESULT_CODE_EXISTS, RESERVED)]
    assert world.participant("bank-a").reserved_minor == 1_000


def test_expiry__the_sweeper_passes_over_decided_transfers(world):
    transfer_in(world, "committed")
    transfer_in(world, "rejected")
    world.clock.advance(ms=PAST_EXPIRY_MS)
    before = recorded(world)
    assert world.clearing.transfers.expire_due() == 0
    assert recorded(world) == before


def test_expiry__a_commit_between_the_sweepers_read_and_its_locks_is_not_aborted(world, monkeypatch):
    """The sweeper reads the due transfers before it locks the banks; the payee's accept, made
    just before the expiry, commits in between. The sweeper must not abort it as well."""
    if world.database_url.startswith("sqlite"):
        pytest.skip("SQLite writers take turns: nothing commits inside the sweeper's transaction")
    prepare = transfer_in(world, "reserved")
    real_lock = clearing_transfers.lock_participants

    def lock_after_the_accept(connection, bank_ids):
        monkeypatch.setattr(clearing_transfers, "lock_participants", real_lock)
        world.clock.advance(ms=-PAST_EXPIRY_MS)   # The accept's moment: before the expiry.
        assert decide(world, "bank-b", prepare.transfer_id, "accept").results[0].state == COMMITTED
        world.clock.advance(ms=PAST_EXPIRY_MS)
        return real_lock(connection, bank_ids)

    world.clock.advance(ms=PAST_EXPIRY_MS)        # The sweeper's moment: past it.
    monkeypatch.setattr(clearing_transfers, "lock_participants", lock_after_the_accept)
    assert world.clearing.transfers.expire_due() == 0
    after = recorded(world, audit=False)
    assert after["transfers"] == [(prepare.transfer_id, COMMITTED, rc.RESULT_CODE_OK, 1)]   # Committed once.
    assert [row[1:3] for row in after["participants"]] == [(1_000, 0), (-1_000, 0), (0, 0)]


# Reconciliations ---------------------------------------------------------------------------

def reconcile(world, signer: str, window_id: int, *, bank_id: str | None = None, digest: bytes | None = None,
              breaks=(), withdraws_previous: bool = False) -> int:
    """signer's answer for bank_id (itself unless given), over its channel; the digest of the
    statement the clearing holds for bank_id in that window unless given."""
    bank_id = bank_id or signer
    if digest is None:
        pages = world.clearing.windows.statement(window_id, bank_id)
        digest = hashlib.sha256(b"".join(page.payload for page in pages)).digest()
    envelope = world.banks[signer].signing_key.sign(settlement_pb2.Reconciliation(
        window_id=window_id, bank_id=bank_id, statement_sha256=digest, breaks=breaks,
        withdraws_previous=withdraws_previous))
    return world.stub(signer).SubmitReconciliation(clearing_pb2.SubmitReconciliationRequest(envelope=envelope)).result


def window_in(world, situation: str) -> int:
    """A window with bank a's 10.00 to bank b in it, in the situation named; its id."""
    commit(world, "bank-a", "bank-b", 1_000)
    if situation == "open":
        return 1
    if situation == "closed":   # Closed, not yet netted: no statement issued.
        closed, _ = world.clearing.windows.close()
        return closed
    window_id = close(world)
    if situation == "settled":
        acknowledge_all(world, window_id)
        world.clearing.windows.settle(window_id)
    elif situation == "aborted":
        world.clearing.windows.abort(window_id, reason="wrong cut-off")
    return window_id


@pytest.mark.parametrize("situation, code", [
    ("open", rc.RESULT_CODE_WINDOW_STATE_INVALID),      # An answer before there is anything to answer.
    ("closed", rc.RESULT_CODE_WINDOW_STATE_INVALID),
    ("settled", rc.RESULT_CODE_WINDOW_STATE_INVALID),   # Withdrawing its answer once settlement is final.
    ("aborted", rc.RESULT_CODE_WINDOW_STATE_INVALID),   # Its transfers are in the next window now.
    ("unknown", rc.RESULT_CODE_WINDOW_NOT_FOUND),
])
def test_reconciliation__for_a_window_not_awaiting_answers_is_refused_and_stores_nothing(world, situation, code):
    window_id = 99 if situation == "unknown" else window_in(world, situation)
    before = recorded(world)
    assert reconcile(world, "bank-a", window_id, breaks=[DISPUTE], withdraws_previous=True) == code
    assert recorded(world) == before


def test_reconciliation__for_another_bank_is_forbidden_and_stores_nothing(world):
    window_id = window_in(world, "pending")
    before = recorded(world, audit=False)   # The refusal is audited, like every forged envelope.
    # Bank c signs, as itself, an acknowledgement of bank a's statement, digest and all.
    assert reconcile(world, "bank-c", window_id, bank_id="bank-a") == rc.RESULT_CODE_FORBIDDEN
    assert recorded(world, audit=False) == before
    assert [(a.bank_id, a.status) for a in world.clearing.windows.answers(window_id)][0] == ("bank-a", "silent")


def test_reconciliation__citing_another_windows_statement_is_a_mismatch(world):
    first = window_in(world, "pending")
    second = window_in(world, "pending")
    stale = hashlib.sha256(b"".join(page.payload for page in world.clearing.windows.statement(first, "bank-a")))
    before = recorded(world)
    assert reconcile(world, "bank-a", second, digest=stale.digest()) == rc.RESULT_CODE_STATEMENT_MISMATCH
    assert recorded(world) == before


def test_reconciliation__from_a_bank_with_no_statement_in_the_window_is_refused(world, tmp_path):
    """Bank d joined after window 1 was issued: the clearing issued it no statement, so there
    is nothing for it to acknowledge, not even an empty statement."""
    window_id = window_in(world, "pending")
    world.admit("bank-d", cap_minor=100_000, liquidity_minor=200_000, folder=tmp_path / "late")
    before = recorded(world)
    nothing = hashlib.sha256(b"").digest()
    assert reconcile(world, "bank-d", window_id, digest=nothing) == rc.RESULT_CODE_STATEMENT_MISMATCH
    assert recorded(world) == before


# Settlement steps out of turn --------------------------------------------------------------

@pytest.mark.parametrize("situation, step, code", [
    ("closed", "settle", rc.RESULT_CODE_WINDOW_STATE_INVALID),    # Settled before it was netted.
    ("aborted", "settle", rc.RESULT_CODE_WINDOW_STATE_INVALID),   # Its transfers would settle twice.
    ("open", "abort", rc.RESULT_CODE_WINDOW_STATE_INVALID),       # Commits are still landing in it.
    ("settled", "abort", rc.RESULT_CODE_WINDOW_STATE_INVALID),    # Settlement is final.
    ("aborted", "abort", rc.RESULT_CODE_WINDOW_STATE_INVALID),    # Aborted twice: moved twice.
    ("unknown", "abort", rc.RESULT_CODE_WINDOW_NOT_FOUND),
])
def test_window__a_settle_or_abort_contradicting_its_state_is_refused_and_moves_nothing(world, situation, step, code):
    window_id = 99 if situation == "unknown" else window_in(world, situation)
    before = recorded(world)
    if step == "settle":
        assert refused(lambda: world.clearing.windows.settle(window_id, override_reason="ops ticket 7")) == code
    else:
        assert refused(lambda: world.clearing.windows.abort(window_id, reason="ops ticket 7")) == code
    assert recorded(world) == before


@pytest.mark.parametrize("situation", ["open", "pending", "settled", "aborted"])
def test_window__issuing_a_window_not_closed_issues_nothing(world, situation):
    window_id = window_in(world, situation)
    before = recorded(world)
    assert world.clearing.windows.issue(window_id) is False
    assert recorded(world) == before
