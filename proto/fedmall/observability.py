"""The HTTP listener beside each server's gRPC port: Prometheus metrics, health and status.

    GET /metrics   the process's metric families (prometheus_client text format)
    GET /healthz   200 "ok" while the process serves at all (liveness)
    GET /readyz    200 "ready", or 503 with one line per problem (fedmall.readiness)
    GET /status    the running process's own facts as JSON: version, start time, readiness,
                   and what only it knows (open streams); the status commands read it

Configured by [metrics] in the process's fedmall.toml (read by clearing.config and node.config):

    [metrics]  enabled = true                    (false: no listener at all)
               listen_address = "127.0.0.1:0"    (loopback by default; port 0 picks a free one)

The bound address is logged and written to metrics.address in the home folder while the
process runs, so the status commands, scripts and tests find it when the port was 0.
Everything here is read-only: a scrape or a status request changes nothing.
"""
from __future__ import annotations

import http.server
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from cryptography import x509
from prometheus_client import CollectorRegistry, disable_created_metrics, exposition

from fedmall.bounded_http import BoundedHTTPServer
from fedmall.config_file import ConfigError, Section, TomlFile

log = logging.getLogger("fedmall.observability")
# No <family>_created series: Prometheus needs none of them, and they double what a scrape reads.
disable_created_metrics()

SECTION = "metrics"
KEYS = frozenset({"enabled", "listen_address"})
LISTEN_ADDRESS_DEFAULT = "127.0.0.1:0"
ADDRESS_FILE = "metrics.address"
STATUS_TIMEOUT_S = 2.0
REQUESTS_IN_FLIGHT_MAX = 8
REQUEST_TIMEOUT_S = 10.0
STOP_POLL_S = 0.05  # How soon stop() returns: the serving loop looks for it this often.


def version() -> str:
    """The installed Fedmall's version (pyproject.toml), or 'unknown' when run from a bare tree."""
    try:
        return metadata.version("fedmall")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = True
    listen_address: str = LISTEN_ADDRESS_DEFAULT


def read_settings(file: TomlFile) -> MetricsSettings:
    """[metrics] of a fedmall.toml; absent: on, on loopback, a free port."""
    values = file.document.get(SECTION, {})
    if not isinstance(values, dict):
        raise ConfigError(f"{file.path}: [{SECTION}] must be a table")
    section = Section(path=file.path, name=SECTION, values=values)
    enabled = section.boolean("enabled", default=True)
    address = section.text("listen_address", required=False) or LISTEN_ADDRESS_DEFAULT
    split_address(address, where=f"{file.path}: [{SECTION}].listen_address")
    return MetricsSettings(enabled=enabled, listen_address=address)


def split_address(address: str, *, where: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where} must be host:port (port 0..65535), not {address!r}")
    return host.strip("[]"), int(port)


class ObservabilityServer:
    """One small threaded HTTP server; start() binds and returns 'host:port', stop() closes it."""

    def __init__(self, *, listen_address: str, registry: CollectorRegistry, readiness: Callable[[], list[str]],
                 status: Callable[[], dict], home: Path) -> None:
        self._listen_address = listen_address
        self._registry = registry
        self._readiness = readiness
        self._status = status
        self._address_file = home / ADDRESS_FILE
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.address = ""

    def start(self) -> str:
        host, port = split_address(self._listen_address, where="[metrics].listen_address")
        try:
            self._server = BoundedHTTPServer((host, port), self._handler_class(),
                                             requests_in_flight_max=REQUESTS_IN_FLIGHT_MAX)
        except OSError as error:
            raise ConfigError(f"[{SECTION}].listen_address {self._listen_address}: cannot listen there "
                              f"({error.strerror or error}); set another, or enabled = false") from None
        bound_host, bound_port = self._server.server_address[:2]
        self.address = f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL_S},
                                        name="observability-http", daemon=True)
        self._thread.start()
        self._address_file.write_text(self.address + "\n")
        log.info("metrics, health and status on http://%s (/metrics /healthz /readyz /status)", self.address)
        return self.address

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        try:  # Another process serving from the same home (docs/scale-out.md) may have written it since.
            if self._address_file.read_text().strip() == self.address:
                self._address_file.unlink()
        except FileNotFoundError:
            pass

    def _handler_class(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S

            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, content_type = exposition.generate_latest(owner._registry), exposition.CONTENT_TYPE_LATEST
                    self._answer(200, body, content_type)
                elif path == "/healthz":
                    self._answer(200, b"ok\n")
                elif path == "/readyz":
                    problems = owner._readiness()
                    self._answer(503 if problems else 200,
                                 ("".join(f"{p}\n" for p in problems) or "ready\n").encode())
                elif path == "/status":
                    self._answer(200, json.dumps(owner._status(), sort_keys=True).encode(), "application/json")
                else:
                    self._answer(404, b"not found: /metrics /healthz /readyz /status\n")

            def _answer(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass  # Scrapes every few seconds would drown the process's own log.

        return Handler


class ProcessFacts:
    """What a running process says about itself on /status, beside its readiness."""

    def __init__(self, *, role: str, party_id: str, readiness: Callable[[], list[str]],
                 extra: Callable[[], dict] = dict, clock: Callable[[], float] = time.time) -> None:
        self._role, self._party_id = role, party_id
        self._readiness = readiness
        self._extra = extra
        self._clock = clock
        self.started_at_s = clock()

    def __call__(self) -> dict:
        problems = self._readiness()
        return {"role": self._role, "party_id": self._party_id, "version": version(),
                "started_at_ms": int(self.started_at_s * 1000), "uptime_s": int(self._clock() - self.started_at_s),
                "ready": not problems, "problems": problems, **self._extra()}


def certificate_not_after_ms(path: Path) -> int | None:
    """When the PEM certificate at path expires (ms since the epoch); None when it cannot be read."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return int(certificate.not_valid_after_utc.timestamp() * 1000)


def running_status(home: Path) -> tuple[dict | None, str]:
    """The /status of the process serving from home, or (None, why not): it is not running, or
    runs without the metrics listener, or does not answer."""
    try:
        address = (home / ADDRESS_FILE).read_text().strip()
    except FileNotFoundError:
        return None, "not running (or running with [metrics] enabled = false): no metrics.address in the home"
    try:
        with urllib.request.urlopen(f"http://{address}/status", timeout=STATUS_TIMEOUT_S) as answer:
            return json.loads(answer.read()), address
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return None, f"not running: nothing answers at http://{address}/status ({reason}); metrics.address is stale"
