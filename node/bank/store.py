"""The bank's tables (SQLAlchemy 2 Core), on node.store.metadata, and the few writes every
service shares: journal entries and their postings, the delivery cursor.

Schemas are created by the Alembic migrations in node/migrations, never create_all.
Batch paths use executemany: one transaction per delivery or batch, never per item.
"""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa

from fedmall.database import sum_of
from fedmall.money import CURRENCY_EXPONENTS

from node.bank import ledger
from node.store import metadata

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("account_id", sa.String(80), primary_key=True),
    sa.Column("holder_name", sa.String(140), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("internal", sa.Boolean, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("balance_minor", sa.BigInteger, nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    # The last line of defence (migration 0008): the services check funds under a row lock,
    # and the database refuses a customer balance below zero any path let through
    # (internal accounts, like @cash, do go below zero).
    sa.CheckConstraint("internal OR balance_minor >= 0", name="ck_accounts_customer_not_negative"),
)

journal_entries = sa.Table(
    "journal_entries", metadata,
    # Derived from the cause ("deposit:<id>", "send:<transfer id>"...): a replay collides.
    sa.Column("entry_id", sa.String(120), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
)

postings = sa.Table(
    "postings", metadata,
    sa.Column("posting_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entry_id", sa.String(120), sa.ForeignKey("journal_entries.entry_id"), nullable=False, index=True),
    sa.Column("account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False, index=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
)

deposits = sa.Table(
    "deposits", metadata,
    sa.Column("deposit_id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
)

# The outbox: transfers this bank sends. PENDING -> SUBMITTED -> COMMITTED | ABORTED,
# or PENDING -> ABORTED when the clearing refuses the prepare.
outgoing_transfers = sa.Table(
    "outgoing_transfers", metadata,
    sa.Column("transfer_id", sa.String(64), primary_key=True),
    sa.Column("from_account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False),
    sa.Column("payee_bank_id", sa.String(64), nullable=False),
    sa.Column("payee_account_id", sa.String(80), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reference", sa.String(140), nullable=False),
    sa.Column("condition", sa.LargeBinary(32), nullable=False),
    sa.Column("expires_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("abort_reason", sa.Integer, nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_unix_ms", sa.BigInteger, nullable=False),
    # When the payee bank rejected it: its reason code and words (0 and "" otherwise).
    sa.Column("payee_reason_code", sa.Integer, nullable=False, server_default="0"),
    sa.Column("payee_reason", sa.String(140), nullable=False, server_default=""),
    # The settlement window the clearing committed the transfer in (None until COMMITTED).
    sa.Column("window_id", sa.BigInteger, nullable=True, index=True),
    # The Prepare's other terms, fixed when the row is written so every retry signs the same
    # bytes (migration 0013): the UETR, the parties this bank shares ("" when it shares none)
    # and, for a return, the transfer it gives money back for ("" otherwise).
    sa.Column("uetr", sa.String(36), nullable=True),
    sa.Column("debtor_name", sa.String(70), nullable=False, server_default=""),
    sa.Column("debtor_account_id", sa.String(80), nullable=False, server_default=""),
    sa.Column("creditor_name", sa.String(70), nullable=False, server_default=""),
    sa.Column("original_transfer_id", sa.String(64), nullable=False, server_default=""),
)

# Transfers to this bank's customers. ACCEPTED | REJECTED (our decision) -> COMMITTED | ABORTED.
# decision_sent is False while the decision waits for the decision submitter. Only transfers this
# bank quoted get a row: one it never quoted is rejected without one (node.bank.notices).
incoming_transfers = sa.Table(
    "incoming_transfers", metadata,
    sa.Column("transfer_id", sa.String(64), primary_key=True),
    sa.Column("payer_bank_id", sa.String(64), nullable=False),
    sa.Column("payee_account_id", sa.String(80), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reference", sa.String(140), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reject_reason", sa.Integer, nullable=False),
    sa.Column("abort_reason", sa.Integer, nullable=False),
    sa.Column("fulfilment", sa.LargeBinary(32), nullable=True),
    sa.Column("decision_sent", sa.Boolean, nullable=False, index=True),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_unix_ms", sa.BigInteger, nullable=False),
    # The settlement window the clearing committed the transfer in (None until COMMITTED).
    sa.Column("window_id", sa.BigInteger, nullable=True, index=True),
    # From the payer's Prepare (migration 0013): its UETR, and for a return the original.
    sa.Column("uetr", sa.String(36), nullable=True),
    sa.Column("original_transfer_id", sa.String(64), nullable=False, server_default=""),
)

# Every delivery applied, exactly as the clearing signed it (so the bank can prove it); not one
# about nothing but transfers this bank never quoted, which changed nothing (node.bank.deliveries).
received_deliveries = sa.Table(
    "received_deliveries", metadata,
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("payload_type", sa.String(80), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(80), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("applied_at_unix_ms", sa.BigInteger, nullable=False),
)

# The pages of this bank's statements, exactly as the clearing signed them. A window is
# reconciled once all page_count pages are held; an aborted window's pages are deleted.
statement_pages = sa.Table(
    "statement_pages", metadata,
    sa.Column("window_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("page_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("page_count", sa.Integer, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(80), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("received_at_unix_ms", sa.BigInteger, nullable=False),
)

# Every change of this bank's prefunded liquidity at the clearing that the clearing told
# it of (node.bank.settlement): funds in and out, and settlements. window_id is the
# window whose statement lists it; each has its journal entry (entry_id).
liquidity_movements = sa.Table(
    "liquidity_movements", metadata,
    sa.Column("movement_id", sa.String(80), primary_key=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("direction", sa.Integer, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("window_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("settled_window_id", sa.BigInteger, nullable=False),
    sa.Column("external_reference", sa.String(140), nullable=False),
    sa.Column("recorded_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("entry_id", sa.String(120), nullable=False),
)

# The reconciliation outbox: this bank's signed answer to each window's statement
# (an acknowledgement when break_count is 0, else a dispute). sent is False until the
# clearing gave a definitive answer, whose result code is kept in answer_result.
reconciliations = sa.Table(
    "reconciliations", metadata,
    sa.Column("window_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),  # A serialised, signed Envelope.
    sa.Column("break_count", sa.Integer, nullable=False),
    sa.Column("sent", sa.Boolean, nullable=False, index=True),
    sa.Column("answer_result", sa.Integer, nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("sent_at_unix_ms", sa.BigInteger, nullable=True),
)

node_state = sa.Table(
    "node_state", metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value_int", sa.BigInteger, nullable=False),
)

DELIVERY_CURSOR = "delivery_cursor"


def ensure_internal_accounts(connection: sa.Connection, *, now_ms: int) -> None:
    """Create the internal accounts of every known currency that do not exist yet."""
    existing = set(connection.scalars(sa.select(accounts.c.account_id).where(accounts.c.internal)))
    rows = [
        dict(account_id=ledger.internal_account_id(kind, currency), holder_name=kind, currency=currency,
             internal=True, closed=False, balance_minor=0, created_at_unix_ms=now_ms)
        for currency in sorted(CURRENCY_EXPONENTS) for kind in ledger.INTERNAL_KINDS
        if ledger.internal_account_id(kind, currency) not in existing
    ]
    if rows:
        connection.execute(accounts.insert(), rows)


# The order every transaction locks account rows in, so that none waits for another in a
# cycle on PostgreSQL: customer accounts first, then internal ones ('@...', which every
# transfer touches), each by account id in code-point order. write_entries changes balances
# in this order; a transaction that locks accounts before it writes entries
# (locking_accounts_in_order) locks customer accounts only, and writes its entries in ONE
# write_entries call (a second call would take customer rows after internal ones).
def lock_order(account_id: str) -> tuple[bool, str]:
    return account_id.startswith("@"), account_id


def locking_accounts_in_order(connection: sa.Connection, query: sa.Select) -> sa.Select:
    """query FOR UPDATE, its account rows locked in lock_order (PostgreSQL would otherwise lock
    them in scan order, and sort by its locale)."""
    account_id = accounts.c.account_id
    by_code_point = account_id.collate("C") if connection.dialect.name == "postgresql" else account_id
    return query.order_by(accounts.c.internal, by_code_point).with_for_update()


def write_entries(connection: sa.Connection, entries: list[ledger.Entry], *, now_ms: int) -> None:
    """Write journal entries, their postings and the balances they change, in the caller's transaction."""
    if not entries:
        return
    ledger.check_entries(entries)
    connection.execute(journal_entries.insert(), [
        dict(entry_id=entry.entry_id, kind=entry.kind, created_at_unix_ms=now_ms) for entry in entries])
    connection.execute(postings.insert(), [
        dict(entry_id=entry.entry_id, account_id=posting.account_id,
             amount_minor=posting.amount_minor, currency=posting.currency)
        for entry in entries for posting in entry.postings])
    deltas = ledger.balance_deltas(entries)
    changes = [dict(target=account_id, delta=deltas[account_id])
               for account_id in sorted(deltas, key=lock_order) if deltas[account_id]]
    if changes:
        connection.execute(
            accounts.update()
            .where(accounts.c.account_id == sa.bindparam("target"))
            .values(balance_minor=accounts.c.balance_minor + sa.bindparam("delta")),
            changes)


def internal_balances_by_currency(connection: sa.Connection, kind: str) -> dict[str, int]:
    """currency -> balance of the internal account of that kind (node.bank.ledger), for each currency."""
    pattern = ledger.internal_account_id(kind, "%")
    return {row.account_id.rsplit("/", 1)[1]: row.balance_minor for row in connection.execute(
        sa.select(accounts.c.account_id, accounts.c.balance_minor).where(accounts.c.account_id.like(pattern)))}


def existing_entry_ids(connection: sa.Connection, entry_ids: Iterable[str]) -> set[str]:
    entry_ids = list(entry_ids)
    if not entry_ids:
        return set()
    return set(connection.scalars(
        sa.select(journal_entries.c.entry_id).where(journal_entries.c.entry_id.in_(entry_ids))))


def read_cursor(connection: sa.Connection) -> int:
    value = connection.scalar(sa.select(node_state.c.value_int).where(node_state.c.key == DELIVERY_CURSOR))
    return value or 0


def record_delivery(connection: sa.Connection, *, sequence: int, envelope, now_ms: int) -> None:
    """Keep a delivery exactly as the clearing signed it."""
    connection.execute(received_deliveries.insert().values(
        sequence=sequence, payload_type=envelope.payload_type, payload=envelope.payload,
        key_id=envelope.key_id, signature=envelope.signature, applied_at_unix_ms=now_ms))


def write_cursor(connection: sa.Connection, sequence: int) -> None:
    updated = connection.execute(
        node_state.update().where(node_state.c.key == DELIVERY_CURSOR).values(value_int=sequence))
    if updated.rowcount == 0:
        connection.execute(node_state.insert().values(key=DELIVERY_CURSOR, value_int=sequence))


def read_books(connection: sa.Connection) -> ledger.BooksSummary:
    entry_totals = {
        (row.entry_id, row.currency): row.total for row in connection.execute(
            sa.select(postings.c.entry_id, postings.c.currency, sum_of(postings.c.amount_minor).label("total"))
            .group_by(postings.c.entry_id, postings.c.currency))}
    currency_totals = {
        row.currency: row.total for row in connection.execute(
            sa.select(postings.c.currency, sum_of(postings.c.amount_minor).label("total"))
            .group_by(postings.c.currency))}
    stored = {row.account_id: row.balance_minor for row in connection.execute(
        sa.select(accounts.c.account_id, accounts.c.balance_minor))}
    posted = {row.account_id: row.total for row in connection.execute(
        sa.select(postings.c.account_id, sum_of(postings.c.amount_minor).label("total"))
        .group_by(postings.c.account_id))}
    return ledger.BooksSummary(entry_totals=entry_totals, currency_totals=currency_totals,
                               stored_balances=stored, posted_balances=posted)

