"""Received order events keyed by (sender bank, event id), not event id alone.

Autogenerate does not see primary-key changes: written by hand as a copy into a new
table (portable across SQLite and PostgreSQL), then checked with the migrations-compare test.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = "sender_bank_id, event_id, order_id, kind, received_at_unix_ms"


def _recreate(*primary_key: str) -> None:
    op.create_table('received_order_events_new',
    sa.Column('sender_bank_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Integer(), nullable=False),
    sa.Column('received_at_unix_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint(*primary_key)
    )
    op.execute(f"INSERT INTO received_order_events_new ({COLUMNS}) SELECT {COLUMNS} FROM received_order_events")
    op.drop_table('received_order_events')
    op.rename_table('received_order_events_new', 'received_order_events')


def upgrade() -> None:
    _recreate('sender_bank_id', 'event_id')


def downgrade() -> None:
    _recreate('event_id')  # Fails if two banks sent the same event id since the upgrade.
