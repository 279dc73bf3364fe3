"""One `serve` per home and per database: a second one refuses to start and says who holds it.

gRPC lets two servers bind one port (SO_REUSEPORT) and SQLite lets two processes write one
file, so without this a second `serve` starts happily and shares the first one's database
and port. Two kinds of lock, both released by the kernel or the server when the process
ends however it ends (a crash leaves nothing stale to clean up):

- an OS file lock (fcntl.flock, exclusive, non-blocking) on a lock file, held for the
  process's life; the file holds the holder's pid for the message. The node locks its home
  (`serve.lock`); the clearing locks its home per listen address (several clearing
  processes may serve from one home on different addresses, docs/scale-out.md); on SQLite
  both also lock the database file (`clearing.db.serve-lock`), whoever's home names it.
- a PostgreSQL session advisory lock, for a store only one process may own (the node's:
  NOT the clearing's, which runs several processes on one database), taken on a connection
  of its own that stays open for the process's life. If that connection is lost (the
  server restarted) the lock goes with it; the node's other connections fail then too.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from fedmall.config_file import ConfigError
from fedmall.database import shown_url


class AlreadyServing(Exception):
    """Another process serves this home or database; the message names it and what to do."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock, from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class ServeLock:
    """The locks one serve holds; release() (or the process's end) lets them go."""

    def __init__(self, program: str) -> None:
        self._program = program
        self._files: list[int] = []
        self._engine: sa.Engine | None = None
        self._connection: sa.Connection | None = None

    def hold_file(self, path: Path, *, what: str) -> None:
        """Lock path (created if missing) or raise AlreadyServing naming the holder's pid."""
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            raise AlreadyServing(f"another {self._program} serve (pid {holder}) already serves {what}: it holds "
                                 f"the lock {path}; stop it first, or serve another home") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._files.append(descriptor)

    def hold_sqlite_file(self, url: str) -> None:
        """On SQLite, lock the database file itself (a lock file beside it): one server per file."""
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            database = Path(parsed.database)
            self.hold_file(database.with_name(database.name + ".serve-lock"), what=f"the database {database}")

    def hold_postgresql(self, url: str, *, name: str) -> None:
        """On PostgreSQL, take session advisory lock `name` on a connection kept open; else nothing."""
        if sa.engine.make_url(url).get_backend_name() != "postgresql":
            return
        key = advisory_key(name)
        try:
            self._engine = sa.create_engine(url, poolclass=NullPool)
            self._connection = self._engine.connect()
            held = self._connection.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            holder = None if held else self._connection.execute(sa.text(
                "SELECT a.pid, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :high "
                "AND l.objid::bigint = :low"), {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF}).first()
            self._connection.commit()  # The session lock outlives the transaction; no transaction stays open.
        except sa.exc.SQLAlchemyError as error:
            self.release()
            cause = " ".join(str(getattr(error, "orig", None) or error).split())  # One line.
            raise ConfigError(f"database {shown_url(url)}: cannot open it ({cause})") from None
        if not held:
            self.release()
            who = f"PostgreSQL backend {holder.pid} from {holder.client_addr or 'a local socket'}" if holder else "?"
            raise AlreadyServing(f"another {self._program} serve already serves the database {shown_url(url)} "
                                 f"(it holds the advisory lock {name!r}, {who}); stop it first")

    def release(self) -> None:
        for descriptor in self._files:
            os.close(descriptor)  # Closing the descriptor drops its flock.
        self._files.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
