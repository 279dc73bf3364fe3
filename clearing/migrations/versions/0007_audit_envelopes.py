"""audit_envelopes: each distinct envelope the audit log recorded, by SHA-256, so a replay is logged
as a reference to its first entry

Revision ID: 0007
Revises: 0006
"""
from alembic import op

import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_envelopes',
        sa.Column('envelope_sha256', sa.LargeBinary(), nullable=False),
        sa.Column('first_sequence', sa.BigInteger(), nullable=False),
        sa.Column('envelope_sequence', sa.BigInteger(), nullable=True),
        sa.Column('results_sequence', sa.BigInteger(), nullable=True),
        sa.Column('results_sha256', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint('envelope_sha256'),
    )


def downgrade() -> None:
    op.drop_table('audit_envelopes')
