"""Alembic environment: migrations run on the connection fedmall.database.migrate passes in."""
from alembic import context

from node.migrations import all_tables

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=all_tables())
with context.begin_transaction():
    context.run_migrations()
