"""The clearing's configuration: fedmall.toml in its home folder, environment overrides.

    [identity]  party_id = "clearing", role = "clearing", signing_key_id = "clearing/k1"
    [clearing]  listen_address = "127.0.0.1:7000", database_url = ""  (empty: clearing.db in home)
                expiry_sweep_ms = 200
                window_close_interval_s = 0  (0: windows close only when the operator says;
                                              else every so many seconds, at most a week)
    [budget]    what each member bank may ask of the clearing (fedmall.budgets; optional, every key
                defaults; the operator's certificate and health checks are not metered):
                requests_per_s = 200, requests_burst = 400
                request_bytes_per_s = 1048576, request_bytes_burst = 4259840 (at least that: the
                                              largest envelope with its framing)
                calls_in_flight_max = 32     (of the server's 64 threads)
                Why these defaults, and the audit growth they allow: clearing.limits and
                docs/architecture.md ("Limits").
    [console]   the operator's web console, off without this section (clearing.console.settings):
                listen_address = "127.0.0.1:7080", authentication = "token" | "certificate",
                session_s = 28800, login_token_s = 600
    [log]       level, format, file of the log lines (fedmall.logs; optional, every key defaults)
    [metrics]   enabled = true, listen_address = "127.0.0.1:0"  (Prometheus /metrics, /healthz,
                /readyz and /status over HTTP; fedmall.observability, docs/observability.md)

Overrides: FEDMALL_CLEARING_LISTEN_ADDRESS, FEDMALL_CLEARING_DATABASE_URL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fedmall import budgets, database, logs, observability, pki
from fedmall.config_file import ConfigError, TomlFile, load_signing_key, read_toml
from fedmall.envelope import SigningKey

from clearing import limits
from clearing.console import settings as console_settings

CONFIG_FILE = "fedmall.toml"


# Every key the clearing reads; any other is refused (a misspelling must not fall back to a default).
KNOWN_KEYS = {
    "identity": frozenset({"party_id", "role", "signing_key_id"}),
    "clearing": frozenset({"listen_address", "database_url", "expiry_sweep_ms", "window_close_interval_s"}),
    budgets.SECTION: frozenset({"requests_per_s", "requests_burst", "request_bytes_per_s", "request_bytes_burst",
                                "calls_in_flight_max"}),
    console_settings.SECTION: console_settings.KEYS,
    logs.SECTION: logs.KEYS,
    observability.SECTION: observability.KEYS,
}
DEFAULT_BUDGET = budgets.Budget(
    requests=budgets.Rate(per_s=limits.budget_requests_per_s_default, burst=limits.budget_requests_burst_default),
    request_bytes=budgets.Rate(per_s=limits.budget_request_bytes_per_s_default,
                               burst=limits.budget_request_bytes_burst_default),
    calls_in_flight_max=limits.budget_calls_in_flight_max_default)
CALLS_IN_FLIGHT_MAX_MAX = 1_000
EXPIRY_SWEEP_MS_MIN, EXPIRY_SWEEP_MS_MAX = 10, 60_000
WINDOW_CLOSE_INTERVAL_S_MAX = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ClearingConfig:
    home: Path
    listen_address: str
    database_url: str
    signing_key_id: str
    expiry_sweep_ms: int
    window_close_interval_s: int
    budget: budgets.Budget = DEFAULT_BUDGET
    console: console_settings.ConsoleSettings | None = None   # None: the web console is off.
    log: logs.FileSettings = logs.FileSettings()
    metrics: observability.MetricsSettings = observability.MetricsSettings()

    @classmethod
    def load(cls, home: Path) -> "ClearingConfig":
        """The home's fedmall.toml; ConfigError (one line naming the file and key) when it is wrong."""
        path = home / CONFIG_FILE
        if not path.exists():
            raise ConfigError(f"{path} not found: run 'fedmall-clearing init --home {home}' first")
        file = read_toml(path)
        file.check_known(KNOWN_KEYS)
        identity, section = file.section("identity"), file.section("clearing")
        # A bank's or the operator's fedmall.toml is not the clearing's.
        for key, expected in (("party_id", pki.CLEARING.party_id), ("role", pki.CLEARING.role)):
            if identity.text(key) != expected:
                raise ConfigError(f"{path}: [identity].{key} must be '{expected}', not {identity.values[key]!r}")
        database_url = os.environ.get("FEDMALL_CLEARING_DATABASE_URL") or section.text("database_url", required=False) \
            or database.sqlite_url(home / "clearing.db")
        interval_s = section.integer("window_close_interval_s", default=0, low=0, high=WINDOW_CLOSE_INTERVAL_S_MAX)
        return cls(
            home=home,
            listen_address=os.environ.get("FEDMALL_CLEARING_LISTEN_ADDRESS") or section.text("listen_address"),
            database_url=database_url,
            signing_key_id=identity.text("signing_key_id"),
            expiry_sweep_ms=section.integer("expiry_sweep_ms", default=200, low=EXPIRY_SWEEP_MS_MIN,
                                            high=EXPIRY_SWEEP_MS_MAX),
            window_close_interval_s=interval_s,
            budget=read_budget(file),
            console=console_settings.read(file),
            log=logs.read_section(file, home),
            metrics=observability.read_settings(file),
        )

    def signing_key(self) -> SigningKey:
        """The clearing's signing key from its home; ConfigError when the file is missing or wrong."""
        return load_signing_key(self.home / "signing.key", self.signing_key_id, whose="the clearing's")


def read_budget(file: TomlFile) -> budgets.Budget:
    """[budget] of the clearing's fedmall.toml, each key defaulting to DEFAULT_BUDGET's."""
    section = budgets.budget_section(file)
    return budgets.Budget(
        requests=budgets.read_rate(section, "requests", default=DEFAULT_BUDGET.requests),
        request_bytes=budgets.read_rate(section, "request_bytes", default=DEFAULT_BUDGET.request_bytes,
                                        burst_min=limits.request_bytes_max),
        calls_in_flight_max=section.integer("calls_in_flight_max", default=DEFAULT_BUDGET.calls_in_flight_max,
                                            low=1, high=CALLS_IN_FLIGHT_MAX_MAX))


def toml_document(sections: dict[str, dict[str, str | int]]) -> str:
    """Write a flat two-level TOML document (strings and ints only)."""
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            rendered = str(value) if isinstance(value, int) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{key} = {rendered}")
        lines.append("")
    return "\n".join(lines)
