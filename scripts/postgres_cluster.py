"""A private PostgreSQL cluster for the tests and scripts/bench: a temporary folder, a free
port, stopped after.

initdb refuses to run as root, so as root the cluster runs as the `postgres` user in a
folder that user owns. Without the server binaries the PostgreSQL tests skip, saying why;
scripts/test installs them, so in CI they run. Tests run it without fsync (nothing to
keep); the benchmark runs it durable, as production would.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"), Path("/usr/lib/postgresql/17/bin")]


def find_bin_dir() -> Path | None:
    return next((d for d in BIN_DIRS if (d / "initdb").exists()), None)


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


class PostgresCluster:
    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self._bin = bin_dir
        self._durable = durable
        self._folder = Path(tempfile.mkdtemp(prefix="fedmall-pg-"))
        self._data = self._folder / "data"
        self.port = free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self._folder, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        subprocess.run(self._as_user + list(command), check=True, capture_output=True, cwd=self._folder)

    def start(self) -> None:
        self._run(str(self._bin / "initdb"), "-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.resume()

    def pause(self) -> None:
        """Stop the server and keep its data: the database goes away, as in an outage."""
        self._run(str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the server on its data, on the same port."""
        options = f"-p {self.port} -k {self._folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self._durable:
            options += " -c fsync=off"
        self._run(str(self._bin / "pg_ctl"), "-D", str(self._data), "-o", options, "-l",
                  str(self._folder / "server.log"), "-w", "start")

    def stop(self) -> None:
        try:
            self._run(str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)

    def new_database(self) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
