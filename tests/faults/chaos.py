"""A seeded fault-injection run against a federation of real processes.

    load      every bank sends batches of interbank transfers to the others; a batch whose
              answer is lost (its node or the clearing died) is sent again with the same
              ids until it is answered: retries are safe
    faults    at random moments a random process (a clearing or a node) is killed with
              kill -9 and restarted, stopped with SIGTERM and restarted, or paused with
              SIGSTOP past the transfers' expiry and resumed; with two clearing processes
              a node restarted after a fault switches to the other one
    windows   the clearing closes a window every window_close_interval_s under the load, and
              the operator settles each one as soon as every member acknowledged it
    at rest   the load stops, every process runs, the last window closes, every closed
              window is answered and settled in order; then scripts/invariants.py reads
              every database and names each broken invariant

The same seed gives the same load, fault schedule and victims (the timing of real
processes still varies). The seed is in the report.
"""
from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import sqlalchemy as sa

from fedmall.database import make_engine, read_connection
from fedmall.results import FedmallError
from fedmall.v1 import money_pb2, node_pb2, result_pb2

from clearing.config import ClearingConfig
from clearing.deliveries import DeliveryBell
from clearing.registry import Registry
from clearing.store import StorageUnavailable, Store
from clearing.windows import ACKNOWLEDGED, CLOSED, IDLE, OPEN, PENDING_SETTLEMENT, WindowService
from node.bank import store as node_store
from scripts import invariants
from scripts.federation import BankSpec, Federation
from tests.faults.processes import FaultyFederation
from tests.support.ids import uuid_of

CURRENCY = "EUR"
ACCOUNTS_PER_BANK = 4
DEPOSIT_MINOR = 100_000_000
BATCH_SIZE = 10
EXPIRY_MS = 2_000                 # Short, so a pause of a few seconds outlives reservations.
PAUSE_S = EXPIRY_MS / 1000 + 1.5
FAULT_KINDS = ("kill -9", "SIGTERM", "SIGSTOP")
REST_TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class Plan:
    seed: int
    banks: int = 3
    load_s: float = 20.0
    faults_per_kind: int = 2
    clearings: int = 1
    window_close_interval_s: int = 2
    clearing_database_url: str = ""                               # "" : SQLite in the clearing's home.
    node_database_urls: dict[str, str] = field(default_factory=dict)  # bank id -> URL; missing: SQLite.


@dataclass
class Report:
    seed: int
    faults: list[str] = field(default_factory=list)
    transfers_sent: int = 0
    committed: int = 0
    aborted: int = 0
    windows_settled: int = 0
    deadlocks_retried: int = 0
    unknown_errors_at_members: int = 0
    violations: list[str] = field(default_factory=list)
    planted: str = ""                                            # The negative control's planted break...
    planted_failed: dict[str, str] = field(default_factory=dict)  # ...and the invariants it broke (key -> detail).

    def lines(self) -> list[str]:
        return [f"seed {self.seed}: {len(self.faults)} faults, {self.transfers_sent} transfers sent "
                f"({self.committed} committed, {self.aborted} aborted), {self.windows_settled} windows settled",
                f"deadlocks retried in the clearing {self.deadlocks_retried}, UNKNOWN errors reaching members "
                f"{self.unknown_errors_at_members}",
                *[f"  fault {fault}" for fault in self.faults],
                f"{len(self.violations)} violations", *[f"  {violation}" for violation in self.violations[:50]],
                *([f"negative control: removed {self.planted}; the checker found {len(self.planted_failed)} broken",
                   *[f"  {key}: {detail}" for key, detail in self.planted_failed.items()]] if self.planted else [])]


def run(plan: Plan, home: Path, *, plant_violation: bool = False, progress=print) -> Report:
    rng = random.Random(plan.seed)
    federation = Federation(home=home, currency=CURRENCY, clearing_database_url=plan.clearing_database_url,
                            node_database_urls=plan.node_database_urls, banks=[
        BankSpec(f"bank-{chr(ord('a') + index)}", f"Bank {chr(ord('A') + index)}", "1000000.00", "2000000.00")
        for index in range(plan.banks)], node_settings={"transfer_expiry_ms": EXPIRY_MS})
    faulty = FaultyFederation.create(federation, clearings=plan.clearings,
                                     window_close_interval_s=plan.window_close_interval_s)
    report = Report(seed=plan.seed)
    try:
        faulty.start_all()
        _provision(federation)
        progress(f"chaos seed {plan.seed}: load for {plan.load_s:g} s with {plan.faults_per_kind} faults of each kind")
        stop_load = threading.Event()
        sent: dict[str, list[str]] = {bank.bank_id: [] for bank in federation.banks}
        senders = [threading.Thread(target=_send_load, args=(federation, bank.bank_id, rng.randrange(2**32),
                                                             sent[bank.bank_id], stop_load))
                   for bank in federation.banks]
        operator = Operator.open(federation)
        settler = threading.Thread(target=operator.settle_while, args=(stop_load,))
        for thread in [*senders, settler]:
            thread.start()
        _inject_faults(faulty, plan, rng, report, progress)
        stop_load.set()
        for thread in [*senders, settler]:
            thread.join()
        report.transfers_sent = len({transfer_id for ids in sent.values() for transfer_id in ids})
        faulty.resume_all()
        faulty.start_all()
        _stop_scheduled_closes(faulty)
        progress(f"load stopped after {report.transfers_sent} transfers; settling at rest")
        try:
            report.windows_settled = operator.settle_at_rest(federation)
        finally:
            operator.close()
        clearing, nodes = _read_all(federation)
        report.violations = invariants.failures(invariants.check(clearing, nodes, currency=CURRENCY))
        if plant_violation:
            report.planted = _plant_violation(federation)
            report.planted_failed = {check.key: check.detail for check in invariants.check(
                *_read_all(federation), currency=CURRENCY) if not check.ok}
        statuses = [status for books in nodes.values() for status, _ in books.outgoing.values()]
        report.committed, report.aborted = statuses.count("COMMITTED"), statuses.count("ABORTED")
    finally:
        faulty.stop_all()
    logs = faulty.logs()
    report.deadlocks_retried = sum(text.count("deadlock (attempt") for name, text in logs.items()
                                   if name.startswith("clearing"))
    report.unknown_errors_at_members = sum(text.count("StatusCode.UNKNOWN") + text.count(" UNKNOWN ")
                                           for name, text in logs.items() if not name.startswith("clearing"))
    return report


def _read_all(federation: Federation) -> tuple[invariants.ClearingBooks, dict[str, invariants.NodeBooks]]:
    return invariants.read_federation(federation.clearing_url(), federation.node_urls())


def _provision(federation: Federation) -> None:
    for bank in federation.banks:
        stub = federation.node_stub(bank.bank_id)
        for index in range(ACCOUNTS_PER_BANK):
            stub.OpenAccount(node_pb2.OpenAccountRequest(account_id=f"c{index}", holder_name=f"Customer {index}",
                                                         currency=CURRENCY), timeout=30)
            stub.Deposit(node_pb2.DepositRequest(
                deposit_id=uuid_of(f"{bank.bank_id}-c{index}"), account_id=f"c{index}",
                amount=money_pb2.Money(amount_minor=DEPOSIT_MINOR, currency=CURRENCY)), timeout=30)


def _send_load(federation: Federation, bank_id: str, seed: int, sent: list[str], stop: threading.Event) -> None:
    """Batches of transfers to the other banks; a batch without an answer goes again, same ids."""
    rng = random.Random(seed)
    others = [bank.bank_id for bank in federation.banks if bank.bank_id != bank_id]
    while not stop.is_set():
        request = node_pb2.SendTransfersRequest(transfers=[node_pb2.SendTransferRequest(
            transfer_id=str(uuid.UUID(int=rng.getrandbits(128))),
            from_account_id=f"c{rng.randrange(ACCOUNTS_PER_BANK)}",
            payee_bank_id=rng.choice(others), payee_account_id=f"c{rng.randrange(ACCOUNTS_PER_BANK)}",
            amount=money_pb2.Money(amount_minor=rng.randrange(1, 50_000), currency=CURRENCY), reference="chaos")
            for _ in range(BATCH_SIZE)])
        while True:   # Until this batch is answered: retrying the same ids is safe.
            try:
                response = federation.node_stub(bank_id).SendTransfers(request, timeout=10)
                break
            except grpc.RpcError:
                if stop.is_set() and not _node_answers(federation, bank_id):
                    break
                time.sleep(0.2)
        else:
            continue
        sent.extend(item.transfer_id for item, result in zip(request.transfers, response.results)
                    if result.result in (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS))
        stop.wait(0.1)


def _node_answers(federation: Federation, bank_id: str) -> bool:
    try:
        federation.node_stub(bank_id).GetAccount(node_pb2.GetAccountRequest(account_id="c0"), timeout=2)
        return True
    except grpc.RpcError:
        return False


def _inject_faults(faulty: FaultyFederation, plan: Plan, rng: random.Random, report: Report, progress) -> None:
    schedule = [kind for kind in FAULT_KINDS for _ in range(plan.faults_per_kind)]
    rng.shuffle(schedule)
    gap_s = plan.load_s / (len(schedule) + 1)
    names = sorted(faulty.processes)
    started = time.monotonic()
    for number, kind in enumerate(schedule, 1):
        time.sleep(max(0.0, started + number * gap_s - time.monotonic()))
        name = rng.choice(names)
        process = faulty.processes[name]
        if kind == "kill -9":
            process.kill()
            time.sleep(rng.uniform(0.1, 1.0))
        elif kind == "SIGTERM":
            process.terminate()
        else:
            process.signal(signal.SIGSTOP)
            time.sleep(PAUSE_S)
            process.signal(signal.SIGCONT)
        if kind != "SIGSTOP":
            if name in faulty.node_clearing and len(faulty.clearing_addresses) > 1:
                faulty.switch_clearing(name)
            faulty.start(name)
        report.faults.append(f"{time.monotonic() - started:6.1f} s  {kind:8} {name}")
        progress(f"  fault {number}/{len(schedule)}: {kind} {name}")
    time.sleep(max(0.0, started + plan.load_s - time.monotonic()))


def _stop_scheduled_closes(faulty: FaultyFederation) -> None:
    """At rest windows close when the run says: restart the clearings without a schedule."""
    config = faulty.federation.clearing_home / "fedmall.toml"
    config.write_text("\n".join("window_close_interval_s = 0" if line.startswith("window_close_interval_s")
                                else line for line in config.read_text().splitlines()) + "\n")
    for name, process in faulty.processes.items():
        if name.startswith("clearing"):
            process.terminate()
            faulty.start(name)


class Operator:
    """The clearing operator's window commands, on the clearing's database (as the CLI runs them)."""

    def __init__(self, store: Store, registry: Registry, windows: WindowService) -> None:
        self.store, self.registry, self.windows = store, registry, windows
        self.settled: list[int] = []

    @classmethod
    def open(cls, federation: Federation) -> "Operator":
        def clock_ms() -> int:
            return time.time_ns() // 1_000_000
        store = Store(make_engine(federation.clearing_url()))
        registry = Registry(store, clock_ms=clock_ms)
        clearing_key = ClearingConfig.load(federation.clearing_home).signing_key()
        return cls(store, registry, WindowService(store, registry, clearing_key=clearing_key, bell=DeliveryBell(),
                                                  clock_ms=clock_ms))

    def settle_ready(self) -> None:
        """Settle, oldest first, every issued window all members acknowledged (idle ones need not);
        stop at one that is not."""
        for row in self.windows.windows():
            if row.state in (OPEN, CLOSED):
                return
            if row.state != PENDING_SETTLEMENT:
                continue
            if any(answer.status not in (ACKNOWLEDGED, IDLE) for answer in self.windows.answers(row.window_id)):
                return
            self.windows.settle(row.window_id)
            self.settled.append(row.window_id)

    def settle_while(self, load: threading.Event) -> None:
        """Under load: settle what is ready every half second (a race with a restart is retried)."""
        while not load.wait(0.5):
            try:
                self.settle_ready()
            except (FedmallError, StorageUnavailable, sa.exc.DBAPIError):
                continue

    def settle_at_rest(self, federation: Federation) -> int:
        """Wait until nothing is in flight, close the last window, settle every closed window in order."""
        _wait(lambda: _at_rest(federation, self.registry), "every transfer final at every bank")
        self.windows.close()   # The clearing processes close no more windows (_stop_scheduled_closes).
        self.windows.issue_closed()
        for row in self.windows.windows():
            if row.state == OPEN:
                continue
            _wait(lambda: self.windows.window(row.window_id).state != CLOSED, f"window {row.window_id} issued")
            if self.windows.window(row.window_id).state == PENDING_SETTLEMENT:
                _wait(lambda: all(answer.status != "silent" for answer in self.windows.answers(row.window_id)),
                      f"every answer to window {row.window_id}")
        self.settle_ready()
        _wait(lambda: _at_rest(federation, self.registry), "every settlement booked at every bank")
        return len(self.settled)

    def close(self) -> None:
        self.store.close()


def _at_rest(federation: Federation, registry: Registry) -> bool:
    """Nothing reserved at the clearing, every node caught up with its stream and its outbox."""
    participants = {row.bank_id: row for row in registry.list()}
    if any(row.reserved_minor for row in participants.values()):
        return False
    return all(_node_caught_up(federation.node_url(bank.bank_id), participants[bank.bank_id].delivery_sequence)
               for bank in federation.banks)


def _node_caught_up(url: str, issued_sequence: int) -> bool:
    """The node applied its whole stream and has no outgoing transfer left to finish."""
    engine = make_engine(url)
    try:
        with read_connection(engine) as connection:
            outgoing = node_store.outgoing_transfers
            unfinished = connection.scalar(sa.select(sa.func.count()).select_from(outgoing)
                                           .where(outgoing.c.status.not_in(("COMMITTED", "ABORTED"))))
            return node_store.read_cursor(connection) == issued_sequence and unfinished == 0
    finally:
        engine.dispose()


def _wait(predicate, what: str) -> None:
    deadline = time.monotonic() + REST_TIMEOUT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not at rest after {REST_TIMEOUT_S} s: {what}")
        time.sleep(0.25)


def _plant_violation(federation: Federation) -> str:
    """The negative control: one payee's credit of one committed transfer disappears."""
    engine = make_engine(federation.node_url(federation.banks[1].bank_id))
    entries, postings = node_store.journal_entries, node_store.postings
    try:
        with engine.begin() as connection:
            entry_id = connection.scalar(sa.select(entries.c.entry_id).where(entries.c.entry_id.like("receive:%"))
                                         .order_by(entries.c.entry_id).limit(1))
            connection.execute(postings.delete().where(postings.c.entry_id == entry_id))
            connection.execute(entries.delete().where(entries.c.entry_id == entry_id))
        return entry_id
    finally:
        engine.dispose()
