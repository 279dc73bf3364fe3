"""Settlement windows at the clearing over real gRPC: close, net, statements, answers,
settle, abort; every refusal leaves everything as it was."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import sqlalchemy as sa

from fedmall.envelope import Envelope, VerificationKey, open_envelope
from fedmall import pki
from fedmall.results import FedmallError
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, settlement_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import rules
from clearing.cli import main
from clearing.server import Clearing
from clearing.store import transfers

from tests.clearing.test_transfers import accept, submit_decisions, submit_prepares
from tests.support.federation import close_and_issue, make_prepare, wait_until

COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED


def commit(world, payer: str, payee: str, amount_minor: int) -> str:
    prepare = make_prepare(payer, payee, amount_minor, now_ms=world.clock())
    assert submit_prepares(world, payer, prepare).results[0].result == rc.RESULT_CODE_OK
    assert submit_decisions(world, payee, accepts=[accept(prepare.transfer_id)]).results[0].state == COMMITTED
    return prepare.transfer_id


def close(world) -> int:
    return close_and_issue(world.clearing.windows)


def statement(world, bank_id: str, window_id: int) -> tuple[list[Envelope], list[settlement_pb2.Statement]]:
    response = world.stub(bank_id).GetStatement(clearing_pb2.GetStatementRequest(window_id=window_id))
    assert response.result == rc.RESULT_CODE_OK
    public_key = pki.load_public_key_pem((world.home / "clearing.pub").read_bytes())
    key = VerificationKey("clearing/k1", "clearing", public_key)
    pages = [open_envelope(page, settlement_pb2.Statement, expected_signer="clearing", keys=lambda _: key)
             for page in response.pages]
    return list(response.pages), pages


def answer(world, bank_id: str, window_id: int, *, breaks=(), key=None, statement_sha256: bytes | None = None,
           withdraws_previous: bool = False) -> int:
    envelopes, _ = statement(world, bank_id, window_id)
    digest = statement_sha256 or hashlib.sha256(b"".join(e.payload for e in envelopes)).digest()
    reconciliation = settlement_pb2.Reconciliation(window_id=window_id, bank_id=bank_id, statement_sha256=digest,
                                                   breaks=breaks, withdraws_previous=withdraws_previous)
    envelope = (key or world.banks[bank_id].signing_key).sign(reconciliation)
    return world.stub(bank_id).SubmitReconciliation(clearing_pb2.SubmitReconciliationRequest(envelope=envelope)).result


def acknowledge_all(world, window_id: int) -> None:
    for bank_id in world.banks:
        assert answer(world, bank_id, window_id) == rc.RESULT_CODE_OK


def state(world, window_id: int) -> str:
    return settlement_pb2.WindowState.Name(world.clearing.windows.window(window_id).state).removeprefix("WINDOW_STATE_")


def test_close__report_and_statements_are_signed_and_sum_to_zero(world):
    first = commit(world, "bank-a", "bank-b", 700)
    commit(world, "bank-b", "bank-c", 200)
    commit(world, "bank-c", "bank-a", 100)
    window_id = close(world)
    assert state(world, window_id) == "PENDING_SETTLEMENT"
    assert state(world, window_id + 1) == "OPEN"

    nets = {row.bank_id: row.net_minor for row in world.clearing.windows.nets(window_id)}
    assert nets == {"bank-a": -600, "bank-b": 500, "bank-c": 100}
    _, report = world.clearing.windows.report(window_id)
    assert [m.amount_minor for m in report.gross] == [1000]
    assert [m.amount_minor for m in report.net_total] == [600]
    assert report.audit_head.sequence > 0

    _, pages = statement(world, "bank-a", window_id)
    [page] = pages
    assert (page.page_count, page.entry_count, page.net.amount_minor) == (1, 2, -600)
    assert (page.opening_position.amount_minor, page.closing_position.amount_minor) == (0, 600)
    debit = next(e for e in page.entries if e.transfer_id == first)
    assert (debit.direction, debit.counterparty_bank_id, debit.amount.amount_minor) == (
        settlement_pb2.ENTRY_DIRECTION_DEBIT, "bank-b", 700)


def test_report__bilateral_positions_are_signed_and_sum_to_each_banks_net(world):
    commit(world, "bank-a", "bank-b", 700)
    commit(world, "bank-b", "bank-a", 250)
    commit(world, "bank-b", "bank-c", 200)
    commit(world, "bank-c", "bank-a", 100)
    window_id = close(world)
    response = world.stub("bank-c").GetSettlementReport(clearing_pb2.GetSettlementReportRequest(window_id=window_id))
    public_key = pki.load_public_key_pem((world.home / "clearing.pub").read_bytes())
    key = VerificationKey("clearing/k1", "clearing", public_key)
    report = open_envelope(response.report, settlement_pb2.SettlementReport, expected_signer="clearing",
                           keys=lambda _: key)

    pairs = {(p.bank_id, p.counterparty_bank_id): (p.paid.amount_minor, p.received.amount_minor,
                                                   p.net.amount_minor, p.transfer_count, p.net.currency)
             for p in report.bilateral}
    assert pairs == {("bank-a", "bank-b"): (700, 250, -450, 2, "EUR"), ("bank-a", "bank-c"): (0, 100, 100, 1, "EUR"),
                     ("bank-b", "bank-c"): (200, 0, -200, 1, "EUR")}
    for position in report.net_positions:
        from_pairs = sum(net if bank == position.bank_id else -net
                         for (bank, other), (_, _, net, _, _) in pairs.items() if position.bank_id in (bank, other))
        assert from_pairs == position.net.amount_minor, position.bank_id
    assert sum(p.net.amount_minor for p in report.net_positions) == 0


def test_report_command__shows_the_bilateral_positions(world, capsys):
    commit(world, "bank-a", "bank-b", 700)
    commit(world, "bank-b", "bank-a", 250)
    pair = [{"bank_id": "bank-a", "counterparty_bank_id": "bank-b", "currency": "EUR", "paid_minor": 700,
             "received_minor": 250, "net_minor": -450, "transfer_count": 2}]

    def report(window_id: int, *flags: str) -> str:
        assert main(["--home", str(world.home), "report", "--window", str(window_id), *flags]) == 0
        return capsys.readouterr().out

    live = json.loads(report(1, "--json"))          # The open window, netted live.
    assert (live["issued"], live["bilateral"]) == (False, pair)
    window_id = close(world)
    assert window_id == 1
    issued = json.loads(report(window_id, "--json"))  # From the signed report.
    assert (issued["issued"], issued["bilateral"]) == (True, pair)
    out = report(window_id)
    assert "counterparty" in out and "-4.50" in out


def test_close__a_transfer_committed_after_close_belongs_to_the_next_window(world):
    commit(world, "bank-a", "bank-b", 100)
    window_id = close(world)
    later = commit(world, "bank-a", "bank-b", 50)
    with world.clearing.store.read() as connection:
        assert connection.scalar(sa.select(transfers.c.window_id).where(transfers.c.transfer_id == later)) == window_id + 1


def test_close__under_concurrent_commits_every_transfer_lands_in_exactly_one_window(world):
    stop = threading.Event()
    committed: list[str] = []

    def traffic(payer: str, payee: str) -> None:
        while not stop.is_set():
            committed.append(commit(world, payer, payee, 1))

    with ThreadPoolExecutor(3) as pool:
        workers = [pool.submit(traffic, payer, payee)
                   for payer, payee in (("bank-a", "bank-b"), ("bank-b", "bank-c"), ("bank-c", "bank-a"))]
        closed = []
        for _ in range(4):
            threading.Event().wait(0.15)
            closed.append(close(world))
        stop.set()
        for worker in workers:
            worker.result()  # A failed commit in a worker fails the test.
    last = close(world)
    with world.clearing.store.read() as connection:
        rows = connection.execute(sa.select(transfers.c.transfer_id, transfers.c.window_id)
                                  .where(transfers.c.state == COMMITTED)).all()
    assert len(rows) == len(committed) > 20
    assert all(row.window_id in closed + [last] for row in rows)
    for window_id in closed + [last]:
        assert sum(row.net_minor for row in world.clearing.windows.nets(window_id)) == 0
        _, report = world.clearing.windows.report(window_id)
        assert report.transfer_count == sum(1 for row in rows if row.window_id == window_id)


def test_settle__moves_liquidity_and_resets_positions(world):
    commit(world, "bank-a", "bank-b", 30_000)
    commit(world, "bank-b", "bank-c", 10_000)
    window_id = close(world)
    acknowledge_all(world, window_id)
    before = {b: world.participant(b) for b in world.banks}
    world.clearing.windows.settle(window_id)
    assert state(world, window_id) == "SETTLED"
    after = {b: world.participant(b) for b in world.banks}
    assert {b: after[b].position_minor for b in after} == {"bank-a": 0, "bank-b": 0, "bank-c": 0}
    assert {b: after[b].liquidity_minor - before[b].liquidity_minor for b in after} == {
        "bank-a": -30_000, "bank-b": 20_000, "bank-c": 10_000}
    # The headroom under the cap is back: bank-a can send its full cap again.
    prepare = make_prepare("bank-a", "bank-b", 100_000, now_ms=world.clock())
    assert submit_prepares(world, "bank-a", prepare).results[0].result == rc.RESULT_CODE_OK


def refused(call) -> int:
    with pytest.raises(FedmallError) as error:
        call()
    return error.value.code


def test_settle__an_open_window_twice_or_disputed_is_refused_and_changes_nothing(world):
    commit(world, "bank-a", "bank-b", 500)
    assert refused(lambda: world.clearing.windows.settle(1)) == rc.RESULT_CODE_WINDOW_STATE_INVALID
    window_id = close(world)
    assert refused(lambda: world.clearing.windows.close(window_id=window_id)) == rc.RESULT_CODE_WINDOW_STATE_INVALID
    assert refused(lambda: world.clearing.windows.settle(99)) == rc.RESULT_CODE_WINDOW_NOT_FOUND

    acknowledge_all(world, window_id)
    dispute = settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE, transfer_id="x")
    assert answer(world, "bank-b", window_id, breaks=[dispute], withdraws_previous=True) == rc.RESULT_CODE_OK
    positions = {b: world.participant(b).position_minor for b in world.banks}
    assert refused(lambda: world.clearing.windows.settle(window_id)) == rc.RESULT_CODE_SETTLEMENT_DISPUTED
    assert {b: world.participant(b).position_minor for b in world.banks} == positions
    assert state(world, window_id) == "PENDING_SETTLEMENT"

    world.clearing.windows.settle(window_id, override_reason="bank-b's break explained by phone, ticket 42")
    assert world.clearing.windows.window(window_id).operator_reason.startswith("bank-b's break")
    assert refused(lambda: world.clearing.windows.settle(window_id)) == rc.RESULT_CODE_WINDOW_STATE_INVALID


def test_settle__a_silent_member_blocks_settlement(world):
    commit(world, "bank-a", "bank-b", 500)
    window_id = close(world)
    assert answer(world, "bank-a", window_id) == rc.RESULT_CODE_OK
    assert [a.status for a in world.clearing.windows.answers(window_id)] == ["acknowledged", "silent", "idle"]
    assert refused(lambda: world.clearing.windows.settle(window_id)) == rc.RESULT_CODE_SETTLEMENT_DISPUTED


def test_reconciliation__forged_wrong_statement_or_for_another_bank_is_refused(world):
    commit(world, "bank-a", "bank-b", 500)
    window_id = close(world)
    assert answer(world, "bank-a", window_id, key=world.banks["bank-c"].signing_key) == rc.RESULT_CODE_SIGNER_NOT_PEER
    assert answer(world, "bank-a", window_id, statement_sha256=bytes(32)) == rc.RESULT_CODE_STATEMENT_MISMATCH
    assert answer(world, "bank-a", window_id) == rc.RESULT_CODE_OK
    assert answer(world, "bank-a", window_id) == rc.RESULT_CODE_EXISTS
    assert [a.status for a in world.clearing.windows.answers(window_id)][0] == "acknowledged"


def test_reconciliation__another_answer_is_modified_request_unless_it_withdraws_the_first(world):
    commit(world, "bank-a", "bank-b", 500)
    window_id = close(world)
    assert answer(world, "bank-a", window_id) == rc.RESULT_CODE_OK
    dispute = settlement_pb2.ReconciliationBreak(kind=settlement_pb2.BREAK_KIND_MISSING_AT_NODE, transfer_id="x")
    with world.clearing.store.read() as connection:
        audit_before = connection.scalar(sa.text("SELECT count(*) FROM audit_log"))

    assert answer(world, "bank-a", window_id, breaks=[dispute]) == rc.RESULT_CODE_MODIFIED_REQUEST
    assert [a.status for a in world.clearing.windows.answers(window_id)][0] == "acknowledged"   # The first stands.

    assert answer(world, "bank-a", window_id, breaks=[dispute], withdraws_previous=True) == rc.RESULT_CODE_OK
    assert [a.status for a in world.clearing.windows.answers(window_id)][0] == "disputed"
    assert answer(world, "bank-a", window_id, breaks=[dispute], withdraws_previous=True) == rc.RESULT_CODE_EXISTS
    with world.clearing.store.read() as connection:
        kinds = connection.execute(sa.text("SELECT kind FROM audit_log ORDER BY sequence")).scalars().all()
    assert kinds[audit_before:] == ["reconciliation.replace"]


def test_restart__between_close_and_settle_the_window_report_and_answers_survive(world):
    commit(world, "bank-a", "bank-b", 800)
    window_id = close(world)
    acknowledge_all(world, window_id)
    _, report_before = world.clearing.windows.report(window_id)
    world.restart()
    _, report_after = world.clearing.windows.report(window_id)
    assert report_after == report_before
    assert state(world, window_id) == "PENDING_SETTLEMENT"
    assert {a.status for a in world.clearing.windows.answers(window_id)} == {"acknowledged"}
    world.clearing.windows.settle(window_id)
    assert world.participant("bank-a").position_minor == 0


def test_restart__a_window_closed_but_not_issued_is_issued_by_the_restarted_clearing(world):
    commit(world, "bank-a", "bank-b", 800)
    closed, _ = world.clearing.windows.close()  # Crash before issue().
    world.restart()
    from tests.support.federation import wait_until
    wait_until(lambda: state(world, closed) == "PENDING_SETTLEMENT")


def test_abort__moves_the_transfers_to_the_open_window(world):
    transfer_id = commit(world, "bank-a", "bank-b", 800)
    window_id = close(world)
    assert refused(lambda: world.clearing.windows.abort(window_id, reason="")) == rc.RESULT_CODE_INVALID_FIELD
    moved_to = world.clearing.windows.abort(window_id, reason="wrong cut-off time")
    assert state(world, window_id) == "ABORTED"
    with world.clearing.store.read() as connection:
        assert connection.scalar(sa.select(transfers.c.window_id).where(transfers.c.transfer_id == transfer_id)) == moved_to
    assert world.participant("bank-a").position_minor == 800  # Positions do not move on an abort.
    next_window = close(world)
    assert {row.bank_id: row.net_minor for row in world.clearing.windows.nets(next_window)}["bank-a"] == -800


def test_statement__pages_split_at_the_bound_and_each_stands_alone(world, monkeypatch):
    from fedmall import limits
    monkeypatch.setattr(limits, "notices_per_delivery_max", 2)
    for _ in range(5):
        commit(world, "bank-a", "bank-b", 10)
    window_id = close(world)
    _, pages = statement(world, "bank-a", window_id)
    assert [(p.page_index, p.page_count, len(p.entries), p.entry_count) for p in pages] == [
        (0, 3, 2, 5), (1, 3, 2, 5), (2, 3, 1, 5)]
    assert answer(world, "bank-a", window_id) == rc.RESULT_CODE_OK


def test_schedule__windows_close_on_their_own_every_interval(world):
    commit(world, "bank-a", "bank-b", 100)
    config = dataclasses.replace(world.clearing.config, window_close_interval_s=1, listen_address="127.0.0.1:0",
                                 database_url=world.database_url)
    scheduled = Clearing(config, clock_ms=world.clock)
    scheduled.start()
    try:
        wait_until(lambda: state(world, 1) == "PENDING_SETTLEMENT", timeout_s=30)
        assert state(world, 2) in ("OPEN", "CLOSED", "PENDING_SETTLEMENT")
    finally:
        scheduled.stop()


def test_settle__windows_settle_in_order(world):
    commit(world, "bank-a", "bank-b", 100)
    first = close(world)
    commit(world, "bank-b", "bank-a", 100)
    second = close(world)
    acknowledge_all(world, first)
    acknowledge_all(world, second)
    assert refused(lambda: world.clearing.windows.settle(second)) == rc.RESULT_CODE_WINDOW_STATE_INVALID
    assert state(world, second) == "PENDING_SETTLEMENT"
    world.clearing.windows.settle(first)
    world.clearing.windows.settle(second)
    assert all(world.participant(b).position_minor == 0 for b in world.banks)


def test_cli_transfers__counts_committed_and_aborted_by_reason(world, capsys):
    commit(world, "bank-a", "bank-b", 100)
    prepare = make_prepare("bank-a", "bank-b", 100, now_ms=world.clock())
    submit_prepares(world, "bank-a", prepare)
    submit_decisions(world, "bank-b", rejects=[transfer_pb2.Reject(
        transfer_id=prepare.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_UNKNOWN)])
    assert main(["--home", str(world.home), "transfers", "--summary", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "by_state": {"committed": 1, "aborted": 1}, "aborted_by_reason": {"PAYEE_REJECTED": 1}}


def test_settle__a_net_receiver_may_stand_above_its_cap_never_above_its_liquidity(world):
    """bank-a (cap 1 000.00, liquidity 2 000.00) is paid 300.00 in window 1, spends it in window 2
    before window 1 settles, and settlement leaves it above its cap: no new reservation until
    its position comes down, and exposure still within its liquidity."""
    commit(world, "bank-b", "bank-a", 30_000)
    window_id = close(world)
    commit(world, "bank-a", "bank-c", 120_000)          # Position 900.00: within the cap, counting the 300.00.
    acknowledge_all(world, window_id)
    world.clearing.windows.settle(window_id)
    bank_a = world.participant("bank-a")
    assert (bank_a.position_minor, bank_a.liquidity_minor) == (120_000, 230_000)
    headroom = rules.headroom_minor(position_minor=bank_a.position_minor, reserved_minor=bank_a.reserved_minor,
                                    net_debit_cap_minor=bank_a.net_debit_cap_minor,
                                    liquidity_minor=bank_a.liquidity_minor)
    assert headroom == -20_000 and bank_a.position_minor <= bank_a.liquidity_minor
    refused = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 1, now_ms=world.clock()))
    assert refused.results[0].result == rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED


def test_admin_windows__the_operator_closes_and_settles_over_grpc_refusals_are_codes(world):
    admin = world.operator_stub()
    transfer_id = commit(world, "bank-a", "bank-b", 500)
    wrong = admin.CloseWindow(clearing_pb2.CloseWindowRequest(window_id=7))
    assert (wrong.result, state(world, 1)) == (rc.RESULT_CODE_WINDOW_NOT_FOUND, "OPEN")
    closed = admin.CloseWindow(clearing_pb2.CloseWindowRequest(window_id=1))
    assert (closed.result, closed.closed_window_id, closed.opened_window_id) == (rc.RESULT_CODE_OK, 1, 2)
    assert state(world, 1) == "PENDING_SETTLEMENT"  # Issued by the same call.
    assert [entry.transfer_id for entry in statement(world, "bank-a", 1)[1][0].entries] == [transfer_id]

    assert admin.SettleWindow(clearing_pb2.SettleWindowRequest(window_id=1)).result == rc.RESULT_CODE_SETTLEMENT_DISPUTED
    assert admin.SettleWindow(clearing_pb2.SettleWindowRequest(window_id=2)).result == rc.RESULT_CODE_WINDOW_STATE_INVALID
    assert admin.SettleWindow(clearing_pb2.SettleWindowRequest(window_id=99)).result == rc.RESULT_CODE_WINDOW_NOT_FOUND
    assert state(world, 1) == "PENDING_SETTLEMENT"
    acknowledge_all(world, 1)
    settled = admin.SettleWindow(clearing_pb2.SettleWindowRequest(window_id=1))
    assert settled.result == rc.RESULT_CODE_OK and state(world, 1) == "SETTLED"
    nets = {net.bank_id: (net.debits.amount_minor, net.credits.amount_minor, net.net.amount_minor)
            for net in settled.nets}
    assert nets == {"bank-a": (500, 0, -500), "bank-b": (0, 500, 500), "bank-c": (0, 0, 0)}
    assert sum(net for _, _, net in nets.values()) == 0
    assert {b: world.participant(b).position_minor for b in ("bank-a", "bank-b")} == {"bank-a": 0, "bank-b": 0}


def test_admin_windows__a_bank_certificate_is_permission_denied(world):
    bank_admin = clearing_pb2_grpc.ClearingAdminServiceStub(world.channel(world.banks["bank-a"].tls))
    for call in (lambda: bank_admin.CloseWindow(clearing_pb2.CloseWindowRequest()),
                 lambda: bank_admin.SettleWindow(clearing_pb2.SettleWindowRequest(window_id=1))):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert state(world, 1) == "OPEN"
