"""The node's migrations: they match the tables, and a database made before a change still
upgrades and serves."""
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from fedmall.database import make_engine
from fedmall.pki import Identity
from fedmall.tls import secure_channel
from fedmall.v1 import (
    credit_pb2, credit_pb2_grpc, marketplace_pb2, marketplace_pb2_grpc, money_pb2, node_pb2, node_pb2_grpc, result_pb2)

from node import store
from node.bank import ledger, store as bank_store
from node.bank.settlement_credits import book_settlement_credits
from node.config import load_config
from node.credit.loan_views import loan_book_problems
from node.credit.repayments import RepaymentFromSales
from node.migrations import all_tables
from node.server import build_node
from tests.support.credit import EXAMPLE_POLICY
from tests.support.ids import uuid_of

BEFORE_WINGS = Path(__file__).with_name("fixtures") / "node_db_before_wings.sql"
OK = result_pb2.RESULT_CODE_OK


def schema_context(connection) -> MigrationContext:
    """The database's schema as alembic compares it, without the full-text indexes migration
    0011 makes for one store only: SQLite's products_fts (and its shadow tables, kept in step by
    triggers) and PostgreSQL's GIN expression index ix_products_search."""
    def include_name(name, type_, parent_names) -> bool:
        return not ((type_ == "table" and name.startswith("products_fts")) or name == "ix_products_search")
    return MigrationContext.configure(connection, opts={"include_name": include_name})


def test_migrations__match_the_tables_in_store(database_url):
    engine = store.open_database(database_url)
    store.open_database(database_url).dispose()  # Running again is a no-op.
    with engine.connect() as connection:
        assert compare_metadata(schema_context(connection), all_tables()) == []
    engine.dispose()


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", store.MIGRATIONS)
    return ScriptDirectory.from_config(config).get_current_head()


def test_database_made_before_the_wings__upgrades_and_serves(tmp_path, consortium, fake_clearing):
    path = tmp_path / "node.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(BEFORE_WINGS.read_text())
    home = consortium.bundle("bank-a", clearing_address=fake_clearing.address, database_url=f"sqlite:///{path}")
    with (home / "fedmall.toml").open("a") as config_file:  # [node] is the file's last section.
        config_file.write(f'credit_policy = "{EXAMPLE_POLICY}"\n')
    node = build_node(load_config(home, environ={}))  # Migrates the old database to the head.
    port = node.start()
    try:
        with node.engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT version_num FROM alembic_version")) == head_revision()
            assert compare_metadata(schema_context(connection), all_tables()) == []
        channel = secure_channel(f"127.0.0.1:{port}", consortium.credentials("bank-a"),
                                 server=Identity("bank-a", "bank"))
        bank = node_pb2_grpc.NodeServiceStub(channel)
        market = marketplace_pb2_grpc.MarketplaceServiceStub(channel)
        credit = credit_pb2_grpc.CreditServiceStub(channel)

        # What the old code wrote reads back through every wing.
        account = bank.GetAccount(node_pb2.GetAccountRequest(account_id="alice"))
        assert (account.result, account.balance.amount_minor) == (OK, 50_000)
        products = market.ListMerchantProducts(marketplace_pb2.ListMerchantProductsRequest(merchant_id="shop-1"))
        assert [(product.sku, product.stock_available) for product in products.products] == [("mug", 40)]
        loan = credit.GetLoan(credit_pb2.GetLoanRequest(merchant_id="shop-1", loan_id="loan-1"))
        assert (loan.result, loan.loan.outstanding.amount_minor, loan.loan.repaid.amount_minor) == (OK, 203_000, 2_000)

        # And the new code writes to it: a deposit, and a sale whose share repays the old loan.
        deposit = bank.Deposit(node_pb2.DepositRequest(
            deposit_id=uuid_of("d-after"), account_id="alice", amount=money_pb2.Money(amount_minor=1_000, currency="EUR")))
        assert deposit.result == OK
        with node.engine.begin() as connection:
            book_settlement_credits(connection, [ledger.move(
                "release:order-2", "release", source=ledger.internal_account_id(ledger.ESCROW, "EUR"),
                destination="shop-1", amount_minor=10_000, currency="EUR")], RepaymentFromSales(), now_ms=1)
        loan = credit.GetLoan(credit_pb2.GetLoanRequest(merchant_id="shop-1", loan_id="loan-1"))
        assert (loan.loan.outstanding.amount_minor, loan.loan.repaid.amount_minor) == (201_000, 4_000)
        channel.close()
    finally:
        node.stop(grace_s=0)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert ledger.books_problems(bank_store.read_books(connection)) == []
        assert loan_book_problems(connection) == []
    engine.dispose()
