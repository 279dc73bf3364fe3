"""Engines and migrations, the same way for the clearing and for nodes.

SQLite (the embedded default) runs in WAL mode and every transaction starts with
BEGIN IMMEDIATE, so a writer takes the lock up front instead of failing on upgrade.
PostgreSQL (production) is selected by URL ("postgresql+psycopg://...").
Schemas are created by each package's Alembic migrations, never by create_all.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from fedmall.config_file import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "fedmall_read_only"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # We issue BEGIN ourselves.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # Durable on commit: nothing lost on a crash.
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(connection) -> None:
            # A read (see read_connection) takes a WAL snapshot and no lock; everything
            # else may write and takes the write lock up front.
            read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)


def sum_of(column) -> sa.ColumnElement:
    """SUM of an integer column as an integer on every store (PostgreSQL sums bigints as numeric,
    which reaches Python as Decimal)."""
    return sa.cast(sa.func.sum(column), sa.BigInteger)


def read_connection(engine: sa.Engine) -> sa.Connection:
    """A connection for reading only, each transaction one consistent snapshot: on SQLite a WAL
    snapshot that neither takes nor waits for the write lock; on PostgreSQL a read-only
    REPEATABLE READ transaction (a report's several queries then agree with each other)."""
    connection = engine.connect().execution_options(**{READ_ONLY_OPTION: True})
    if is_sqlite(engine):
        return connection
    return connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


def migrate(engine: sa.Engine, script_location: str) -> None:
    """Bring the schema to the newest revision of the migrations at script_location."""
    config = Config()
    config.set_main_option("script_location", script_location)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def shown_url(url: str) -> str:
    """The URL to print: its password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(a malformed database URL)"


def open_migrated(url: str, migrations: str) -> sa.Engine:
    """An engine on url with its schema at the newest migration; a database that cannot be
    opened (a bad URL, a server not answering, a file that is not a database, a schema
    from a newer release) is one ConfigError naming it."""
    engine = None
    try:
        engine = make_engine(url)
        migrate(engine, migrations)
        return engine
    except (sa.exc.SQLAlchemyError, OSError, CommandError) as error:
        if engine is not None:
            engine.dispose()
        cause = " ".join(str(getattr(error, "orig", None) or error).split())  # One line.
        raise ConfigError(f"database {shown_url(url)}: cannot open it ({cause})") from None
