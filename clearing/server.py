"""Assemble and run the clearing: store, registry, transfer service, gRPC, expiry sweeper, and the
HTTP listener for metrics, health and status (fedmall.observability)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from fedmall import budgets, logs, observability, pki, revocation, tls
from fedmall.readiness import DatabaseCheck, ReadinessWatch
from fedmall.pki import Identity
from fedmall.config_file import ConfigError, load_tls
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc

from clearing import certificates, limits
from clearing.config import ClearingConfig
from clearing.console import views as console_views
from clearing.console.app import ConsoleApp
from clearing.console.server import ConsoleServer, tls_context
from clearing.deliveries import DeliveryBell
from clearing.funds import FundsService
from clearing.metrics import OpenStreams, new_registry
from clearing.registry import Registry
from clearing.servicer import ClearingAdminServicer, ClearingServicer, MembershipGate, StorageFailures
from clearing.store import MIGRATIONS, Store
from clearing.transfers import TransferService
from clearing.windows import WindowService

log = logging.getLogger("fedmall.clearing")
# Each member holds one thread with its delivery stream; the rest serve unary calls.
SERVER_THREADS = 64
SHUTDOWN_GRACE_S = 5.0
WINDOW_CHECK_INTERVAL_S = 0.5


def is_operator(identity: Identity | None) -> bool:
    """The operator's certificate is not metered: no member can starve the operator's calls."""
    return identity is not None and identity.role == "operator"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Clearing:
    """A running clearing. start() binds and returns the port; stop() shuts down cleanly."""
    config: ClearingConfig
    clock_ms: Callable[[], int] = wall_clock_ms
    certificate_check_interval_s: float = limits.certificate_check_interval_s
    store: Store = field(init=False)
    registry: Registry = field(init=False)
    transfers: TransferService = field(init=False)
    windows: WindowService = field(init=False)
    funds: FundsService = field(init=False)
    port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        # Key files first: a broken home is refused before the database is touched.
        signing_key = self.config.signing_key()
        self._tls = load_tls(self.config.home)
        problem = pki.party_name_problem(self._tls.certificate_pem, pki.CLEARING)
        if problem is not None:  # Every client would refuse it: say so now, not on each of their calls.
            raise ConfigError(f"{self.config.home / 'tls.crt'}: {problem}: fedmall-clearing --home "
                              f"{self.config.home} certificates renew clearing (docs/certificates.md)")
        self.store = Store.open(self.config.database_url)
        # Certificates are real: their validity is checked against the wall clock, not clock_ms.
        certificates.record_home(self.store, self.config.home, now_ms=wall_clock_ms())
        self.refused_certificates = revocation.CachedRefusals(
            self._refused_fingerprints, max_age_ms=limits.refused_certificates_cache_ms)
        self.registry = Registry(self.store, clock_ms=self.clock_ms)
        self._bell = DeliveryBell()
        # Metrics: state read from the database at each scrape, rates counted on the request path.
        self.streams = OpenStreams()
        self.metrics_registry, self._hot_path, rpc_metrics = new_registry(self.store, self.streams,
                                                                          clock_ms=wall_clock_ms)
        self.transfers = TransferService(self.store, self.registry, clearing_key=signing_key,
                                         bell=self._bell, clock_ms=self.clock_ms, on_decided=self._hot_path.decided)
        self.windows = WindowService(self.store, self.registry, clearing_key=signing_key, bell=self._bell,
                                     clock_ms=self.clock_ms)
        self.funds = FundsService(self.store, clearing_key=signing_key, clock_ms=self.clock_ms)
        self._stopping = threading.Event()
        # In this order: a storage failure anywhere is UNAVAILABLE; a revoked certificate is refused
        # first, then a call over its member's budget (fedmall.budgets), then a member whose status
        # does not allow the call: all before any servicer runs, so a refused call writes nothing.
        self.budgets = budgets.MemberBudgets(self.config.budget, server="the clearing", exempt=is_operator)
        self._server = tls.new_server(threads=SERVER_THREADS, interceptors=[
            rpc_metrics, StorageFailures(), revocation.RefuseRevoked(self.refused_certificates.is_refused),
            self.budgets, MembershipGate(self.registry)])
        clearing_pb2_grpc.add_ClearingServiceServicer_to_server(
            ClearingServicer(self.store, self.registry, self.transfers, self.windows, self._bell,
                             stopping=self._stopping, hot_path=self._hot_path, streams=self.streams),
            self._server)
        clearing_pb2_grpc.add_ClearingAdminServiceServicer_to_server(ClearingAdminServicer(self.registry, self.funds, self.windows),
                                                                 self._server)
        services = [d.full_name for d in clearing_pb2.DESCRIPTOR.services_by_name.values()]
        health = tls.add_health_and_reflection(self._server, services)
        # Ready: the database answers at the newest schema; the gRPC health check follows it.
        self.readiness = ReadinessWatch(health, services, [DatabaseCheck(self.store.engine, MIGRATIONS)])
        self.observability = None
        if self.config.metrics.enabled:
            self.observability = observability.ObservabilityServer(
                listen_address=self.config.metrics.listen_address, registry=self.metrics_registry,
                readiness=self.readiness.problems, home=self.config.home,
                status=observability.ProcessFacts(role="clearing", party_id=pki.CLEARING.party_id,
                                                  readiness=self.readiness.problems, extra=self._live_facts))
        self.console = self._console() if self.config.console is not None else None
        self._sweeper = threading.Thread(target=self._sweep, name="expiry-sweeper", daemon=True)
        self._scheduler = threading.Thread(target=self._schedule_windows, name="window-scheduler", daemon=True)
        self._certificate_watch = threading.Thread(target=self._watch_certificates, name="certificate-watch",
                                                   daemon=True)

    def _console(self) -> ConsoleServer:
        """The operator's web console ([console] in fedmall.toml), on the same services as gRPC."""
        settings = self.config.console
        app = ConsoleApp(settings, console_views.Services(store=self.store, registry=self.registry,
                                                          windows=self.windows, funds=self.funds),
                         clock_ms=self.clock_ms, certificate_refused=self.refused_certificates.is_refused)
        return ConsoleServer(app, tls=tls_context(self.config.home, self._tls.ca_pem) if settings.uses_tls else None)

    def start(self) -> int:
        # A renewed certificate or a new trust bundle in the home is used from the next connection on.
        credentials = tls.reloading_server_credentials(self.config.home, self._tls, server=pki.CLEARING)
        self.port = self._server.add_secure_port(self.config.listen_address, credentials)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.listen_address}")
        if self.console is not None:  # Before gRPC serves: a console that cannot listen stops the start.
            self.console.start()
        self._server.start()
        self.readiness.start()
        if self.observability is not None:
            self.observability.start()
        self._sweeper.start()
        self._scheduler.start()
        self._certificate_watch.start()
        log.info("clearing listening on port %d", self.port)
        return self.port

    def _live_facts(self) -> dict:
        """What only this process knows, for the status command."""
        return {"connected_members": self.streams.connected(), "streamed_sequences": self.streams.sent_sequences(),
                "grpc_port": self.port}

    def _refused_fingerprints(self) -> set[str]:
        with self.store.read() as connection:
            return {entry.sha256 for entry in certificates.refused(connection, now_ms=wall_clock_ms())}

    def log_certificate_expiry(self) -> list[str]:
        """Warn of every party whose newest certificate expires within 30 days (or has)."""
        with self.store.read() as connection:
            warnings = certificates.expiry_warnings(certificates.listed(connection), now_ms=wall_clock_ms())
        for warning in warnings:
            log.warning("certificate: %s", warning)
        return warnings

    def _watch_certificates(self) -> None:
        """The expiry warnings at start, then every certificate_check_interval_s while serving."""
        while True:
            try:
                self.log_certificate_expiry()
            except Exception:  # The watch must outlive a transient database error.
                log.exception("certificate expiry check failed; retrying")
            if self._stopping.wait(self.certificate_check_interval_s):
                return

    def _sweep(self) -> None:
        """Abort expired reservations, also those left from before a restart."""
        interval_s = self.config.expiry_sweep_ms / 1000
        while not self._stopping.wait(interval_s):
            try:
                while (expired := self.transfers.expire_due()) > 0:
                    log.info("expired %d reserved transfers", expired, extra=logs.fields(transfers=expired))
            except Exception:  # The sweeper must outlive a transient database error.
                log.exception("expiry sweep failed; retrying")

    def _schedule_windows(self) -> None:
        """Close the window every window_close_interval_s (0: only the operator closes), and
        issue the report and statements of any closed window, also one left by a crash."""
        interval_ms = self.config.window_close_interval_s * 1000
        while not self._stopping.wait(WINDOW_CHECK_INTERVAL_S):
            try:
                if interval_ms and (closed := self.windows.close(open_for_ms_min=interval_ms)):
                    log.info("closed settlement window %d on schedule; window %d is open", *closed,
                             extra=logs.fields(window_id=closed[0], open_window_id=closed[1]))
                for window_id in self.windows.issue_closed():
                    log.info("issued report and statements of window %d", window_id,
                             extra=logs.fields(window_id=window_id))
            except Exception:  # The scheduler must outlive a transient database error.
                log.exception("window scheduling failed; retrying")

    def stop(self) -> None:
        """Stop taking calls, let in-flight ones finish (each is one transaction), close."""
        self._stopping.set()
        if self.console is not None:
            self.console.stop()
        if self.observability is not None:
            self.observability.stop()
        self.readiness.stop()
        self._server.stop(SHUTDOWN_GRACE_S).wait()
        for thread in (self._sweeper, self._scheduler, self._certificate_watch):
            if thread.is_alive():
                thread.join()
        self.store.close()
