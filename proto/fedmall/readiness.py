"""Is this server ready to take work? Checks that each return a problem, or None.

/readyz (fedmall.observability) asks them on every request; a ReadinessWatch asks them every
few seconds and keeps the standard gRPC health service in step: NOT_SERVING for every
service while any check fails, SERVING again once none does, so a load balancer that speaks
the gRPC health protocol and one that polls /readyz see the same thing.
"""
from __future__ import annotations

import functools
import logging
import threading
from typing import Callable, Iterable

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from grpc_health.v1 import health, health_pb2

from fedmall import database

log = logging.getLogger("fedmall.readiness")

Check = Callable[[], "str | None"]
WATCH_INTERVAL_S = 2.0


def problems_of(checks: Iterable[Check]) -> list[str]:
    return [problem for check in checks if (problem := check()) is not None]


@functools.cache
def newest_revisions(migrations: str) -> frozenset[str]:
    """The head revisions of the migrations at migrations (read once per process: they ship with it)."""
    config = Config()
    config.set_main_option("script_location", migrations)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


class DatabaseCheck:
    """The database answers and its schema is at the newest migration this release ships."""

    def __init__(self, engine: sa.Engine, migrations: str) -> None:
        self._engine = engine
        self._heads = newest_revisions(migrations)

    def __call__(self) -> str | None:
        try:
            with database.read_connection(self._engine) as connection:
                current = set(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        except (sa.exc.SQLAlchemyError, OSError) as error:
            cause = " ".join(str(getattr(error, "orig", None) or error).split())
            return f"database unreachable: {cause}"
        if current != self._heads:
            return (f"database schema at {', '.join(sorted(current)) or 'no revision'}, this release needs "
                    f"{', '.join(sorted(self._heads))}: run the migrations")
        return None


class ReadinessWatch:
    """Every interval_s, the checks decide the gRPC health of service_names (and of the server, "")."""

    def __init__(self, health_servicer: health.HealthServicer, service_names: list[str], checks: list[Check], *,
                 interval_s: float = WATCH_INTERVAL_S) -> None:
        self._health = health_servicer
        self._names = service_names + [""]
        self._checks = checks
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._serving: bool | None = None
        self._lock = threading.Lock()  # The watch and a node's delivery stream both update.
        self._thread = threading.Thread(target=self._run, name="readiness-watch", daemon=True)

    def problems(self) -> list[str]:
        return problems_of(self._checks)

    def start(self) -> None:
        self.update()
        self._thread.start()

    def update(self) -> list[str]:
        with self._lock:
            return self._update()

    def _update(self) -> list[str]:
        problems = self.problems()
        serving = not problems
        if serving != self._serving:
            status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in self._names:
                self._health.set(name, status)
            if self._serving is not None:  # The start is not news; a change is.
                log.log(logging.INFO if serving else logging.WARNING, "readiness: %s",
                        "ready" if serving else "; ".join(problems))
            self._serving = serving
        return problems

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self.update()
            except Exception:  # The watch must outlive a check's own bug.
                log.exception("readiness check failed")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
