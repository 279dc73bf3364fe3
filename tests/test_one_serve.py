"""A second `serve` on a home (or a database) another one serves refuses to start: exit 1, one
line naming the lock and the process holding it, nothing opened. Real processes, on SQLite
and on PostgreSQL; several clearing processes on one PostgreSQL database still start (the
scale-out topology), and a home whose server stopped serves again at once."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clearing.cli import main as clearing_main
from scripts.federation import free_port
from tests.support.signals import wait_for_line

STOP_TIMEOUT_S = 15


def serve(module: str, home: Path, log: Path, **environment: str) -> subprocess.Popen:
    with log.open("w") as file:
        process = subprocess.Popen([sys.executable, "-m", module, "--home", str(home), "serve"], stdout=file,
                                   stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1", **environment))
    wait_for_line(log, "listening", process, timeout_s=60)
    return process


def refused_serve(module: str, home: Path, **environment: str) -> str:
    """Run a serve that must refuse at once; its one error line."""
    finished = subprocess.run([sys.executable, "-m", module, "serve", "--home", str(home)], capture_output=True,
                              text=True, timeout=60, env=dict(os.environ, **environment))
    assert finished.returncode == 1, (finished.returncode, finished.stdout, finished.stderr)
    errors = [line for line in finished.stderr.splitlines() if "already serves" in line]
    assert len(errors) == 1 and "Traceback" not in finished.stderr, finished.stderr
    assert "listening" not in finished.stdout + finished.stderr
    return errors[0]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def clearing_home(tmp_path, database_url) -> Path:
    """A clearing home on the store of tests/conftest.py's database_url (SQLite: clearing.db in the home)."""
    home = tmp_path / "clearing"
    assert clearing_main(["--home", str(home), "init", "--listen", f"127.0.0.1:{free_port()}",
                          "--database-url", "" if database_url.startswith("sqlite") else database_url]) == 0
    return home


def test_clearing__second_serve_on_the_same_home_and_address_is_refused(tmp_path, clearing_home, database_url):
    first = serve("clearing.cli", clearing_home, tmp_path / "first.log")
    try:
        line = refused_serve("clearing.cli", clearing_home)
        assert f"another fedmall-clearing serve (pid {first.pid}) already serves the home {clearing_home}" in line
        assert "serve-127.0.0.1_" in line and "stop it first" in line
        other_address = {"FEDMALL_CLEARING_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}"}
        if database_url.startswith("sqlite"):  # SQLite is one process's: the database file is locked too.
            line = refused_serve("clearing.cli", clearing_home, **other_address)
            assert f"(pid {first.pid}) already serves the database {clearing_home / 'clearing.db'}" in line
        else:  # PostgreSQL: several clearing processes on one database (docs/scale-out.md).
            second = serve("clearing.cli", clearing_home, tmp_path / "second.log", **other_address)
            stop(second)
            assert second.returncode == 0
    finally:
        stop(first)
    assert first.returncode == 0
    again = serve("clearing.cli", clearing_home, tmp_path / "again.log")  # Nothing stale is left behind.
    stop(again)


def test_node__second_serve_on_the_same_home_or_database_is_refused(tmp_path, clearing_home, database_url,
                                                                    request):
    bundle = tmp_path / "bank-a"
    assert clearing_main(["--home", str(clearing_home), "admit", "bank-a", "--name", "Bank A", "--currency", "EUR",
                          "--net-debit-cap", "1000.00", "--liquidity", "2000.00",
                          "--node-address", f"127.0.0.1:{free_port()}", "--out", str(bundle)]) == 0
    on_postgresql = not database_url.startswith("sqlite")
    node_database = (request.getfixturevalue("postgres_cluster").new_database() if on_postgresql
                     else f"sqlite:///{bundle / 'node.db'}")
    environment = {"FEDMALL_NODE_DATABASE_URL": node_database}
    first = serve("node.cli", bundle, tmp_path / "first.log", **environment)
    try:
        line = refused_serve("node.cli", bundle, **environment)
        assert f"another fedmall-node serve (pid {first.pid}) already serves the home {bundle}" in line
        # Another copy of the bank's home on the same database: the database's own lock refuses it.
        copy = tmp_path / "bank-a-copy"
        shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns("*lock", "node.db*"))
        line = refused_serve("node.cli", copy, FEDMALL_NODE_LISTEN_ADDRESS=f"127.0.0.1:{free_port()}", **environment)
        if on_postgresql:
            assert "another fedmall-node serve already serves the database postgresql+psycopg://" in line
            assert "advisory lock 'fedmall-node serve'" in line and "PostgreSQL backend" in line
        else:
            assert f"(pid {first.pid}) already serves the database {bundle / 'node.db'}" in line
    finally:
        stop(first)
    assert first.returncode == 0
    again = serve("node.cli", bundle, tmp_path / "again.log", **environment)  # The locks went with the process.
    stop(again)
