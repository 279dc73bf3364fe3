"""Alembic environment: migrations run on the connection fedmall.database.migrate passes in."""
from alembic import context

from clearing.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
