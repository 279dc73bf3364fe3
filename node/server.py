"""Build and run a node: gRPC servers, background workers, clean shutdown.

    node = build_node(load_config(home))
    port = node.start()       # serving NodeService + PeerService, workers running
    ...
    node.stop()               # stop accepting, let in-flight calls finish, stop workers, close

Beside the gRPC port, [metrics] opens the HTTP listener of fedmall.observability: the
families of node.metrics, /healthz, /readyz (the database, its schema and the delivery
stream) and /status; the gRPC health service follows the same readiness.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Callable

import grpc

from fedmall.envelope import VerificationKey
from fedmall.config_file import load_file, load_tls
from fedmall import observability, pki
from fedmall.readiness import DatabaseCheck, ReadinessWatch
from fedmall.pki import Identity, TlsCredentials, load_public_key_pem
from fedmall.budgets import MemberBudgets
from fedmall.revocation import RefuseRevoked
from fedmall.tls import (
    add_health_and_reflection, failure_text, is_wrong_server, new_server, reloading_server_credentials, secure_channel,
    wrong_server_text)
from fedmall.v1 import (
    clearing_pb2_grpc, credit_pb2, credit_pb2_grpc, marketplace_pb2, marketplace_pb2_grpc, node_pb2, node_pb2_grpc)

from node import budgets, certificates, limits, metrics, store
from node.callers import peer_gate
from node.bank import store as bank_store
from node.bank.accounts import AccountService
from node.bank.decisions import DecisionSubmitter
from node.bank.deliveries import DatabaseBehind, DeliveryApplier, DeliveryConsumer
from node.bank.fulfilment import load_or_create_key
from node.bank.notices import NoticeService
from node.bank.outbox import OutboxSubmitter
from node.bank.reconciliations import ReconciliationSubmitter
from node.bank.servicer import NodeServicer, PeerServicer
from node.bank.settlement import SettlementService
from node.bank.transfers import Quoter, TransferService
from node.config import ConfigError, NodeConfig
from node.credit.consumer_policy import load_consumer_policy
from node.credit.instalments import InstalmentService
from node.credit.lending import LendingService
from node.credit.policy import PolicyError, load_policy
from node.credit.repayments import RepaymentFromSales
from node.credit.servicer import CreditServicer
from node.market.buyer_orders import BuyerOrderService
from node.market.catalogue import CatalogueService
from node.market.merchants import MerchantService
from node.market.product_import import ProductImport
from node.market.order_lists import OrderLists
from node.market.reviews import ReviewService
from node.market.order_events import OrderEventSender
from node.market.seller_orders import ReservationRules, SellerOrderService
from node.market.servicer import MarketplacePeerServicer, MarketplaceServicer
from node.peers import PeerDirectory
from node.revocation import RevocationWatch
from node.worker import Worker

log = logging.getLogger(__name__)

SERVICE_NAMES = [
    node_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name,
    node_pb2.DESCRIPTOR.services_by_name["PeerService"].full_name,
    marketplace_pb2.DESCRIPTOR.services_by_name["MarketplaceService"].full_name,
    marketplace_pb2.DESCRIPTOR.services_by_name["MarketplacePeerService"].full_name,
    credit_pb2.DESCRIPTOR.services_by_name["CreditService"].full_name,
]


class Node:
    """A running (or ready to run) bank node. Build it with build_node."""

    def __init__(self, *, config: NodeConfig, engine, server: grpc.Server, health, tls: TlsCredentials,
                 accounts: AccountService, transfers: TransferService, notices: NoticeService,
                 settlement: SettlementService, workers: list[Worker], consumer: DeliveryConsumer,
                 closers: list[Callable[[], None]], merchants: MerchantService | None = None,
                 catalogue: CatalogueService | None = None, seller_orders=None, buyer_orders=None,
                 lending: LendingService | None = None, instalments: InstalmentService | None = None,
                 readiness: ReadinessWatch | None = None,
                 observability_server: observability.ObservabilityServer | None = None) -> None:
        self.config = config
        self.readiness = readiness
        self.observability = observability_server
        self.engine = engine
        self.accounts = accounts
        self.transfers = transfers
        self.notices = notices
        self.settlement = settlement
        self.merchants = merchants
        self.catalogue = catalogue
        self.seller_orders = seller_orders
        self.buyer_orders = buyer_orders
        self.lending = lending
        self.instalments = instalments
        self.port = 0
        self._server = server
        self._health = health
        self._tls = tls
        self._workers = workers
        self._consumer = consumer
        self._closers = closers
        self._stopped = threading.Event()

    def start(self, *, workers: bool = True) -> int:
        """Bind [node].listen_address (port 0 picks one), serve, start the workers; the bound port."""
        # A certificate or trust bundle installed in the home is used from the next connection on.
        self.port = self._server.add_secure_port(self.config.listen_address, reloading_server_credentials(
            self.config.home, self._tls, server=Identity(self.config.bank_id, "bank")))
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.listen_address}")
        if workers:
            self._check_database()
        self._server.start()
        if workers:
            for worker in self._workers:
                worker.start()
        if self.readiness is not None:
            self.readiness.start()
        if self.observability is not None:
            self.observability.start()
        log.info("node %s listening on port %d", self.config.bank_id, self.port)
        warning = certificates.expiry_warning(self._tls.certificate_pem, now=dt.datetime.now(dt.timezone.utc))
        if warning:
            log.warning("%s", warning)
        return self.port

    def _check_database(self) -> None:
        """Refuse to start on a database behind what the bank acknowledged to the clearing."""
        try:
            self._consumer.check_database()
        except DatabaseBehind as error:
            raise ConfigError(f"{error}. Restore the bank's database, or start with --accept-database-behind to "
                              "replay the stream onto this one (its answers to windows already answered will "
                              "be refused)") from None
        except grpc.RpcError as error:
            if is_wrong_server(error):
                log.error("%s; this node calls the clearing at [clearing].address in %s", wrong_server_text(
                    self.config.clearing_address, pki.CLEARING), self.config.home / "fedmall.toml")
            log.warning("cannot check the database against the clearing yet (%s); the delivery stream checks "
                        "before it applies anything", failure_text(error))

    def stop(self, *, grace_s: float = 5.0) -> None:
        """Stop accepting calls, finish in-flight ones, stop the workers, close everything."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.observability is not None:
            self.observability.stop()
        if self.readiness is not None:
            self.readiness.stop()
        self._health.enter_graceful_shutdown()
        self._server.stop(grace_s).wait()
        self._consumer.stop()
        for worker in self._workers:
            worker.stop()
        for close in self._closers:
            close()


def build_node(config: NodeConfig, *, clock: Callable[[], float] = time.time,
               clearing_channel: grpc.Channel | None = None, quoter: Quoter | None = None,
               accept_database_behind: bool = False) -> Node:
    """Wire a node from its configuration. The clearing channel and quoter can be handed in (tests).
    accept_database_behind: the operator accepts replaying the stream onto a database behind
    what the bank acknowledged (node.bank.deliveries)."""
    tls = load_tls(config.home)
    own_problem = pki.party_name_problem(tls.certificate_pem, Identity(config.bank_id, "bank"))
    if own_problem is not None:
        raise ConfigError(f"{config.home / 'tls.crt'}: {own_problem} (fedmall-node csr --home {config.home}, the "
                          f"operator runs fedmall-clearing certificates renew bank {config.bank_id} --csr REQUEST "
                          "--out DIR, then fedmall-node install-certificate; docs/certificates.md)")
    try:
        credit_policy = load_policy(config.credit_policy_path) if config.credit_policy_path else None
    except PolicyError as error:
        raise ConfigError(f"[node].credit_policy: {error}") from None
    try:
        consumer_policy = (load_consumer_policy(config.consumer_credit_policy_path)
                           if config.consumer_credit_policy_path else None)
    except PolicyError as error:
        raise ConfigError(f"[node].consumer_credit_policy: {error}") from None
    signing_key = config.signing_key()
    clearing_key = VerificationKey(
        key_id=config.clearing_signing_key_id, owner="clearing",
        public_key=load_file(config.clearing_public_key_path, "the clearing's Ed25519 public key (PEM)",
                             load_public_key_pem))
    try:
        fulfilment_key = load_or_create_key(config.fulfilment_secret_path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{config.fulfilment_secret_path}: {error}") from None

    engine = store.open_database(config.database_url)
    with engine.begin() as connection:
        bank_store.ensure_internal_accounts(connection, now_ms=int(clock() * 1000))

    channel = clearing_channel or secure_channel(config.clearing_address, tls, server=pki.CLEARING)
    clearing = clearing_pb2_grpc.ClearingServiceStub(channel)
    peers = PeerDirectory(clearing, tls=tls, clock=clock)
    revocations = RevocationWatch(clearing)

    workers: dict[str, Worker] = {}
    # Metrics: state read from the database at each scrape, rates counted through the services' hooks.
    registry, hot_path, rpc_metrics = metrics.new_registry(  # The consumer is built below, before any scrape.
        engine, stream_connected=lambda: consumer.connected, certificate_path=config.home / "tls.crt", clock=clock)
    # Merchant credit takes its share of every sale credited to a borrower (node.credit.repayments).
    repayments = RepaymentFromSales()
    accounts = AccountService(engine, clock=clock)
    transfers = TransferService(
        engine, bank_id=config.bank_id, fulfilment_key=fulfilment_key,
        quoter=metrics.TimedQuoter(quoter or peers, hot_path.quote_seconds), clock=clock,
        transfer_expiry_ms=config.transfer_expiry_ms, on_outbox_written=lambda: workers["outbox"].wake(),
        share_party_names=config.share_party_names)
    notices = NoticeService(engine, bank_id=config.bank_id, fulfilment_key=fulfilment_key, clock=clock,
                            settlement_credit_hook=repayments, on_booked=hot_path.booked,
                            on_outgoing_committed=lambda connection, transfer_ids, now_ms: orders_committed(
                                connection, transfer_ids, now_ms))
    settlement = SettlementService(engine, bank_id=config.bank_id, signing_key=signing_key, clock=clock)
    outbox = OutboxSubmitter(transfers, clearing, signing_key, on_submitted=hot_path.submitted)
    decisions = DecisionSubmitter(notices, clearing, signing_key)
    reconciliations = ReconciliationSubmitter(settlement, clearing)
    consumer = DeliveryConsumer(
        DeliveryApplier(engine, notices=notices, settlement=settlement, clock=clock), clearing,
        bank_id=config.bank_id, keys=lambda key_id: clearing_key if key_id == clearing_key.key_id else None,
        on_decisions=lambda: workers["decisions"].wake(),
        on_reconciliations=lambda: workers["reconciliations"].wake(), check_database=not accept_database_behind,
        on_connection_change=lambda: readiness.update())  # Built below; the stream starts after build_node.
    merchants = MerchantService(engine, bank_id=config.bank_id, clock=clock)
    catalogue = CatalogueService(engine, bank_id=config.bank_id, peers=peers, deadline_ms=config.search_deadline_ms,
                                 on_searched=hot_path.searched)
    seller_orders = SellerOrderService(
        engine, bank_id=config.bank_id, transfers=transfers, clock=clock, keys=peers.signing_key,
        rules=ReservationRules(hold_s=config.reservation_hold_s,
                               per_buyer_bank_max=config.reservations_per_buyer_bank_max,
                               units_per_buyer_bank_max=config.reserved_units_per_buyer_bank_max),
        cancelled_unplaced_per_bank_max=config.cancelled_unplaced_per_bank_max,
        on_event_written=lambda: workers["order-events"].wake())
    reviews = ReviewService(engine, bank_id=config.bank_id, peers=peers, signing_key=signing_key,
                            keys=peers.signing_key, clock=clock)
    # Checkouts in instalments are financed by this bank's consumer credit (node.credit.instalments).
    instalments = InstalmentService(engine, policy=consumer_policy, clock=clock)
    buyer_orders = BuyerOrderService(engine, bank_id=config.bank_id, peers=peers, transfers=transfers, clock=clock,
                                     auto_confirm_after_s=config.auto_confirm_after_s, settlement_credit_hook=repayments,
                                     signing_key=signing_key, on_event_written=lambda: workers["order-events"].wake(),
                                     financing=instalments)

    lending = LendingService(engine, bank_id=config.bank_id, policy=credit_policy, clock=clock)

    def orders_committed(connection, transfer_ids, now_ms) -> None:
        """Outgoing transfers committed (in the delivery's transaction): releases and refunds."""
        if buyer_orders.release_committed(connection, transfer_ids, now_ms=now_ms) | seller_orders.refund_committed(
                connection, transfer_ids, now_ms=now_ms):
            workers["order-events"].wake()  # Polling covers a wake that comes before the commit.

    def order_timers() -> bool:
        more = buyer_orders.auto_confirm_step()
        buyer_orders.release_step()
        buyer_orders.recover_step()
        seller_orders.watch_refunds()
        reviews.deliver_step()
        return seller_orders.expire_step() | more

    order_event_sender = OrderEventSender(
        engine, peers=peers, clock=clock, on_answered=lambda connection, event, code: buyer_orders.event_answered(
            connection, event, code, now_ms=int(clock() * 1000)))
    workers["outbox"] = Worker(f"{config.bank_id}-outbox", outbox.step)
    workers["decisions"] = Worker(f"{config.bank_id}-decisions", decisions.step)
    workers["reconciliations"] = Worker(f"{config.bank_id}-reconciliations", reconciliations.step)
    workers["deliveries"] = Worker(f"{config.bank_id}-deliveries", consumer.step)
    workers["order-events"] = Worker(f"{config.bank_id}-order-events", order_event_sender.step)
    workers["orders"] = Worker(f"{config.bank_id}-orders", order_timers)
    workers["revocations"] = Worker(f"{config.bank_id}-revocations", revocations.step,
                                    poll_ms=limits.revocation_refresh_ms)
    workers["loan-review"] = Worker(f"{config.bank_id}-loan-review", lending.review_step,
                                    poll_ms=limits.loan_review_poll_ms)
    workers["instalments"] = Worker(f"{config.bank_id}-instalments", instalments.collect_step,
                                    poll_ms=limits.instalment_collection_poll_ms)

    # Every call with a certificate the clearing revoked is refused (node.revocation), then every
    # other member's call is paid for from its budget (node.budgets), and refused from a bank that
    # is not an ACTIVE participant (node.callers), before any servicer runs.
    member_budgets = MemberBudgets(config.budget, server=f"{config.bank_id}'s node",
                                   exempt=budgets.not_metered(config.bank_id))
    server = new_server(threads=limits.server_threads, interceptors=[
        rpc_metrics, RefuseRevoked(revocations.refused.is_refused), member_budgets,
        peer_gate(peers)])
    node_pb2_grpc.add_NodeServiceServicer_to_server(
        NodeServicer(bank_id=config.bank_id, accounts=accounts, transfers=transfers), server)
    node_pb2_grpc.add_PeerServiceServicer_to_server(PeerServicer(transfers=transfers), server)
    marketplace_pb2_grpc.add_MarketplaceServiceServicer_to_server(
        MarketplaceServicer(bank_id=config.bank_id, merchants=merchants, catalogue=catalogue,
                            seller_orders=seller_orders, buyer_orders=buyer_orders,
                            product_import=ProductImport(engine, clock=clock),
                            order_lists=OrderLists(engine, bank_id=config.bank_id), reviews=reviews), server)
    marketplace_pb2_grpc.add_MarketplacePeerServiceServicer_to_server(
        MarketplacePeerServicer(catalogue=catalogue, seller_orders=seller_orders, buyer_orders=buyer_orders,
                                reviews=reviews), server)
    credit_pb2_grpc.add_CreditServiceServicer_to_server(CreditServicer(bank_id=config.bank_id, lending=lending, instalments=instalments), server)
    health = add_health_and_reflection(server, SERVICE_NAMES)
    readiness = ReadinessWatch(health, SERVICE_NAMES, [DatabaseCheck(engine, store.MIGRATIONS),
                                                      lambda: None if consumer.connected else
                                                      "the delivery stream from the clearing is not connected"])
    observability_server = None
    if config.metrics.enabled:
        observability_server = observability.ObservabilityServer(
            listen_address=config.metrics.listen_address, registry=registry, readiness=readiness.problems,
            home=config.home, status=observability.ProcessFacts(
                role="bank", party_id=config.bank_id, readiness=readiness.problems,
                extra=lambda: {"stream_connected": consumer.connected, "clearing_address": config.clearing_address}))

    closers = [catalogue.close, buyer_orders.close, peers.close, engine.dispose]
    if clearing_channel is None:
        closers.insert(0, channel.close)
    return Node(config=config, engine=engine, server=server, health=health, tls=tls, accounts=accounts,
                transfers=transfers, notices=notices, settlement=settlement, workers=list(workers.values()),
                consumer=consumer, closers=closers, merchants=merchants, catalogue=catalogue,
                seller_orders=seller_orders, buyer_orders=buyer_orders, lending=lending, instalments=instalments,
                readiness=readiness, observability_server=observability_server)


__all__ = ["Node", "build_node", "SERVICE_NAMES"]
