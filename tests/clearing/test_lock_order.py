"""The clearing's one lock order (clearing.store), on PostgreSQL where row locks are real:
every write path takes window rows, then participant rows, then the audit head; decisions
racing window closes never fail; a deadlock victim runs again; a storage failure reaches
the member as UNAVAILABLE and a retry afterwards succeeds.

The recorder sees the explicit locks (SELECT ... FOR UPDATE / FOR SHARE); every row a
transaction updates it has locked that way first.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import grpc
import psycopg
import pytest
import sqlalchemy as sa

from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import settlement_pb2, transfer_pb2

from clearing import operator, rules, store as clearing_store
from clearing.membership import LeaveRefused, Membership
from clearing.operator import OperatorAction
from clearing.store import CONFLICTS, Store, retry_on_conflict
from tests.clearing.test_transfers import accept, submit_decisions, submit_prepares
from tests.clearing.test_windows import acknowledge_all, commit
from tests.support.federation import make_prepare, new_clearing_world

ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED
ACTION = OperatorAction(operator="olga", reason="test")
LOCK_RANKS = {"settlement_windows": 1, "participants": 2, "audit_head": 3}
LOCKING_SELECT = re.compile(r"\bFOR (?:NO KEY )?(?:UPDATE|SHARE)\b")
LOCKED_TABLE = re.compile(r"\bFROM (\w+)")


@dataclass
class LockRecorder:
    """The tables each transaction on an engine locked, in the order it locked them."""
    transactions: list[list[str]] = field(default_factory=list)
    _open: dict[int, list[str]] = field(default_factory=dict)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "begin", lambda connection: self._open.__setitem__(id(connection), []))
        sa.event.listen(engine, "commit", self._finish)
        sa.event.listen(engine, "rollback", self._finish)
        sa.event.listen(engine, "before_cursor_execute", self._statement)

    def _statement(self, connection, cursor, statement, parameters, context, executemany) -> None:
        if LOCKING_SELECT.search(statement) and id(connection) in self._open:
            self._open[id(connection)].append(LOCKED_TABLE.search(statement).group(1))

    def _finish(self, connection) -> None:
        locks = self._open.pop(id(connection), None)
        if locks:
            with self._mutex:
                self.transactions.append(locks)


def out_of_order(transactions: list[list[str]]) -> list[list[str]]:
    return [locks for locks in transactions
            if [LOCK_RANKS[table] for table in locks] != sorted(LOCK_RANKS[table] for table in locks)]


@pytest.fixture
def pg_world(tmp_path, postgres_cluster):
    world = new_clearing_world(tmp_path, postgres_cluster.new_database())
    for bank_id in ("bank-a", "bank-b", "bank-c"):
        world.admit(bank_id, cap_minor=10_000_000, liquidity_minor=20_000_000, folder=tmp_path / "banks")
    yield world
    world.close()


def test_out_of_order__names_a_transaction_that_breaks_the_order():
    assert out_of_order([["settlement_windows", "participants", "audit_head"], ["participants", "audit_head"],
                         ["participants", "settlement_windows", "audit_head"]]) == [
        ["participants", "settlement_windows", "audit_head"]]


def test_every_write_path__locks_windows_then_participants_then_the_audit_head(pg_world):
    world, clearing = pg_world, pg_world.clearing
    recorder = LockRecorder()
    recorder.attach(clearing.store.engine)
    commit(world, "bank-a", "bank-b", 1_000)                                       # prepare, decide
    expiring = make_prepare("bank-b", "bank-c", 500, now_ms=world.clock(), expires_in_ms=2_000)
    submit_prepares(world, "bank-b", expiring)
    world.clock.advance(ms=5_000)
    clearing.transfers.expire_due()                                                # expire (or the sweeper did)
    assert clearing.transfers.get(expiring.transfer_id, peer="bank-b").state == ABORTED
    closed, _ = clearing.windows.close()                                           # close
    assert clearing.windows.issue(closed)                                          # issue
    acknowledge_all(world, closed)                                                 # reconcile
    clearing.windows.settle(closed)                                                # settle
    commit(world, "bank-b", "bank-a", 700)
    closed, _ = clearing.windows.close()
    assert clearing.windows.issue(closed)
    clearing.windows.abort(closed, reason="test")                                  # abort
    clearing.registry.set_status("bank-c", rules.SUSPENDED)                          # suspend
    action = operator.checked("test", "lock order")
    clearing.registry.set_net_debit_cap("bank-c", cap_minor=1, currency="EUR", action=action)  # set a cap
    clearing.registry.set_cap_alert_percent("bank-c", percent=50, action=action)                # and its alert
    clearing.funds.record_funds_in(movement_id="in-1", bank_id="bank-a", amount_minor=100,  # funds in
                                   external_reference="R", action=action)
    for movement_id in ("out-1", "out-2"):                                         # reserve funds out
        clearing.funds.reserve_funds_out(movement_id=movement_id, bank_id="bank-a", amount_minor=100,
                                         external_reference="R", action=action)
    clearing.funds.commit_funds_out("out-1", action=action)                        # commit funds out
    clearing.funds.abort_funds_out("out-2", action=action)                         # abort funds out
    members = Membership(clearing.store, clock_ms=world.clock)
    members.set_address("bank-c", "127.0.0.1:7399", action=ACTION)                  # set-address
    with pytest.raises(LeaveRefused):
        members.leave("bank-c", action=ACTION)                                       # leave (refused)
    world.admit("bank-d", cap_minor=0, liquidity_minor=0, folder=world.home.parent / "late", connect=False)
    clearing.registry.record_connected("bank-d")                                     # onboarding -> active
    kinds = {tuple(dict.fromkeys(locks)) for locks in recorder.transactions}
    assert ("settlement_windows", "participants", "audit_head") in kinds           # decisions, issue, settle, abort
    assert ("participants", "audit_head") in kinds and ("settlement_windows", "audit_head") in kinds
    assert out_of_order(recorder.transactions) == []


def test_decisions__racing_window_closes_all_succeed_and_positions_sum_to_zero(pg_world):
    world, clearing = pg_world, pg_world.clearing
    stop = threading.Event()
    failures: list[str] = []
    retried_before = CONFLICTS.retried

    def close_and_issue() -> None:
        while not stop.is_set():
            closed, _ = clearing.windows.close()
            clearing.windows.issue(closed)
            time.sleep(0.005)

    def pay(payer: str, payee: str, count: int) -> None:
        for index in range(count):
            prepare = make_prepare(payer, payee, 100 + index, now_ms=world.clock())
            try:
                assert submit_prepares(world, payer, prepare).results[0].result == rc.RESULT_CODE_OK
                result = submit_decisions(world, payee, accepts=[accept(prepare.transfer_id)]).results[0].result
                if result != rc.RESULT_CODE_OK:
                    failures.append(f"{prepare.transfer_id}: {result}")
            except grpc.RpcError as error:
                failures.append(f"{prepare.transfer_id}: {error.code().name} {error.details()}")

    closer = threading.Thread(target=close_and_issue)
    payers = [threading.Thread(target=pay, args=pair) for pair in (("bank-a", "bank-b", 40), ("bank-b", "bank-c", 40),
                                                                   ("bank-c", "bank-a", 40))]
    closer.start()
    for thread in payers:
        thread.start()
    for thread in payers:
        thread.join()
    stop.set()
    closer.join()
    assert failures == []
    assert sum(world.participant(bank_id).position_minor for bank_id in world.banks) == 0
    with clearing.store.read() as connection:
        committed = connection.scalar(sa.select(sa.func.count()).select_from(clearing_store.transfers)
                                      .where(clearing_store.transfers.c.window_id.is_not(None)))
    assert committed == 120
    print(f"conflicts retried: {CONFLICTS.retried - retried_before}")


def test_retry_on_conflict__a_deadlock_victim_runs_again(postgres_cluster):
    store = Store.open(postgres_cluster.new_database())
    with store.write() as connection:
        connection.execute(sa.text("CREATE TABLE lock_pair (id integer PRIMARY KEY)"))
        connection.execute(sa.text("INSERT INTO lock_pair VALUES (1), (2)"))
    both_hold_one = threading.Barrier(2)
    attempts = {1: 0, 2: 0}

    @retry_on_conflict
    def lock_both(first: int, second: int) -> str:
        attempts[first] += 1
        with store.write() as connection:
            connection.execute(sa.text("SELECT id FROM lock_pair WHERE id = :id FOR UPDATE"), {"id": first})
            if attempts[first] == 1:
                both_hold_one.wait(timeout=10)   # Each holds one row and wants the other: a cycle.
            connection.execute(sa.text("SELECT id FROM lock_pair WHERE id = :id FOR UPDATE"), {"id": second})
        return "done"

    retried_before = CONFLICTS.retried
    results: dict[int, str] = {}
    threads = [threading.Thread(target=lambda pair=pair: results.__setitem__(pair[0], lock_both(*pair)))
               for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    store.close()
    assert results == {1: "done", 2: "done"}
    assert sorted(attempts.values()) == [1, 2]          # PostgreSQL chose one victim; it ran again.
    assert CONFLICTS.retried == retried_before + 1


def test_storage_failure__reaches_the_member_as_unavailable_and_a_retry_then_succeeds(pg_world, postgres_cluster):
    world = pg_world
    database = world.database_url.rsplit("/", 1)[1]
    admin = f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname=postgres"
    prepare = make_prepare("bank-a", "bank-b", 1_000, now_ms=world.clock())
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
    try:
        with pytest.raises(grpc.RpcError) as failed:
            submit_prepares(world, "bank-a", prepare)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "retry later" in failed.value.details()
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    response = submit_prepares(world, "bank-a", prepare)   # Nothing was written: the retry is the first.
    assert [result.result for result in response.results] == [rc.RESULT_CODE_OK]


def test_funds_in__racing_window_closes_each_lands_on_exactly_one_statement_and_they_chain(pg_world):
    """A funds in is stamped with the oldest window not issued, share-locked, while issuing
    locks it: so however they interleave, each movement is listed once and every statement
    opens with the liquidity the one before closed with."""
    clearing = pg_world.clearing
    stop = threading.Event()
    action = operator.checked("ops", "race")

    def close_and_issue() -> None:
        while not stop.is_set():
            closed, _ = clearing.windows.close()
            clearing.windows.issue(closed)
            time.sleep(0.003)

    closer = threading.Thread(target=close_and_issue)
    closer.start()
    try:
        for index in range(60):
            clearing.funds.record_funds_in(movement_id=f"in-{index}", bank_id="bank-a", amount_minor=100 + index,
                                           external_reference="R", action=action)
    finally:
        stop.set()
        closer.join()
    closed, _ = clearing.windows.close()
    clearing.windows.issue(closed)
    listed: list[str] = []
    closing_minor = 0
    for window in clearing.windows.windows():
        pages = [settlement_pb2.Statement.FromString(page.payload)
                 for page in clearing.windows.statement(window.window_id, "bank-a")]
        if not pages:
            continue
        assert pages[0].opening_liquidity.amount_minor == closing_minor, window.window_id
        closing_minor = pages[0].closing_liquidity.amount_minor
        listed += [movement.movement_id for page in pages for movement in page.movements]
    assert sorted(listed) == sorted(["funds:admission:bank-a"] + [f"funds:in-{index}" for index in range(60)])
    assert closing_minor == pg_world.participant("bank-a").liquidity_minor
