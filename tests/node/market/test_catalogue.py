"""Merchants, products and the federated catalogue."""
from __future__ import annotations

import concurrent.futures
import time

import pytest
import sqlalchemy as sa

from fedmall.v1 import marketplace_pb2 as mp, money_pb2
from fedmall.v1 import result_pb2 as rc

from node import limits
from node.errors import InvalidRequest, Refused
from node.market import catalogue
from node.market.catalogue import CatalogueService
from node.market.merchants import MerchantService, ProductView
from tests.node.books import node_engine, open_account  # noqa: F401
from tests.node.market.world import database_url, market  # noqa: F401


def product(sku="s1", title="Red kettle", description="", price_minor=100, on_hand=5, reserved=0,
            bank_id="bank-a", merchant_id="m1") -> ProductView:
    return ProductView(bank_id=bank_id, merchant_id=merchant_id, merchant_name="M", sku=sku, title=title,
                       description=description, price_minor=price_minor, currency="EUR",
                       stock_on_hand=on_hand, stock_reserved=reserved)


# Ranking (pure) ----------------------------------------------------------------------------

def test_score__title_three_description_one_exact_sku_two():
    words = ["kettle", "k-1"]
    assert catalogue.score(words, product(sku="k-1", title="Kettle", description="a kettle")) == 3 + 1 + 2
    assert catalogue.score(["steel"], product(title="Kettle", description="Steel body")) == 1


def test_rank__every_word_must_match_somewhere():
    found = catalogue.rank(["red", "kettle"], [product(sku="a", title="Red kettle"),
                                               product(sku="b", title="Blue kettle")])
    assert [p.sku for p in found] == ["a"]


def test_rank__score_then_price_then_bank_merchant_sku():
    products = [
        product(sku="cheap-desc", title="Pot", description="kettle", price_minor=10),
        product(sku="z", title="Kettle", price_minor=500, bank_id="bank-b"),
        product(sku="y", title="Kettle", price_minor=500, bank_id="bank-a"),
        product(sku="x", title="Kettle", price_minor=300),
    ]
    assert [p.sku for p in catalogue.rank(["kettle"], products)] == ["x", "y", "z", "cheap-desc"]


def test_rank__leaves_out_products_without_available_stock():
    assert catalogue.rank(["kettle"], [product(on_hand=3, reserved=3)]) == []


def test_query_words__refuses_empty_and_overlong_queries():
    with pytest.raises(InvalidRequest):
        catalogue.query_words("   ")
    with pytest.raises(InvalidRequest):
        catalogue.query_words("x" * 201)
    assert catalogue.query_words("Red  red KETTLE") == ["red", "kettle"]


# Merchants and products (service, real SQLite) -----------------------------------------------

@pytest.fixture
def merchants(node_engine):
    open_account(node_engine, "settle-1")
    return MerchantService(node_engine, bank_id="bank-a", clock=time.time)


def test_onboard__same_again_exists_other_details_modified(merchants):
    assert merchants.onboard(merchant_id="m1", legal_name="M", contact="c", settlement_account_id="settle-1") == rc.RESULT_CODE_OK
    assert merchants.onboard(merchant_id="m1", legal_name="M", contact="c", settlement_account_id="settle-1") == rc.RESULT_CODE_EXISTS
    with pytest.raises(Refused) as refused:
        merchants.onboard(merchant_id="m1", legal_name="Other", contact="c", settlement_account_id="settle-1")
    assert refused.value.code == rc.RESULT_CODE_MODIFIED_REQUEST


def test_onboard__settlement_account_must_exist(merchants):
    with pytest.raises(Refused) as refused:
        merchants.onboard(merchant_id="m1", legal_name="M", contact="c", settlement_account_id="nobody")
    assert refused.value.code == rc.RESULT_CODE_ACCOUNT_UNKNOWN


def test_upsert_product__unknown_merchant_is_refused(merchants):
    with pytest.raises(Refused) as refused:
        merchants.upsert_product(merchant_id="ghost", sku="s", title="T", description="", price_minor=1,
                                 currency="EUR", stock=1)
    assert refused.value.code == rc.RESULT_CODE_MERCHANT_UNKNOWN


def test_upsert_product__stock_below_reserved_is_refused_and_never_negative(merchants, node_engine):
    merchants.onboard(merchant_id="m1", legal_name="M", contact="c", settlement_account_id="settle-1")
    merchants.upsert_product(merchant_id="m1", sku="s", title="T", description="", price_minor=1,
                             currency="EUR", stock=5)
    from node.market import store as tables
    with node_engine.begin() as connection:
        connection.execute(tables.products.update().values(stock_reserved=4))
    with pytest.raises(Refused) as refused:
        merchants.upsert_product(merchant_id="m1", sku="s", title="T", description="", price_minor=1,
                                 currency="EUR", stock=3)
    assert refused.value.code == rc.RESULT_CODE_INSUFFICIENT_STOCK
    with pytest.raises(InvalidRequest):
        merchants.upsert_product(merchant_id="m1", sku="s", title="T", description="", price_minor=1,
                                 currency="EUR", stock=-1)
    with pytest.raises(sa.exc.IntegrityError):  # The CHECK constraint holds even against our own bugs.
        with node_engine.begin() as connection:
            connection.execute(tables.products.update().values(stock_reserved=6))
    assert merchants.list_products("m1")[0].stock_available == 1


# Over gRPC, real nodes ----------------------------------------------------------------------

def test_marketplace_service__other_banks_certificate_is_forbidden(market):
    market.open_account("bank-a", "settle-x")
    foreign = market.market("bank-b")  # bank-b's certificate, but bank-a's server:
    from fedmall import tls
    from fedmall.pki import Identity
    from fedmall.v1 import marketplace_pb2_grpc
    channel = tls.secure_channel(f"127.0.0.1:{market.world.banks['bank-a'].node_port}",
                                 market.world.banks["bank-b"].tls, server=Identity("bank-a", "bank"))
    market.world._channels.append(channel)
    response = marketplace_pb2_grpc.MarketplaceServiceStub(channel).OnboardMerchant(mp.OnboardMerchantRequest(
        merchant_id="m", legal_name="M", contact="c", settlement_account_id="settle-x"))
    assert response.result == rc.RESULT_CODE_FORBIDDEN
    assert foreign is not None


def test_search__across_three_nodes_with_one_down_names_it(market):
    market.merchant("bank-a", "alpha")
    market.merchant("bank-b", "beta")
    market.merchant("bank-c", "gamma")
    market.product("bank-a", "alpha", "k1", title="Steel kettle", price_minor=2_000, stock=3)
    market.product("bank-a", "alpha", "k0", title="Empty kettle", price_minor=1_000, stock=0)
    market.product("bank-b", "beta", "k2", title="Kettle", description="steel", price_minor=1_500, stock=1)
    market.product("bank-c", "gamma", "k3", title="Steel kettle deluxe", price_minor=1_800, stock=2)
    response = market.market("bank-a").Search(mp.SearchRequest(query="steel kettle", page_size=10))
    assert [(p.bank_id, p.sku) for p in response.products] == [("bank-c", "k3"), ("bank-a", "k1"), ("bank-b", "k2")]
    assert response.total == 3 and list(response.banks_not_answering) == []
    assert response.products[0].merchant_name == "Gamma Ltd" and response.products[0].stock_available == 2

    page = market.market("bank-a").Search(mp.SearchRequest(query="kettle", page_size=2, page=1))
    assert [p.sku for p in page.products] == ["k1"] and page.total == 3  # k2, k3 (cheaper) on page 0

    market.stop_node("bank-c")
    started = time.monotonic()
    response = market.market("bank-a").Search(mp.SearchRequest(query="steel kettle", page_size=10))
    # The deadline bounds the wait for a bank that is down (a generous ceiling: a busy machine is slow).
    assert time.monotonic() - started < 10 * limits.search_deadline_ms_default / 1000
    assert [p.sku for p in response.products] == ["k1", "k2"]
    assert list(response.banks_not_answering) == ["bank-c"]
    market.assert_books()


def test_search__suspended_merchant_is_not_listed(market):
    market.merchant("bank-b", "beta")
    market.product("bank-b", "beta", "k2", title="Kettle", price_minor=1_500, stock=1)
    response = market.market("bank-b").SetMerchantStatus(mp.SetMerchantStatusRequest(
        merchant_id="beta", status=mp.MERCHANT_STATUS_SUSPENDED))
    assert response.result == rc.RESULT_CODE_OK
    assert list(market.market("bank-a").Search(mp.SearchRequest(query="kettle")).products) == []


class _SlowAndFastPeers:
    """SLOW holds every call until its timeout (as a silent node does); FAST answers at once."""

    def other_active_bank_ids(self) -> list[str]:
        return ["bank-slow", "bank-fast"]

    def search_catalogue(self, bank_id, request, *, timeout_s):
        if bank_id == "bank-slow":
            time.sleep(timeout_s)
            raise TimeoutError("deadline exceeded")
        return mp.SearchCatalogueResponse(products=[mp.Product(
            bank_id=bank_id, merchant_id="m", merchant_name="M", sku="mug", title="Mug", description="",
            price=money_pb2.Money(amount_minor=500, currency="EUR"), stock_available=1)])


def test_search__many_at_once_with_a_silent_bank_still_hear_the_healthy_one(node_engine):
    catalogue = CatalogueService(node_engine, bank_id="bank-a", peers=_SlowAndFastPeers(), deadline_ms=300)
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as callers:
        pages = list(callers.map(lambda _: catalogue.search("mug", page=0, page_size=10), range(40)))
    catalogue.close()
    assert all(page.banks_not_answering == ["bank-slow"] for page in pages)
    assert all([product.bank_id for product in page.products] == ["bank-fast"] for page in pages)
