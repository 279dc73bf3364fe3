"""A node's Prometheus families (docs/observability.md lists them with their meaning).

As at the clearing (clearing.metrics): state is read from the node's database at scrape
time (StateCollector), so it is right after a restart; rates and latencies are counted on
the request path (HotPath) through the hooks the services take in their constructors.
Labels are bounded: a status or state, another member bank's id, an internal account kind,
a currency; never a transfer, order or account id.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fedmall.batch_histogram import BatchHistogram
from fedmall.database import read_connection, sum_of
from fedmall.observability import certificate_not_after_ms
from fedmall.rpc_metrics import LATENCY_BUCKETS_S, RpcMetrics
from fedmall.v1 import node_pb2

from node.bank import store as bank_store
from node.bank.transfers import PENDING
from node.credit import store as credit_store
from node.market import store as market_store

log = logging.getLogger(__name__)

PREFIX = "fedmall_node"
BATCH_ITEMS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# Outbox to booked: a transfer decided at once (~0.1 s) up to its expiry (minutes).
BOOKED_BUCKETS_S = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def new_registry(engine: sa.Engine, *, stream_connected: Callable[[], bool], certificate_path: Path,
                 clock: Callable[[], float] = time.time) -> tuple[CollectorRegistry, "HotPath", RpcMetrics]:
    """Every family a node exports: the state collector, the hot path's and the gRPC interceptor's."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # The standard process_ families: CPU, memory, open files, start time.
    registry.register(StateCollector(engine, stream_connected=stream_connected, certificate_path=certificate_path,
                                     clock=clock))
    return registry, HotPath(registry), RpcMetrics(registry, prefix=PREFIX)


class HotPath:
    """Counters and histograms the services update through their hooks (node.server wires them)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.quote_seconds = Histogram(f"{PREFIX}_quote_seconds", "Time the payee's node took to quote a send "
                                       "(a peer call)", buckets=LATENCY_BUCKETS_S, registry=registry)
        self.outbox_batch_seconds = Histogram(f"{PREFIX}_outbox_batch_seconds", "Time to sign, submit and record "
                                              "one batch of prepares from the outbox", buckets=LATENCY_BUCKETS_S,
                                              registry=registry)
        self.outbox_batch_items = Histogram(f"{PREFIX}_outbox_batch_items", "Prepares in one batch submitted to "
                                            "the clearing", buckets=BATCH_ITEMS_BUCKETS, registry=registry)
        # Per transfer, so a delivery's worth at once (fedmall.batch_histogram).
        self.booked_seconds = BatchHistogram(f"{PREFIX}_transfer_booked_seconds", "Time from a send entering the "
                                             "outbox to its outcome booked here, by status", ["status"],
                                             buckets=BOOKED_BUCKETS_S, registry=registry)
        self.search_seconds = Histogram(f"{PREFIX}_search_seconds", "Time to answer a federated search",
                                        buckets=LATENCY_BUCKETS_S, registry=registry)
        self.search_not_answering = Counter(f"{PREFIX}_search_banks_not_answering_total", "Member banks that "
                                            "missed a federated search's deadline or failed, by bank", ["bank"],
                                            registry=registry)

    def submitted(self, items: int, seconds: float) -> None:
        self.outbox_batch_items.observe(items)
        self.outbox_batch_seconds.observe(seconds)

    def booked(self, outcomes: list[tuple[str, int]]) -> None:
        by_status: dict[str, list[float]] = {}
        for status, waited_ms in outcomes:
            by_status.setdefault(status, []).append(max(waited_ms, 0) / 1000)
        for status, seconds in by_status.items():
            self.booked_seconds.observe_many((status,), seconds)

    def searched(self, seconds: float, not_answering: list[str]) -> None:
        self.search_seconds.observe(seconds)
        for bank_id in not_answering:
            self.search_not_answering.labels(bank_id).inc()


class TimedQuoter:
    """The node's quoter (node.peers.PeerDirectory), each quote timed."""

    def __init__(self, quoter, histogram: Histogram) -> None:
        self._quoter = quoter
        self._histogram = histogram

    def quote(self, payee_bank_id: str, items: Sequence[node_pb2.QuoteItem]) -> list[node_pb2.QuoteResult]:
        with self._histogram.time():
            return self._quoter.quote(payee_bank_id, items)


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)


def _counted(family: GaugeMetricFamily, connection: sa.Connection, column: sa.Column) -> GaugeMetricFamily:
    for value, count in connection.execute(sa.select(column, sa.func.count()).group_by(column)):
        family.add_metric([str(value)], count)
    return family


class StateCollector(Collector):
    """The node's state, read from its database in one snapshot at each scrape."""

    def __init__(self, engine: sa.Engine, *, stream_connected: Callable[[], bool], certificate_path: Path,
                 clock: Callable[[], float] = time.time) -> None:
        """certificate_path: the node's tls.crt, read at each scrape (a renewal replaces it)."""
        self._engine = engine
        self._stream_connected = stream_connected
        self._certificate_path = certificate_path
        self._clock = clock

    def collect(self):
        up = _gauge("database_up", "1 when the last scrape could read the database, else 0")
        try:
            with read_connection(self._engine) as connection:
                families = list(self._families(connection, now_ms=int(self._clock() * 1000)))
        except Exception as error:  # A scrape must answer even with the database gone.
            log.warning("metrics: cannot read the database (%s)", " ".join(str(error).split())[:300])
            families = []
        up.add_metric([], 1 if families else 0)
        connected = _gauge("stream_connected", "1 while the delivery stream from the clearing is open")
        connected.add_metric([], 1 if self._stream_connected() else 0)
        expiry = _gauge("certificate_expiry_seconds", "Seconds until the node's own TLS certificate expires "
                        "(negative: expired)")
        not_after_ms = certificate_not_after_ms(self._certificate_path)
        if not_after_ms is not None:
            expiry.add_metric([], not_after_ms / 1000 - self._clock())
        yield from (up, connected, expiry, *families)

    def _families(self, connection: sa.Connection, *, now_ms: int):
        outgoing, incoming = bank_store.outgoing_transfers, bank_store.incoming_transfers
        yield _counted(_gauge("outgoing_transfers", "Transfers this bank sent, by status", ["status"]),
                       connection, outgoing.c.status)
        yield _counted(_gauge("incoming_transfers", "Transfers to this bank's customers, by status", ["status"]),
                       connection, incoming.c.status)
        backlog, oldest_ms = connection.execute(sa.select(sa.func.count(), sa.func.min(outgoing.c.created_at_unix_ms))
                                                .where(outgoing.c.status == PENDING)).one()
        yield _single("outbox_backlog", "Sends in the outbox not yet reserved at the clearing", backlog)
        yield _single("outbox_oldest_age_seconds", "Age of the oldest send waiting in the outbox (0: none)",
                      max(now_ms - oldest_ms, 0) / 1000 if oldest_ms else 0)
        yield _single("decisions_unsent", "Payee decisions not yet accepted by the clearing", connection.scalar(
            sa.select(sa.func.count()).where(incoming.c.decision_sent.is_(False))))
        yield _single("delivery_cursor", "Newest delivery-stream sequence applied to this node's books",
                      bank_store.read_cursor(connection))
        yield self._reconciliations(connection)
        yield self._balances(connection)
        yield _counted(_gauge("buyer_orders", "Orders of this bank's buyers, by state", ["state"]),
                       connection, market_store.buyer_orders.c.state)
        yield _counted(_gauge("seller_orders", "Orders of this bank's merchants, by state", ["state"]),
                       connection, market_store.seller_orders.c.state)
        yield from self._loans(connection)

    @staticmethod
    def _reconciliations(connection: sa.Connection) -> GaugeMetricFamily:
        table = bank_store.reconciliations
        family = _gauge("reconciliations", "This bank's answers to its statements: acknowledged or disputed, "
                        "and whether the clearing has taken them", ["answer", "sent"])
        counts: dict[tuple[str, str], int] = {}
        for break_count, sent, count in connection.execute(sa.select(table.c.break_count, table.c.sent, sa.func.count())
                                                           .group_by(table.c.break_count, table.c.sent)):
            key = ("disputed" if break_count else "acknowledged", "true" if sent else "false")
            counts[key] = counts.get(key, 0) + count
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        return family

    @staticmethod
    def _balances(connection: sa.Connection) -> GaugeMetricFamily:
        """The internal accounts (@clearing equals the clearing's position for this bank once booked)."""
        accounts = bank_store.accounts
        family = _gauge("internal_balance_minor", "Balance of each internal account (@clearing, @escrow, "
                        "@lending...) in minor units", ["account", "currency"])
        for row in connection.execute(sa.select(accounts.c.account_id, accounts.c.currency, accounts.c.balance_minor)
                                      .where(accounts.c.internal, accounts.c.balance_minor != 0)):
            family.add_metric([row.account_id.split("/", 1)[0], row.currency], row.balance_minor)
        return family

    @staticmethod
    def _loans(connection: sa.Connection):
        loans = credit_store.loans
        by_status = _gauge("loans", "Loans to this bank's merchants, by status", ["status"])
        book = _gauge("loan_book_minor", "The loan book in minor units: principal lent, repaid and outstanding, "
                      "by currency", ["currency", "amount"])
        for row in connection.execute(sa.select(loans.c.status, sa.func.count()).group_by(loans.c.status)):
            by_status.add_metric([row[0]], row[1])
        for row in connection.execute(sa.select(loans.c.currency, sum_of(loans.c.principal_minor),
                                                sum_of(loans.c.repaid_minor), sum_of(loans.c.outstanding_minor))
                                      .group_by(loans.c.currency)):
            for index, amount in enumerate(("principal", "repaid", "outstanding"), start=1):
                book.add_metric([row[0], amount], row[index] or 0)
        yield from (by_status, book)


def _single(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = _gauge(name, documentation)
    family.add_metric([], value or 0)
    return family
