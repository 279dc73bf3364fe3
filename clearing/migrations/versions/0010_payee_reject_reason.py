"""the payee bank's reject reason on each transfer it rejected, carried to the payer

Revision ID: 0010
Revises: 0009
"""
from alembic import op

import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for every transfer the payee did not reject (and for those rejected before this
    # revision: their reasons are in the audit log's decision batches only).
    op.add_column('transfers', sa.Column('payee_reason_code', sa.Integer(), nullable=True))
    op.add_column('transfers', sa.Column('payee_reason', sa.String(140), nullable=True))


def downgrade() -> None:
    op.drop_column('transfers', 'payee_reason')
    op.drop_column('transfers', 'payee_reason_code')
