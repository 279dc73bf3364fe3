"""The clearing's tables (SQLAlchemy 2 Core) and the write gate.

Schema changes go through Alembic migrations in clearing/migrations; a test checks
that the migrated schema matches these tables.

Locking. Every write transaction locks the participant rows it touches, in bank-id
order, before reading the state it will change (``lock_participants``), then appends
to the audit log last (which locks the log head). The fixed order rules out
deadlocks when several clearing processes share one PostgreSQL database. On SQLite
every write transaction is BEGIN IMMEDIATE, and one in-process gate keeps this
process's threads from spinning on the database lock.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterable, Iterator

import sqlalchemy as sa

from fedmall import database

metadata = sa.MetaData()

participants = sa.Table(
    "participants", metadata,
    sa.Column("bank_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(140), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("node_address", sa.String(255), nullable=False),
    sa.Column("net_debit_cap_minor", sa.BigInteger, nullable=False),
    sa.Column("liquidity_minor", sa.BigInteger, nullable=False),
    # Net committed position: positive means the bank owes the other members.
    sa.Column("position_minor", sa.BigInteger, nullable=False),
    # Sum of this bank's outgoing transfers that are reserved and undecided.
    sa.Column("reserved_minor", sa.BigInteger, nullable=False),
    # Last sequence number used on this bank's delivery stream.
    sa.Column("delivery_sequence", sa.BigInteger, nullable=False),
    sa.Column("admitted_at_ms", sa.BigInteger, nullable=False),
)

signing_keys = sa.Table(
    "signing_keys", metadata,
    sa.Column("key_id", sa.String(140), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False, index=True),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
)

transfers = sa.Table(
    "transfers", metadata,
    sa.Column("transfer_id", sa.String(64), primary_key=True),
    sa.Column("payer_bank_id", sa.String(64), nullable=False),
    sa.Column("payee_bank_id", sa.String(64), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("condition", sa.LargeBinary, nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    # The Prepare exactly as the payer signed it (deterministic bytes), and its hash
    # for duplicate analysis: same id and same hash is a retry.
    sa.Column("prepare_bytes", sa.LargeBinary, nullable=False),
    sa.Column("prepare_sha256", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.Integer, nullable=False),
    sa.Column("result", sa.Integer, nullable=False),
    sa.Column("fulfilment", sa.LargeBinary, nullable=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("decided_at_ms", sa.BigInteger, nullable=True),
    # The settlement window that was open when the transfer committed.
    sa.Column("window_id", sa.BigInteger, nullable=True),
    sa.Index("ix_transfers_state_expires", "state", "expires_at_ms"),
    sa.Index("ix_transfers_window", "window_id"),
)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("bank_id", sa.String(64), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True),
    # A serialised fedmall.v1.Envelope holding a NoticeBatch signed by the clearing.
    sa.Column("envelope", sa.LargeBinary, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("recorded_at_ms", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("party_id", sa.String(64), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("previous_hash", sa.LargeBinary, nullable=False),
    sa.Column("entry_hash", sa.LargeBinary, nullable=False),
)

settlement_windows = sa.Table(
    "settlement_windows", metadata,
    sa.Column("window_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("state", sa.Integer, nullable=False, index=True),
    sa.Column("opened_at_ms", sa.BigInteger, nullable=False),
    sa.Column("closed_at_ms", sa.BigInteger, nullable=True),
    sa.Column("settled_at_ms", sa.BigInteger, nullable=True),
    # Why the operator aborted it, or overrode a dispute to settle it.
    sa.Column("operator_reason", sa.String(500), nullable=True),
    # The signed SettlementReport (a serialised Envelope), once issued.
    sa.Column("report_envelope", sa.LargeBinary, nullable=True),
)

# Each bank's net per currency in a window, fixed when the report is issued.
window_nets = sa.Table(
    "window_nets", metadata,
    sa.Column("window_id", sa.BigInteger, primary_key=True),
    sa.Column("bank_id", sa.String(64), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("debits_minor", sa.BigInteger, nullable=False),
    sa.Column("credits_minor", sa.BigInteger, nullable=False),
    sa.Column("net_minor", sa.BigInteger, nullable=False),
    sa.Column("opening_position_minor", sa.BigInteger, nullable=False),
)

# Signed statement pages, kept so a member can fetch them again.
statement_pages = sa.Table(
    "statement_pages", metadata,
    sa.Column("window_id", sa.BigInteger, primary_key=True),
    sa.Column("bank_id", sa.String(64), primary_key=True),
    sa.Column("page_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),
)

# Each member's latest signed answer to its statement.
reconciliations = sa.Table(
    "reconciliations", metadata,
    sa.Column("window_id", sa.BigInteger, primary_key=True),
    sa.Column("bank_id", sa.String(64), primary_key=True),
    sa.Column("break_count", sa.Integer, nullable=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),
    sa.Column("received_at_ms", sa.BigInteger, nullable=False),
)

# One row: the newest audit entry. Locked FOR UPDATE by every append.
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("entry_hash", sa.LargeBinary, nullable=False),
)

MIGRATIONS = "clearing:migrations"


class Store:
    """The engine plus the write discipline described in the module docstring."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._gate = threading.Lock() if database.is_sqlite(engine) else None

    @classmethod
    def open(cls, url: str) -> "Store":
        engine = database.make_engine(url)
        database.migrate(engine, MIGRATIONS)
        return cls(engine)

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction: commits on success, rolls back on any exception."""
        gate = self._gate or contextlib.nullcontext()
        with gate, self.engine.begin() as connection:
            yield connection

    def read(self) -> contextlib.AbstractContextManager[sa.Connection]:
        return database.read_connection(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def lock_participants(connection: sa.Connection, bank_ids: Iterable[str]) -> dict[str, sa.Row]:
    """Lock the named participants' rows in bank-id order and return them by id."""
    ordered = sorted(set(bank_ids))
    if not ordered:
        return {}
    query = (
        sa.select(participants).where(participants.c.bank_id.in_(ordered))
        .order_by(participants.c.bank_id).with_for_update()
    )
    return {row.bank_id: row for row in connection.execute(query)}
