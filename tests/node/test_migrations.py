from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fedmall.database import make_engine, migrate
from node.migrations import all_tables


def test_migrations__match_the_tables_in_store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    migrate(engine, "node:migrations")
    migrate(engine, "node:migrations")  # Running again is a no-op.
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), all_tables()) == []
    engine.dispose()
