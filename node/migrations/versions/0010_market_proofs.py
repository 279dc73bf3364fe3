"""Marketplace events proved, not believed: the escrow statement a reservation was made on,
the units it holds, the transfer that paid a completed order (each pays one), and the return
transfers counted as refunds at the buyer's bank (each counts once).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("seller_orders", sa.Column("escrow_statement", sa.LargeBinary(), nullable=True))
    op.add_column("seller_orders", sa.Column("units", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("seller_orders", sa.Column("payment_transfer_id", sa.String(length=64), nullable=True))
    op.create_index("ix_seller_orders_payment_transfer_id", "seller_orders", ["payment_transfer_id"], unique=True)
    op.create_index("ix_seller_orders_buyer_bank_id_state", "seller_orders", ["buyer_bank_id", "state"])
    op.create_table(
        "buyer_refunds",
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("sender_bank_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("counted_at_unix_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["buyer_orders.order_id"]),
        sa.PrimaryKeyConstraint("transfer_id"),
    )
    op.create_index("ix_buyer_refunds_order_id", "buyer_refunds", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_buyer_refunds_order_id", table_name="buyer_refunds")
    op.drop_table("buyer_refunds")
    op.drop_index("ix_seller_orders_buyer_bank_id_state", table_name="seller_orders")
    op.drop_index("ix_seller_orders_payment_transfer_id", table_name="seller_orders")
    with op.batch_alter_table("seller_orders") as batch:  # SQLite drops a column by copying the table.
        batch.drop_column("payment_transfer_id")
        batch.drop_column("units")
        batch.drop_column("escrow_statement")
