"""The clearing's tables (SQLAlchemy 2 Core), the write gate, and the one lock order.

Schema changes go through Alembic migrations in clearing/migrations; a test checks
that the migrated schema matches these tables.

Lock order. Every write transaction takes its row locks in this order, and never a lock
of an earlier kind after one of a later kind:

    1. settlement window rows, lowest window id first     (clearing.windows)
    2. participant rows, in bank-id order                  (lock_participants)
    3. the audit log head, last                            (clearing.audit.append; an entry
                                                           for an envelope then writes its
                                                           audit_envelopes row under that lock)

    transaction                      1 windows                  2 participants    3 audit
    submit prepares                  -                          payer, payees     yes
    submit decisions                 the open one, shared       payee, payers     yes
    expire reservations              -                          payers, payees    yes
    close a window                   the open one               -                 yes
    issue a closed window            that one                   every member      yes
    take a reconciliation            that one                   -                 yes
    settle a window                  that one, then the oldest  its members       yes
                                     unissued, shared
    abort a window                   that one, the open one     every member      yes
    admit, suspend, resume, keys     the oldest unissued, shared  that bank       yes
    funds in, commit funds out       the oldest unissued, shared  that bank       yes
    reserve or abort funds out       -                          that bank         yes
    set a cap or its alert           -                          that bank         yes
    revoke a certificate, retire CA  -                          -                 yes (after the
                                                                                  certificate rows)
    first call, set-address/name,    -                          that bank         yes
      leave (clearing.membership)
    a console login by token         -                          -                 yes (after its
                                                                                  console_logins row)

A commit share-locks the open window before any participant, so a window closing or
being issued meanwhile makes it wait without holding anything the other side wants.
tests/clearing/test_lock_order.py records the locks every write path takes on PostgreSQL
and fails on a transaction that takes them out of this order.

With one order there is no lock cycle, but PostgreSQL can still end a transaction as a
deadlock victim or a serialization failure in cases outside row locks (index pages, an
unlucky plan); retry_on_conflict runs such a transaction again, a bounded number of
times, and counts it (CONFLICTS). Any other storage failure, or conflicts past the
bound, becomes StorageUnavailable: members get gRPC UNAVAILABLE and retry later.

On SQLite every write transaction is BEGIN IMMEDIATE, and one in-process gate keeps
this process's threads from spinning on the database lock.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from typing import Callable, Iterable, Iterator, TypeVar

import sqlalchemy as sa

from fedmall import database

from clearing import limits

log = logging.getLogger("fedmall.clearing")
Result = TypeVar("Result")

# SQLSTATEs after which the same transaction may simply run again.
CONFLICT_SQLSTATES = {"40P01": "deadlock", "40001": "serialization failure"}

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
    # The highest sequence the bank's node resumed its stream after: it had applied that
    # much, durably. A node whose database is behind it lost data (node.bank.deliveries).
    sa.Column("acknowledged_sequence", sa.BigInteger, nullable=False, server_default="0"),
    # The share of the cap (position + reserved) at which the operator's views flag the bank
    # (clearing.rules.over_threshold); 1..100, changed by participants set-threshold.
    sa.Column("cap_alert_percent", sa.Integer, nullable=False, server_default="80"),
    sa.Column("admitted_at_ms", sa.BigInteger, nullable=False),
    # Funds out reserved and not yet committed or aborted: no longer there to back transfers.
    sa.Column("funds_out_reserved_minor", sa.BigInteger, nullable=False, server_default="0"),
    # The gross of this bank's transfers not settled yet, paid and received: reserved, or committed
    # in a window not settled. It bounds every sum of them (fedmall.limits.unsettled_gross_minor_max).
    sa.Column("unsettled_gross_minor", sa.BigInteger, nullable=False, server_default="0"),
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
    # The payee bank's Reject, when it rejected: its code and words (fedmall.limits.reject_reason_length_max).
    sa.Column("payee_reason_code", sa.Integer, nullable=True),
    sa.Column("payee_reason", sa.String(140), nullable=True),
    # Copied from the signed Prepare (migration 0011), for looking a payment up by its UETR and a
    # return's original: the UETR (None for a transfer stored before UETRs) and, on a return, the
    # transfer it gives money back for.
    sa.Column("uetr", sa.String(36), nullable=True),
    sa.Column("original_transfer_id", sa.String(64), nullable=True),
    sa.Index("ix_transfers_state_expires", "state", "expires_at_ms"),
    sa.Index("ix_transfers_window", "window_id"),
    sa.Index("ix_transfers_uetr", "uetr"),
    sa.Index("ix_transfers_state_decided", "state", "decided_at_ms"),
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
    # Once the window settled: the window whose statement lists this settlement as a
    # liquidity movement (clearing.movements).
    sa.Column("settled_in_window_id", sa.BigInteger, nullable=True),
)

# Funds in and out of a bank's prefunded liquidity (clearing.funds), one row per movement
# id the operator gave. A committed one names the statement window that lists it.
funds_movements = sa.Table(
    "funds_movements", metadata,
    sa.Column("movement_id", sa.String(64), primary_key=True),
    sa.Column("bank_id", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("external_reference", sa.String(140), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("operator", sa.String(64), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("decided_at_ms", sa.BigInteger, nullable=True),
    sa.Column("window_id", sa.BigInteger, nullable=True),
    sa.Index("ix_funds_movements_bank_window", "bank_id", "window_id"),
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

# Every certificate the consortium CA issued (clearing.certificates): a member's, the
# clearing's or the operator's. Calls with a certificate that is not active are refused.
certificates = sa.Table(
    "certificates", metadata,
    # The serial number, lowercase hex (random, at most 159 bits).
    sa.Column("serial", sa.String(40), primary_key=True),
    # SHA-256 of the DER bytes, lowercase hex: what a call's peer certificate is checked by.
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("party_id", sa.String(64), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("not_before_ms", sa.BigInteger, nullable=False),
    sa.Column("not_after_ms", sa.BigInteger, nullable=False),
    # The SHA-256 of the issuing CA's certificate (there are two while the CA is rotated).
    sa.Column("ca_sha256", sa.String(64), nullable=False),
    # active | revoked (by the operator) | ca_retired (its CA is no longer trusted).
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("recorded_at_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_at_ms", sa.BigInteger, nullable=True),
    sa.Column("revoked_by", sa.String(64), nullable=True),
    sa.Column("revoked_reason", sa.String(500), nullable=True),
    sa.Column("certificate_pem", sa.LargeBinary, nullable=False),
)

# One row per distinct envelope the audit log recorded (clearing.audit_envelopes): a byte-identical
# replay is logged as a reference to the first entry, found here by the envelope's SHA-256.
# Read and written only under the audit head's lock, after the entry.
audit_envelopes = sa.Table(
    "audit_envelopes", metadata,
    sa.Column("envelope_sha256", sa.LargeBinary, primary_key=True),
    sa.Column("first_sequence", sa.BigInteger, nullable=False),
    # The first entry holding the envelope's bytes; null while none does (it changed nothing).
    sa.Column("envelope_sequence", sa.BigInteger, nullable=True),
    # The newest entry listing the results of a batch in this envelope, and their SHA-256.
    sa.Column("results_sequence", sa.BigInteger, nullable=True),
    sa.Column("results_sha256", sa.LargeBinary, nullable=True),
)

# One row: the newest audit entry. Locked FOR UPDATE by every append.
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("entry_hash", sa.LargeBinary, nullable=False),
)

# One-time login tokens for the operator's web console (clearing.console.logins): only the
# token's SHA-256 is kept; a token is used once, before it expires, by the operator it names.
console_logins = sa.Table(
    "console_logins", metadata,
    sa.Column("token_sha256", sa.LargeBinary, primary_key=True),
    sa.Column("operator", sa.String(64), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    sa.Column("used_at_ms", sa.BigInteger, nullable=True),
)

MIGRATIONS = "clearing:migrations"


class Store:
    """The engine plus the write discipline described in the module docstring."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._gate = threading.Lock() if database.is_sqlite(engine) else None

    @classmethod
    def open(cls, url: str) -> "Store":
        """The store on url, migrated; ConfigError when the database cannot be opened."""
        return cls(database.open_migrated(url, MIGRATIONS))

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


class StorageUnavailable(Exception):
    """The database failed (or kept conflicting): nothing was written; retry later."""


class ConflictCounter:
    """How many transactions ran again after a conflict, and how many gave up: a metric."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retried = 0
        self.exhausted = 0

    def count(self, *, exhausted: bool) -> None:
        with self._lock:
            if exhausted:
                self.exhausted += 1
            else:
                self.retried += 1


CONFLICTS = ConflictCounter()


def conflict_kind(error: BaseException) -> str | None:
    """'deadlock' or 'serialization failure' when the database ended the transaction for one."""
    return CONFLICT_SQLSTATES.get(getattr(getattr(error, "orig", None), "sqlstate", None) or "")


def retry_on_conflict(run: Callable[..., Result]) -> Callable[..., Result]:
    """Run a write again when the database ends it as a deadlock victim or a serialization
    failure: the rolled-back attempt wrote nothing, and what the callers of these methods
    do before their transaction (verify an envelope, read) is safe to repeat. Any other
    database error, or conflicts past limits.conflict_attempts_max, is StorageUnavailable."""
    @functools.wraps(run)
    def attempts(*args, **kwargs) -> Result:
        for attempt in range(1, limits.conflict_attempts_max + 1):
            try:
                return run(*args, **kwargs)
            except sa.exc.DBAPIError as error:
                kind = conflict_kind(error)
                if kind is None:
                    log.error("storage failure in %s: %s", run.__qualname__, error.orig or error)
                    raise StorageUnavailable(str(error.orig or error)) from error
                exhausted = attempt == limits.conflict_attempts_max
                CONFLICTS.count(exhausted=exhausted)
                if exhausted:
                    log.error("%s: %s on each of %d attempts; giving up", run.__qualname__, kind, attempt)
                    raise StorageUnavailable(f"{kind} on each of {attempt} attempts") from error
                log.warning("%s: %s (attempt %d); running it again", run.__qualname__, kind, attempt)
                time.sleep(random.uniform(0, limits.conflict_backoff_ms_max * attempt) / 1000)
        raise AssertionError("unreachable")
    return attempts
