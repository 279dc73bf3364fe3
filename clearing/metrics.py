"""The clearing's Prometheus families (docs/observability.md lists them with their meaning).

Two kinds, by where the truth lives:
- State is read from the database at scrape time (StateCollector): transfers by state and
  result, each member's position against its cap and liquidity, delivery-stream lag, the
  windows, reconciliation answers, the audit log, certificates. So it is right after a
  restart, and the same from every clearing process on one PostgreSQL database.
- Rates and latencies are counted in the hot path (HotPath): batches by kind, their size and
  time, each item's result, how long a transfer waited between reserve and decision. A
  counter only adds to a number in memory; the batch it counts is one database transaction.

Labels are bounded: a bank id (the members), a state, a result code name, a batch kind;
never a transfer id.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fedmall.batch_histogram import BatchHistogram
from fedmall.results import name_of
from fedmall.rpc_metrics import LATENCY_BUCKETS_S, RpcMetrics

from clearing import certificates, rules
from clearing.store import CONFLICTS, Store, audit_head, participants, settlement_windows, transfers
from clearing.transfers import state_name
from clearing import windows as window_states

log = logging.getLogger("fedmall.clearing")

PREFIX = "fedmall_clearing"
# Items per batch: one transfer up to fedmall.limits' batch maxima (a few thousand).
BATCH_ITEMS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# Reserve to decision: a payee answering at once (~10 ms) up to an expiry (minutes).
DECISION_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def new_registry(store: Store, streams: "OpenStreams", *, clock_ms: Callable[[], int]
                 ) -> tuple[CollectorRegistry, "HotPath", RpcMetrics]:
    """Every family the clearing exports: the state collector, the hot path's and the gRPC interceptor's."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # The standard process_ families: CPU, memory, open files, start time.
    registry.register(StateCollector(store, streams, clock_ms=clock_ms))
    return registry, HotPath(registry), RpcMetrics(registry, prefix=PREFIX)


class HotPath:
    """Counters and histograms the request path updates (clearing.servicer, clearing.transfers)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_seconds = Histogram(f"{PREFIX}_batch_seconds", "Time to handle one signed batch, by kind "
                                       "(prepare: check and reserve; decision: commit or abort)", ["kind"],
                                       buckets=LATENCY_BUCKETS_S, registry=registry)
        self.batch_items = Histogram(f"{PREFIX}_batch_items", "Items in one signed batch, by kind", ["kind"],
                                     buckets=BATCH_ITEMS_BUCKETS, registry=registry)
        self.results = Counter(f"{PREFIX}_results_total", "Items of signed batches by kind and result code "
                               "(refused prepares are counted here, they are never stored)", ["kind", "result"],
                               registry=registry)
        self.batches_refused = Counter(f"{PREFIX}_batches_refused_total", "Whole batches refused, by kind and "
                                       "result code", ["kind", "result"], registry=registry)
        # Per transfer, so a batch's worth at once (fedmall.batch_histogram).
        self.decided_seconds = BatchHistogram(f"{PREFIX}_transfer_decision_seconds", "Time from reserve to commit "
                                              "or abort of each transfer, by the state it ended in", ["state"],
                                              buckets=DECISION_BUCKETS_S, registry=registry)

    def batch(self, kind: str, *, items: int, seconds: float, results: Iterable[int]) -> None:
        self.batch_seconds.labels(kind).observe(seconds)
        self.batch_items.labels(kind).observe(items)
        counts: dict[int, int] = {}
        for result in results:
            counts[result] = counts.get(result, 0) + 1
        for result, count in counts.items():
            self.results.labels(kind, name_of(result)).inc(count)

    def refused(self, kind: str, result: int) -> None:
        self.batches_refused.labels(kind, name_of(result)).inc()

    def decided(self, decisions: Iterable[tuple[int, int]]) -> None:
        """(state, milliseconds from reserve to decision) of each transfer a batch decided."""
        by_state: dict[int, list[float]] = {}
        for state, waited_ms in decisions:
            by_state.setdefault(state, []).append(max(waited_ms, 0) / 1000)
        for state, seconds in by_state.items():
            self.decided_seconds.observe_many((state_name(state),), seconds)


class OpenStreams:
    """The delivery streams this process holds, and the newest sequence each has sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._sent: dict[str, int] = {}

    def opened(self, bank_id: str) -> None:
        with self._lock:
            self._open[bank_id] = self._open.get(bank_id, 0) + 1

    def closed(self, bank_id: str) -> None:
        with self._lock:
            self._open[bank_id] -= 1
            if not self._open[bank_id]:
                del self._open[bank_id]

    def sent(self, bank_id: str, sequence: int) -> None:
        with self._lock:
            self._sent[bank_id] = max(self._sent.get(bank_id, 0), sequence)

    def connected(self) -> list[str]:
        with self._lock:
            return sorted(self._open)

    def sent_sequences(self) -> dict[str, int]:
        with self._lock:
            return dict(self._sent)


def delivery_taken(*, issued: int, acknowledged: int, streamed: int) -> int:
    """The newest sequence a member's node has taken: its cursor when it last resumed its stream
    (acknowledged, in the database), or what an open stream of this process sent it since."""
    return min(max(acknowledged, streamed), issued)


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)


class StateCollector(Collector):
    """The clearing's state, read from its database in one snapshot at each scrape."""

    def __init__(self, store: Store, streams: OpenStreams, *, clock_ms: Callable[[], int]) -> None:
        self._store = store
        self._streams = streams
        self._clock_ms = clock_ms

    def collect(self):
        up = _gauge("database_up", "1 when the last scrape could read the database, else 0")
        try:
            with self._store.read() as connection:
                families = list(self._families(connection, now_ms=self._clock_ms()))
        except Exception as error:  # A scrape must answer even with the database gone.
            log.warning("metrics: cannot read the database (%s)", " ".join(str(error).split())[:300])
            up.add_metric([], 0)
            yield up
            yield from self._process_families()
            return
        up.add_metric([], 1)
        yield up
        yield from families
        yield from self._process_families()

    def _process_families(self):
        connected = _gauge("stream_connected", "1 for each member whose delivery stream this process holds",
                           ["bank"])
        for bank_id in self._streams.connected():
            connected.add_metric([bank_id], 1)
        conflicts = _gauge("conflicts_retried", "Transactions this process ran again after a deadlock or "
                           "serialization failure (PostgreSQL), since it started", ["outcome"])
        conflicts.add_metric(["retried"], CONFLICTS.retried)
        conflicts.add_metric(["exhausted"], CONFLICTS.exhausted)
        yield from (connected, conflicts)

    def _families(self, connection: sa.Connection, *, now_ms: int):
        yield self._transfers(connection)
        yield from self._participants(connection)
        yield from self._windows(connection, now_ms=now_ms)
        yield self._reconciliations(connection)
        audit = _gauge("audit_entries", "Entries in the hash-chained audit log (its head's sequence)")
        audit.add_metric([], connection.scalar(sa.select(audit_head.c.sequence)) or 0)
        yield audit
        yield self._certificates(connection, now_ms=now_ms)

    @staticmethod
    def _transfers(connection: sa.Connection) -> GaugeMetricFamily:
        family = _gauge("transfers", "Transfers stored, by state and result code (refused prepares are not "
                        "stored: see fedmall_clearing_results_total)", ["state", "result"])
        for row in connection.execute(sa.select(transfers.c.state, transfers.c.result, sa.func.count())
                                      .group_by(transfers.c.state, transfers.c.result)):
            family.add_metric([state_name(row[0]), name_of(row[1])], row[2])
        return family

    def _participants(self, connection: sa.Connection):
        amounts = {name: _gauge(f"{name}_minor", text, ["bank", "currency"]) for name, text in (
            ("position", "Net committed position in minor units (positive: the bank owes the others)"),
            ("reserved", "Reserved, undecided outgoing transfers in minor units"),
            ("net_debit_cap", "Net debit cap in minor units"),
            ("liquidity", "Prefunded liquidity in minor units"),
            ("headroom", "What the bank may still reserve: min(cap, liquidity - funds out reserved) - position "
                         "- reserved, in minor units"))}
        status = _gauge("participant_status", "1 for each member's status", ["bank", "status"])
        issued = _gauge("delivery_issued_sequence", "Newest sequence issued on the member's delivery stream",
                        ["bank"])
        acknowledged = _gauge("delivery_acknowledged_sequence", "Newest sequence the member's node has taken: "
                              "its cursor when it last resumed its stream, or what this process's open stream has "
                              "sent it since", ["bank"])
        lag = _gauge("delivery_lag", "Deliveries issued and not yet taken by the member's node", ["bank"])
        sent = self._streams.sent_sequences()
        for row in connection.execute(sa.select(participants).order_by(participants.c.bank_id)):
            labels = [row.bank_id, row.currency]
            headroom_minor = rules.headroom_minor(position_minor=row.position_minor, reserved_minor=row.reserved_minor,
                                                  net_debit_cap_minor=row.net_debit_cap_minor,
                                                  liquidity_minor=rules.available_liquidity_minor(row))
            for name, value in (("position", row.position_minor), ("reserved", row.reserved_minor),
                                ("net_debit_cap", row.net_debit_cap_minor), ("liquidity", row.liquidity_minor),
                                ("headroom", headroom_minor)):
                amounts[name].add_metric(labels, value)
            status.add_metric([row.bank_id, row.status], 1)
            taken = delivery_taken(issued=row.delivery_sequence, acknowledged=row.acknowledged_sequence,
                                   streamed=sent.get(row.bank_id, 0))
            issued.add_metric([row.bank_id], row.delivery_sequence)
            acknowledged.add_metric([row.bank_id], taken)
            lag.add_metric([row.bank_id], row.delivery_sequence - taken)
        yield from (*amounts.values(), status, issued, acknowledged, lag)

    @staticmethod
    def _windows(connection: sa.Connection, *, now_ms: int):
        by_state = _gauge("windows", "Settlement windows by state", ["state"])
        for state, count in connection.execute(sa.select(settlement_windows.c.state, sa.func.count())
                                               .group_by(settlement_windows.c.state)):
            by_state.add_metric([window_states.state_name(state)], count)
        open_window = connection.execute(sa.select(settlement_windows.c.window_id, settlement_windows.c.opened_at_ms)
                                         .where(settlement_windows.c.state == window_states.OPEN)).first()
        open_id = _gauge("window_open_id", "The id of the open settlement window")
        open_age = _gauge("window_open_age_seconds", "How long the open settlement window has been open")
        if open_window is not None:
            open_id.add_metric([], open_window.window_id)
            open_age.add_metric([], max(now_ms - open_window.opened_at_ms, 0) / 1000)
        yield from (by_state, open_id, open_age)

    @staticmethod
    def _reconciliations(connection: sa.Connection) -> GaugeMetricFamily:
        family = _gauge("reconciliation_answers", "Members' answers to the statements of windows pending "
                        "settlement: acknowledged, disputed, silent (awaited) or idle (none needed)", ["answer"])
        counts = dict.fromkeys((window_states.ACKNOWLEDGED, window_states.DISPUTED, window_states.SILENT,
                                window_states.IDLE), 0)
        pending = connection.scalars(sa.select(settlement_windows.c.window_id).where(
            settlement_windows.c.state == window_states.PENDING_SETTLEMENT)).all()
        for window_id in pending:
            for answer in window_states.WindowService._answers(connection, window_id):
                counts[answer.status] += 1
        for answer, count in counts.items():
            family.add_metric([answer], count)
        return family

    @staticmethod
    def _certificates(connection: sa.Connection, *, now_ms: int) -> GaugeMetricFamily:
        family = _gauge("certificate_expiry_seconds", "Seconds until each party's newest active certificate "
                        "expires (negative: expired)", ["role", "party"])
        for (role, party_id), entry in sorted(certificates.newest_by_party(certificates.listed(connection)).items()):
            family.add_metric([role, party_id], (entry.not_after_ms - now_ms) / 1000)
        return family
