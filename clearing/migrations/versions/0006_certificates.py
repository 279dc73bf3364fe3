"""the certificate registry: every certificate the consortium CA issued, and its status

Revision ID: 0006
Revises: 0005
"""
from alembic import op

import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'certificates',
        sa.Column('serial', sa.String(length=40), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('party_id', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('not_before_ms', sa.BigInteger(), nullable=False),
        sa.Column('not_after_ms', sa.BigInteger(), nullable=False),
        sa.Column('ca_sha256', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('recorded_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('revoked_at_ms', sa.BigInteger(), nullable=True),
        sa.Column('revoked_by', sa.String(length=64), nullable=True),
        sa.Column('revoked_reason', sa.String(length=500), nullable=True),
        sa.Column('certificate_pem', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('serial'),
        sa.UniqueConstraint('sha256'),
    )
    op.create_index(op.f('ix_certificates_party_id'), 'certificates', ['party_id'])
    op.create_index(op.f('ix_certificates_status'), 'certificates', ['status'])


def downgrade() -> None:
    op.drop_index(op.f('ix_certificates_status'), table_name='certificates')
    op.drop_index(op.f('ix_certificates_party_id'), table_name='certificates')
    op.drop_table('certificates')
