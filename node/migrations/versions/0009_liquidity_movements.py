"""Liquidity movements: funds in and out and settlements, as the clearing reported them.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "liquidity_movements",
        sa.Column("movement_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("window_id", sa.BigInteger(), nullable=False),
        sa.Column("settled_window_id", sa.BigInteger(), nullable=False),
        sa.Column("external_reference", sa.String(length=140), nullable=False),
        sa.Column("recorded_at_unix_ms", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("movement_id"),
    )
    op.create_index("ix_liquidity_movements_window_id", "liquidity_movements", ["window_id"])


def downgrade() -> None:
    op.drop_index("ix_liquidity_movements_window_id", table_name="liquidity_movements")
    op.drop_table("liquidity_movements")
