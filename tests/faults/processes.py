"""A federation of real processes the fault suite can kill, pause and restart.

Built on scripts/federation.py (fedmall-clearing init/admit, the bank bundles); here each
process can be started again after a `kill -9`, and there may be two clearing processes
on one PostgreSQL database, each node talking to one of them, switched on a restart.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.federation import BIN, Federation, free_port

READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


@dataclass
class Process:
    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str]
    popen: subprocess.Popen | None = None
    paused: bool = False

    def start(self) -> None:
        assert self.popen is None or self.popen.poll() is not None, f"{self.name} is running"
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "a") as log:
            self.popen = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                          env=dict(os.environ, PYTHONUNBUFFERED="1", **self.env))
        self.paused = False
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.log_path) as log:
                log.seek(offset)
                if "listening" in log.read():
                    return
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start within {READY_TIMEOUT_S} s")

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, number: int) -> None:
        self.popen.send_signal(number)
        self.paused = number == signal.SIGSTOP or (self.paused and number != signal.SIGCONT)

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        self.popen.kill()
        self.popen.wait()
        self.paused = False

    def terminate(self) -> None:
        """SIGTERM: the clean shutdown path."""
        if self.paused:
            self.signal(signal.SIGCONT)
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class FaultyFederation:
    """The federation's processes by name: clearing-0 (, clearing-1) and one per bank."""
    federation: Federation
    clearing_addresses: list[str]
    processes: dict[str, Process] = field(default_factory=dict)
    node_clearing: dict[str, int] = field(default_factory=dict)  # bank id -> index of the clearing it talks to

    @classmethod
    def create(cls, federation: Federation, *, clearings: int, window_close_interval_s: int) -> "FaultyFederation":
        federation.create()
        config = federation.clearing_home / "fedmall.toml"
        config.write_text(config.read_text().replace(
            "window_close_interval_s = 0", f"window_close_interval_s = {window_close_interval_s}"))
        addresses = [federation.clearing_address] + [f"127.0.0.1:{free_port()}" for _ in range(clearings - 1)]
        faulty = cls(federation=federation, clearing_addresses=addresses)
        logs = federation.home / "logs"
        logs.mkdir(exist_ok=True)
        for index, address in enumerate(addresses):
            name = f"clearing-{index}"
            faulty.processes[name] = Process(
                name, [str(BIN / "fedmall-clearing"), "--home", str(federation.clearing_home), "serve"],
                logs / f"{name}.log", {"FEDMALL_CLEARING_LISTEN_ADDRESS": address})
        for index, bank in enumerate(federation.banks):
            faulty.node_clearing[bank.bank_id] = index % clearings
            faulty.processes[bank.bank_id] = Process(
                bank.bank_id, [str(BIN / "fedmall-node"), "serve", "--home", str(federation.bundle(bank.bank_id))],
                logs / f"{bank.bank_id}.log", {})
        return faulty

    def start_all(self) -> None:
        for name in self.processes:
            if not self.processes[name].running:
                self.start(name)

    def start(self, name: str) -> None:
        process = self.processes[name]
        if name in self.node_clearing:   # A node's database as the federation says; the clearing this run picked.
            process.env = {**self.federation.node_env(name),
                           "FEDMALL_CLEARING_ADDRESS": self.clearing_addresses[self.node_clearing[name]]}
        process.start()

    def switch_clearing(self, bank_id: str) -> None:
        """The node's next start talks to the other clearing process (when there are two)."""
        self.node_clearing[bank_id] = (self.node_clearing[bank_id] + 1) % len(self.clearing_addresses)

    def resume_all(self) -> None:
        for process in self.processes.values():
            if process.running and process.paused:
                process.signal(signal.SIGCONT)

    def stop_all(self) -> None:
        self.resume_all()
        for process in self.processes.values():
            if process.running:
                process.terminate()
        for channel in self.federation.channels.values():
            channel.close()
        self.federation.channels.clear()

    def logs(self) -> dict[str, str]:
        return {name: process.log_path.read_text() for name, process in self.processes.items()
                if process.log_path.exists()}
