"""one-time login tokens of the operator's web console (only their SHA-256)

Revision ID: 0009
Revises: 0008
"""
from alembic import op

import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'console_logins',
        sa.Column('token_sha256', sa.LargeBinary(), nullable=False),
        sa.Column('operator', sa.String(length=64), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('expires_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('used_at_ms', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('token_sha256'),
    )


def downgrade() -> None:
    op.drop_table('console_logins')
