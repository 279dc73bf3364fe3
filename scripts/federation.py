"""Start a whole federation as separate processes: one clearing and N bank nodes.

Used by scripts/demo and scripts/bench. Everything goes through the real command
lines (fedmall-clearing init/admit/serve, fedmall-node serve) on SQLite by default.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from fedmall import tls
from fedmall.database import sqlite_url
from fedmall.pki import Identity, TlsCredentials
from fedmall.v1 import credit_pb2_grpc, marketplace_pb2_grpc, node_pb2_grpc

BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 60


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port free now and not handed out before by this process: a port is bound only
    later, and gRPC servers share a port (SO_REUSEPORT), so one given twice would put two
    servers behind one address."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def toml_value(value: int | str | bool) -> str:
    """A TOML literal: a JSON string is a valid TOML basic string (same escapes), ints as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no TOML literal for {type(value).__name__} {value!r}")


@dataclass
class BankSpec:
    bank_id: str
    name: str
    net_debit_cap: str
    liquidity: str


@dataclass
class Federation:
    home: Path
    currency: str
    banks: list[BankSpec]
    clearing_database_url: str = ""
    node_settings: dict[str, int | str | bool] = field(default_factory=dict)  # Extra [node] keys for every bundle.
    bundle_files: dict[str, Path] = field(default_factory=dict)  # Name in every bundle -> the file copied there.
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    node_addresses: dict[str, str] = field(default_factory=dict)
    channels: dict[str, grpc.Channel] = field(default_factory=dict)
    clearing_address: str = ""
    # More clearing processes on the same (PostgreSQL) database; bank i's node talks to
    # clearing i modulo their number.
    clearing_processes: int = 1
    node_database_urls: dict[str, str] = field(default_factory=dict)  # Bank id -> URL; missing: SQLite in its home.
    clearing_addresses: list[str] = field(default_factory=list)
    console: bool = False        # Turn on the clearing's web console ([console], token login) at console_address.
    console_address: str = ""
    metrics: bool = True  # False: every process runs with [metrics] enabled = false.

    @property
    def clearing_home(self) -> Path:
        return self.home / "clearing"

    def bundle(self, bank_id: str) -> Path:
        return self.home / "banks" / bank_id

    def clearing_url(self) -> str:
        """The clearing's database: clearing_database_url, or SQLite in its home."""
        return self.clearing_database_url or sqlite_url(self.clearing_home / "clearing.db")

    def node_url(self, bank_id: str) -> str:
        """The bank's node database: node_database_urls, or SQLite in its bundle."""
        return self.node_database_urls.get(bank_id) or sqlite_url(self.bundle(bank_id) / "node.db")

    def node_urls(self) -> dict[str, str]:
        return {bank.bank_id: self.node_url(bank.bank_id) for bank in self.banks}

    def create(self) -> None:
        """fedmall-clearing init, then admit every bank (writing its bundle)."""
        self.clearing_address = f"127.0.0.1:{free_port()}"
        run(str(BIN / "fedmall-clearing"), "--home", str(self.clearing_home), "init",
            "--listen", self.clearing_address, "--database-url", self.clearing_database_url)
        if self.console:
            port = free_port()
            self.console_address = f"http://127.0.0.1:{port}"
            with open(self.clearing_home / "fedmall.toml", "a") as config:
                config.write(f'\n[console]\nlisten_address = "127.0.0.1:{port}"\n')
        for bank in self.banks:
            address = f"127.0.0.1:{free_port()}"
            self.node_addresses[bank.bank_id] = address
            run(str(BIN / "fedmall-clearing"), "--home", str(self.clearing_home), "admit", bank.bank_id,
                "--name", bank.name, "--currency", self.currency, "--net-debit-cap", bank.net_debit_cap,
                "--liquidity", bank.liquidity, "--node-address", address, "--out", str(self.bundle(bank.bank_id)))
            for name, source in self.bundle_files.items():
                shutil.copyfile(source, self.bundle(bank.bank_id) / name)
            with open(self.bundle(bank.bank_id) / "fedmall.toml", "a") as config:  # [node] is the last section.
                config.writelines(f"{key} = {toml_value(value)}\n" for key, value in self.node_settings.items())
                if not self.metrics:
                    config.write("\n[metrics]\nenabled = false\n")
        if not self.metrics:
            with open(self.clearing_home / "fedmall.toml", "a") as config:
                config.write("\n[metrics]\nenabled = false\n")

    def start(self) -> None:
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        self.clearing_addresses = [self.clearing_address] + [
            f"127.0.0.1:{free_port()}" for _ in range(self.clearing_processes - 1)]
        for index, address in enumerate(self.clearing_addresses):
            name = "clearing" if index == 0 else f"clearing-{index}"
            self._spawn(name, [str(BIN / "fedmall-clearing"), "--home", str(self.clearing_home), "serve"], logs,
                        {"FEDMALL_CLEARING_LISTEN_ADDRESS": address})
            self._wait_ready(name, logs)
        for bank in self.banks:
            self._spawn(bank.bank_id, [str(BIN / "fedmall-node"), "serve", "--home", str(self.bundle(bank.bank_id))],
                        logs, self.node_env(bank.bank_id))
        for bank in self.banks:
            self._wait_ready(bank.bank_id, logs)

    def node_env(self, bank_id: str) -> dict[str, str]:
        """The environment of the bank's node and its commands: its database and its clearing."""
        index = [bank.bank_id for bank in self.banks].index(bank_id)
        env = {}
        if self.node_database_urls.get(bank_id):
            env["FEDMALL_NODE_DATABASE_URL"] = self.node_database_urls[bank_id]
        if len(self.clearing_addresses) > 1:
            env["FEDMALL_CLEARING_ADDRESS"] = self.clearing_addresses[index % len(self.clearing_addresses)]
        return env

    def _spawn(self, name: str, command: list[str], logs: Path, env: dict[str, str]) -> None:
        log = open(logs / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                env=dict(os.environ, PYTHONUNBUFFERED="1", **env))

    def _wait_ready(self, name: str, logs: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if "listening" in (logs / f"{name}.log").read_text():
                return
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{(logs / f'{name}.log').read_text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not start within {READY_TIMEOUT_S} s")

    def _channel(self, bank_id: str) -> grpc.Channel:
        """One mTLS channel per bank, with the bank's own credentials (its tellers and apps)."""
        if bank_id not in self.channels:
            self.channels[bank_id] = tls.secure_channel(self.node_addresses[bank_id],
                                                        TlsCredentials.load(self.bundle(bank_id)),
                                                        server=Identity(bank_id, "bank"))
        return self.channels[bank_id]

    def node_stub(self, bank_id: str) -> node_pb2_grpc.NodeServiceStub:
        return node_pb2_grpc.NodeServiceStub(self._channel(bank_id))

    def market_stub(self, bank_id: str) -> marketplace_pb2_grpc.MarketplaceServiceStub:
        return marketplace_pb2_grpc.MarketplaceServiceStub(self._channel(bank_id))

    def credit_stub(self, bank_id: str) -> credit_pb2_grpc.CreditServiceStub:
        return credit_pb2_grpc.CreditServiceStub(self._channel(bank_id))

    def clearing_cli(self, *args: str, check: bool = True):
        """Run `fedmall-clearing --home ... ARGS --json` and return its JSON (also when it exits 1)."""
        result = subprocess.run([str(BIN / "fedmall-clearing"), "--home", str(self.clearing_home), *args, "--json"],
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"fedmall-clearing {' '.join(args)} failed:\n{result.stderr}")
        return json.loads(result.stdout)

    def participants(self) -> list[dict]:
        return self.clearing_cli("participants")

    def ledger_check(self, bank_id: str) -> dict:
        result = subprocess.run([str(BIN / "fedmall-node"), "ledger-check", "--home", str(self.bundle(bank_id)), "--json"],
                                capture_output=True, text=True, env=dict(os.environ, **self.node_env(bank_id)))
        return json.loads(result.stdout)

    def ledger_checks(self) -> dict[str, dict]:
        """`fedmall-node ledger-check --json` of every bank, run side by side (each is a process start)."""
        running = {bank.bank_id: subprocess.Popen(
            [str(BIN / "fedmall-node"), "ledger-check", "--home", str(self.bundle(bank.bank_id)), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, **self.node_env(bank.bank_id))) for bank in self.banks}
        return {bank_id: json.loads(process.communicate()[0]) for bank_id, process in running.items()}

    def stop(self) -> None:
        for channel in self.channels.values():
            channel.close()
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass(frozen=True, slots=True)
class Books:
    """What the operators' commands show of money, read at one moment, for the demo's tables
    (scripts/invariants.py judges the databases themselves)."""
    positions: dict[str, dict]  # bank id -> its row of `fedmall-clearing participants --json`
    ledgers: dict[str, dict]    # bank id -> `fedmall-node ledger-check --json`

    def clearing_account_minor(self, bank_id: str, currency: str) -> int:
        return self.ledgers[bank_id]["internal_balances_minor"].get(f"@clearing/{currency}", 0)


def read_books(federation: Federation) -> Books:
    return Books(positions={p["bank_id"]: p for p in federation.participants()},
                 ledgers=federation.ledger_checks())
