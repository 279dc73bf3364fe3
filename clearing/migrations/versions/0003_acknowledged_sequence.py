"""the highest delivery sequence each member's node resumed its stream after

Revision ID: 0003
Revises: 0002
"""
from alembic import op

import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('participants', sa.Column('acknowledged_sequence', sa.BigInteger(), nullable=False,
                                            server_default='0'))


def downgrade() -> None:
    op.drop_column('participants', 'acknowledged_sequence')
