"""every transfer's UETR, the parties the payer bank shares on its prepare, and a return's original

Revision ID: 0013
Revises: 0012
"""
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (sa.Column("uetr", sa.String(length=36), nullable=True),
                   sa.Column("debtor_name", sa.String(length=70), server_default="", nullable=False),
                   sa.Column("debtor_account_id", sa.String(length=80), server_default="", nullable=False),
                   sa.Column("creditor_name", sa.String(length=70), server_default="", nullable=False),
                   sa.Column("original_transfer_id", sa.String(length=64), server_default="", nullable=False)):
        op.add_column("outgoing_transfers", column)
    op.add_column("incoming_transfers", sa.Column("uetr", sa.String(length=36), nullable=True))
    op.add_column("incoming_transfers", sa.Column("original_transfer_id", sa.String(length=64), server_default="",
                                                  nullable=False))
    # An outbox row not sent yet must carry a UETR when it is: every row gets one now (a row
    # already sent keeps it only here; the clearing holds its Prepare without one).
    connection = op.get_bind()
    ids = connection.execute(sa.text("SELECT transfer_id FROM outgoing_transfers WHERE uetr IS NULL")).scalars().all()
    for transfer_id in ids:
        connection.execute(sa.text("UPDATE outgoing_transfers SET uetr = :uetr WHERE transfer_id = :id"),
                           {"uetr": str(uuid.uuid4()), "id": transfer_id})


def downgrade() -> None:
    op.drop_column("incoming_transfers", "original_transfer_id")
    op.drop_column("incoming_transfers", "uetr")
    for name in ("original_transfer_id", "creditor_name", "debtor_account_id", "debtor_name", "uetr"):
        op.drop_column("outgoing_transfers", name)
