"""A node database with no server, for tests of one wing's services: a fixture and the
few reads and writes every wing's tests need on the bank's books."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from node import store
from node.bank import ledger, store as bank_store
from tests.support.federation import CURRENCY


@pytest.fixture
def node_engine(tmp_path):
    """A migrated node database with its internal accounts, and no server."""
    engine = _migrated(f"sqlite:///{tmp_path / 'node.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_engine(request, tmp_path):
    """node_engine on each store: the embedded default and the production one."""
    engine = _migrated(f"sqlite:///{tmp_path / 'node.db'}" if request.param == "sqlite"
                       else request.getfixturevalue("postgres_cluster").new_database())
    yield engine
    engine.dispose()


def _migrated(database_url: str) -> sa.Engine:
    engine = store.open_database(database_url)
    with engine.begin() as connection:
        bank_store.ensure_internal_accounts(connection, now_ms=0)
    return engine


def open_account(engine, account_id: str, *, balance_minor: int = 0, currency: str = CURRENCY) -> None:
    """A customer account, funded from @cash with a balanced entry."""
    with engine.begin() as connection:
        connection.execute(bank_store.accounts.insert().values(
            account_id=account_id, holder_name=account_id, currency=currency, internal=False, closed=False,
            balance_minor=0, created_at_unix_ms=0))
        if balance_minor:
            bank_store.write_entries(connection, [ledger.move(
                f"deposit:{account_id}", "deposit", source=ledger.internal_account_id(ledger.CASH, currency),
                destination=account_id, amount_minor=balance_minor, currency=currency)], now_ms=0)


def books_problems(engine) -> list[str]:
    with engine.connect() as connection:
        return ledger.books_problems(bank_store.read_books(connection))


def balance(engine, account_id: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(bank_store.accounts.c.balance_minor)
                                 .where(bank_store.accounts.c.account_id == account_id))
