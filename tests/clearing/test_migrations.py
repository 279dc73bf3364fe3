"""The schema comes from migrations, and the migrations match the tables the code uses."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from clearing.store import Store, metadata


def test_migrated_schema_matches_the_tables(database_url):
    store = Store.open(database_url)
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    store.close()
    assert differences == []


def test_migrating_twice_is_a_no_op(database_url):
    Store.open(database_url).close()
    Store.open(database_url).close()
