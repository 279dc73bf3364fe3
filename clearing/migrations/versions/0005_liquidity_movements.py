"""funds in and out, funds out reserved, and where a settlement appears on statements

Revision ID: 0005
Revises: 0004
"""
from alembic import op

import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('participants', sa.Column('funds_out_reserved_minor', sa.BigInteger(), nullable=False,
                                            server_default='0'))
    op.add_column('window_nets', sa.Column('settled_in_window_id', sa.BigInteger(), nullable=True))
    op.create_table(
        'funds_movements',
        sa.Column('movement_id', sa.String(length=64), nullable=False),
        sa.Column('bank_id', sa.String(length=64), nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('external_reference', sa.String(length=140), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('operator', sa.String(length=64), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('decided_at_ms', sa.BigInteger(), nullable=True),
        sa.Column('window_id', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('movement_id'),
    )
    op.create_index('ix_funds_movements_bank_window', 'funds_movements', ['bank_id', 'window_id'])


def downgrade() -> None:
    op.drop_index('ix_funds_movements_bank_window', table_name='funds_movements')
    op.drop_table('funds_movements')
    op.drop_column('window_nets', 'settled_in_window_id')
    op.drop_column('participants', 'funds_out_reserved_minor')
