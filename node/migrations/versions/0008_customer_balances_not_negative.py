"""Customer balances never below zero, enforced by the database as well as by the locks.

PostgreSQL gets a CHECK constraint. SQLite cannot add one to an existing table without
copying it (which the accounts' foreign keys forbid inside the migration's transaction),
so it gets triggers that refuse the same rows.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "ck_accounts_customer_not_negative"
RULE = "internal OR balance_minor >= 0"


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        op.create_check_constraint(NAME, "accounts", RULE)
        return
    for event in ("INSERT", "UPDATE"):
        op.execute(f"""
            CREATE TRIGGER {NAME}_{event.lower()} BEFORE {event} ON accounts
            FOR EACH ROW WHEN NOT ({RULE.replace('internal', 'NEW.internal').replace('balance_minor', 'NEW.balance_minor')})
            BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {NAME}'); END""")


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        op.drop_constraint(NAME, "accounts", type_="check")
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER {NAME}_{event}")
