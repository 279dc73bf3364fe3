"""each transfer's UETR and, for a return, the transfer it returns (both from the signed Prepare);
transfers by state and decision time (a window's pacs.002 lists those aborted while it was open)

Revision ID: 0011
Revises: 0010
"""
from alembic import op

import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a transfer stored before UETRs has none (its Prepare carries none either).
    op.add_column('transfers', sa.Column('uetr', sa.String(36), nullable=True))
    op.add_column('transfers', sa.Column('original_transfer_id', sa.String(64), nullable=True))
    op.create_index('ix_transfers_uetr', 'transfers', ['uetr'])
    op.create_index('ix_transfers_state_decided', 'transfers', ['state', 'decided_at_ms'])


def downgrade() -> None:
    op.drop_index('ix_transfers_state_decided', table_name='transfers')
    op.drop_index('ix_transfers_uetr', table_name='transfers')
    op.drop_column('transfers', 'original_transfer_id')
    op.drop_column('transfers', 'uetr')
