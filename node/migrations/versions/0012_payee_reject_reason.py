"""Why the payee bank rejected an outgoing transfer: its reason code and words, as the clearing's
ABORTED notice carries them from the payee's signed Reject.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0 and "" for every transfer the payee did not reject (and those rejected before this revision).
    op.add_column("outgoing_transfers", sa.Column("payee_reason_code", sa.Integer(), server_default="0",
                                                  nullable=False))
    op.add_column("outgoing_transfers", sa.Column("payee_reason", sa.String(length=140), server_default="",
                                                  nullable=False))


def downgrade() -> None:
    op.drop_column("outgoing_transfers", "payee_reason")
    op.drop_column("outgoing_transfers", "payee_reason_code")
