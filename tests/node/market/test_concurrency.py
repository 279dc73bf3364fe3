"""Concurrent checkouts from one buyer account, on SQLite and PostgreSQL: the funds check
holds under the account's row lock, the escrow holds exactly what the accepted carts cost,
and no balance goes below zero."""
import pytest

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from node import store
from node.bank import ledger, store as bank_store
from node.market.buyer_orders import CartLine
from tests.node.books import balance, books_problems, open_account
from tests.node.market.test_buyer_worker import UP, FakePeers, FakeTransfers, service
from tests.support.concurrency import at_once

ESCROW = ledger.internal_account_id(ledger.ESCROW, "EUR")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'node.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_cluster").new_database())
    engine = store.open_database(url)
    with engine.begin() as connection:
        bank_store.ensure_internal_accounts(connection, now_ms=0)
    open_account(engine, "buyer", balance_minor=10_000)
    yield engine
    engine.dispose()


def test_checkouts__eight_at_once_from_one_account_never_overdraw_it(engine):
    buyer_orders = service(engine, FakePeers(), FakeTransfers(), [100.0])
    def checkout(index: int):
        def run() -> int:
            try:
                return buyer_orders.checkout(checkout_id=f"c{index}", buyer_account_id="buyer", lines=[
                    CartLine(seller_bank_id=UP, merchant_id="beta", sku="mug", quantity=1, unit_price_minor=3_000,
                             currency="EUR")]).result
            except FedmallError as error:
                return error.code
        return run

    results = at_once([checkout(index) for index in range(8)])
    buyer_orders.close()
    assert sorted(results) == sorted([rc.RESULT_CODE_OK] * 3 + [rc.RESULT_CODE_INSUFFICIENT_FUNDS] * 5)
    assert (balance(engine, "buyer"), balance(engine, ESCROW)) == (1_000, 9_000)
    assert books_problems(engine) == []
