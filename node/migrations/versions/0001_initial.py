"""The node's initial schema.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(80), primary_key=True),
        sa.Column("holder_name", sa.String(140), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("internal", sa.Boolean, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("balance_minor", sa.BigInteger, nullable=False),
        sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "journal_entries",
        sa.Column("entry_id", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "postings",
        sa.Column("posting_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(120), sa.ForeignKey("journal_entries.entry_id"), nullable=False),
        sa.Column("account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
    )
    op.create_index("ix_postings_entry_id", "postings", ["entry_id"])
    op.create_index("ix_postings_account_id", "postings", ["account_id"])
    op.create_table(
        "deposits",
        sa.Column("deposit_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "outgoing_transfers",
        sa.Column("transfer_id", sa.String(64), primary_key=True),
        sa.Column("from_account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("payee_bank_id", sa.String(64), nullable=False),
        sa.Column("payee_account_id", sa.String(80), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(140), nullable=False),
        sa.Column("condition", sa.LargeBinary(32), nullable=False),
        sa.Column("expires_at_unix_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("abort_reason", sa.Integer, nullable=False),
        sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_unix_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_outgoing_transfers_status", "outgoing_transfers", ["status"])
    op.create_table(
        "incoming_transfers",
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
        sa.Column("decision_sent", sa.Boolean, nullable=False),
        sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_unix_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_incoming_transfers_decision_sent", "incoming_transfers", ["decision_sent"])
    op.create_table(
        "received_deliveries",
        sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("payload_type", sa.String(80), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(80), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("applied_at_unix_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "node_state",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value_int", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("node_state", "received_deliveries", "incoming_transfers", "outgoing_transfers",
                  "deposits", "postings", "journal_entries", "accounts"):
        op.drop_table(table)
