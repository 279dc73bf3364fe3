"""each member's unsettled gross: its transfers reserved or committed in a window not settled

Revision ID: 0008
Revises: 0007
"""
from alembic import op

import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

RESERVED, COMMITTED = 2, 3           # fedmall.v1.TransferState
OPEN, CLOSED, PENDING_SETTLEMENT = 1, 2, 3   # fedmall.v1.WindowState: the windows not settled


def upgrade() -> None:
    op.add_column('participants', sa.Column('unsettled_gross_minor', sa.BigInteger(), nullable=False,
                                            server_default='0'))
    # What the transfers already there add up to, paid and received (summed in Python: a database
    # made before the bounds may hold amounts whose SUM overflows on SQLite).
    connection = op.get_bind()
    unsettled = sa.text(
        "SELECT payer_bank_id, payee_bank_id, amount_minor FROM transfers WHERE state = :reserved "
        "OR (state = :committed AND window_id IN (SELECT window_id FROM settlement_windows "
        "WHERE state IN (:open, :closed, :pending)))")
    gross: dict[str, int] = {}
    for payer, payee, amount_minor in connection.execute(unsettled, {
            "reserved": RESERVED, "committed": COMMITTED, "open": OPEN, "closed": CLOSED,
            "pending": PENDING_SETTLEMENT}):
        for bank_id in (payer, payee):
            gross[bank_id] = gross.get(bank_id, 0) + amount_minor
    for bank_id, gross_minor in gross.items():
        connection.execute(sa.text("UPDATE participants SET unsettled_gross_minor = :gross WHERE bank_id = :bank"),
                           {"gross": min(gross_minor, 2**63 - 1), "bank": bank_id})


def downgrade() -> None:
    op.drop_column('participants', 'unsettled_gross_minor')
