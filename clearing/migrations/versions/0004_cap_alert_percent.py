"""each member's cap alert threshold, a percent of its net debit cap

Revision ID: 0004
Revises: 0003
"""
from alembic import op

import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('participants', sa.Column('cap_alert_percent', sa.Integer(), nullable=False,
                                            server_default='80'))


def downgrade() -> None:
    op.drop_column('participants', 'cap_alert_percent')
