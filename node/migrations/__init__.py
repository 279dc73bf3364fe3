"""The node's Alembic migrations: one history for every wing's tables."""
import sqlalchemy as sa


def all_tables() -> sa.MetaData:
    """node.store.metadata with every wing's tables on it (what the migrations must match)."""
    from node.bank import store as bank_store  # noqa: F401  (importing a store registers its tables)
    from node.credit import store as credit_store  # noqa: F401
    from node.market import store as market_store  # noqa: F401
    from node.store import metadata
    return metadata
