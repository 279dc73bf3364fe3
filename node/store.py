"""What the node's stores share: one SQLAlchemy MetaData for every wing's tables, and
opening the node's database.

Each wing keeps its tables in its own store module on this metadata (node.bank.store,
node.market.store, node.credit.store). Schemas are created by the Alembic migrations in
node/migrations, never create_all; node.migrations.all_tables() loads every wing's tables
onto the metadata for them.
"""
from __future__ import annotations

import sqlalchemy as sa

from fedmall.database import open_migrated

metadata = sa.MetaData()

MIGRATIONS = "node:migrations"


def open_database(database_url: str) -> sa.Engine:
    """The node's engine, its schema brought to the newest migration (ConfigError when the
    database cannot be opened)."""
    return open_migrated(database_url, MIGRATIONS)
