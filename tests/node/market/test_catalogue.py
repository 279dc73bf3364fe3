"""Merchants, products and the federated catalogue."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import time

import pytest
import sqlalchemy as sa

from fedmall.v1 import marketplace_pb2 as mp, money_pb2
from fedmall.v1 import result_pb2 as rc

from node import limits
from node.errors import InvalidRequest, Refused
from node.market import catalogue, local_search, ranking
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

RELEVANCE, PRICE_UP, PRICE_DOWN, NEWEST = (ranking.RELEVANCE, ranking.PRICE_ASCENDING, ranking.PRICE_DESCENDING,
                                           ranking.NEWEST)


def test_score__title_three_description_one_sku_two_per_word():
    assert ranking.score(["kettle", "k"], product(sku="k-1", title="Kettle", description="a kettle")) == 3 + 1 + 2
    assert ranking.score(["steel"], product(title="Kettle", description="Steel body")) == 1
    assert ranking.score(["red"], product(title="Bored kettle")) == 0  # Words, not substrings.


def test_rank__every_word_must_match_somewhere():
    found = ranking.rank(RELEVANCE, ["red", "kettle"], [product(sku="a", title="Red kettle"),
                                                        product(sku="b", title="Blue kettle")])
    assert [p.sku for p in found] == ["a"]


def test_rank__score_then_price_then_bank_merchant_sku():
    products = [
        product(sku="cheap-desc", title="Pot", description="kettle", price_minor=10),
        product(sku="z", title="Kettle", price_minor=500, bank_id="bank-b"),
        product(sku="y", title="Kettle", price_minor=500, bank_id="bank-a"),
        product(sku="x", title="Kettle", price_minor=300),
    ]
    assert [p.sku for p in ranking.rank(RELEVANCE, ["kettle"], products)] == ["x", "y", "z", "cheap-desc"]
    assert [p.sku for p in ranking.rank(PRICE_UP, ["kettle"], products)] == ["cheap-desc", "x", "y", "z"]
    assert [p.sku for p in ranking.rank(PRICE_DOWN, ["kettle"], products)] == ["y", "z", "x", "cheap-desc"]


def test_rank__newest_first_then_bank_merchant_sku():
    products = [dataclasses.replace(product(sku=sku, title="Kettle"), created_at_unix_ms=at, bank_id=bank)
                for sku, at, bank in (("old", 1, "bank-a"), ("new-b", 9, "bank-b"), ("new-a", 9, "bank-a"))]
    assert [p.sku for p in ranking.rank(NEWEST, ["kettle"], products)] == ["new-a", "new-b", "old"]


def test_merge_page__pages_by_position_and_never_trusts_a_peer():
    bank_a = [product(sku=f"a{n}", title="Kettle", price_minor=100 * n) for n in (1, 3, 5)]
    bank_b = [product(sku=f"b{n}", title="Kettle", price_minor=100 * n, bank_id="bank-b") for n in (2, 4)]
    liar = [product(sku="lie", title="Mug", bank_id="bank-c"),  # Does not match: left out.
            product(sku="c0", title="Kettle", price_minor=1, bank_id="bank-x")]  # Claims another bank: left out.
    page, positions, finished = ranking.merge_page(
        PRICE_UP, ["kettle"], {"bank-a": bank_a, "bank-b": bank_b, "bank-c": liar}, {}, page_size=3, asked_for=3)
    assert [p.sku for p in page] == ["a1", "b2", "a3"]
    assert positions["bank-a"].sku == "a3" and positions["bank-b"].sku == "b2"
    assert finished == {"bank-c"}  # Answered less than asked, nothing of it left: nothing more there.
    # The next page asks each bank after its position; a bank repeating rows already shown is ignored.
    page, positions, finished = ranking.merge_page(
        PRICE_UP, ["kettle"], {"bank-a": bank_a, "bank-b": bank_b[1:]}, positions, page_size=3, asked_for=3)
    assert [p.sku for p in page] == ["b4", "a5"]
    assert finished == {"bank-b"}  # bank-a answered as many rows as asked for: it may have more.


def test_merge_page__a_bank_that_misses_a_page_keeps_its_position():
    bank_a = [product(sku=f"a{n}", title="Kettle", price_minor=100 * n) for n in (1, 2, 3, 4)]
    page, positions, _ = ranking.merge_page(PRICE_UP, ["kettle"], {"bank-a": bank_a[:2]}, {}, page_size=2,
                                            asked_for=2)
    assert [p.sku for p in page] == ["a1", "a2"]
    _, missed, _ = ranking.merge_page(PRICE_UP, ["kettle"], {}, positions, page_size=2, asked_for=2)  # No answer.
    assert missed == positions
    page, _, _ = ranking.merge_page(PRICE_UP, ["kettle"], {"bank-a": bank_a}, missed, page_size=2, asked_for=2)
    assert [p.sku for p in page] == ["a3", "a4"]  # Never a1 or a2 again.


def test_query_words__refuses_empty_and_overlong_queries():
    with pytest.raises(InvalidRequest):
        catalogue.query_words("   ")
    with pytest.raises(InvalidRequest):
        catalogue.query_words("x" * 201)
    with pytest.raises(InvalidRequest):
        catalogue.query_words("-- ??")  # No word in it.
    assert catalogue.query_words("Red  red KETTLE, 1.5l") == ["red", "kettle", "1", "5l"]


def test_merge_counts__rolls_categories_up_the_tree():
    counts = [local_search.Counts(matches=3, exact=True, by_category={"kitchen": 2, "garden": 1},
                                  by_price_band={("EUR", 0): 3}),
              local_search.Counts(matches=1, exact=False, by_category={"home": 1}, by_price_band={("EUR", 0): 1})]
    facets = catalogue.merge_counts(counts)
    assert facets.by_category == {"home": 4, "kitchen": 2, "garden": 1}
    assert facets.by_price_band == {("EUR", 0): 4} and facets.exact is False


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
    assert merchants.list_products("m1")[0][0].stock_available == 1


def test_list_products__pages_in_sku_order(merchants, monkeypatch):
    monkeypatch.setattr(limits, "products_listed_max", 2)
    merchants.onboard(merchant_id="m1", legal_name="M", contact="c", settlement_account_id="settle-1")
    for sku in ("c", "a", "b"):
        merchants.upsert_product(merchant_id="m1", sku=sku, title="T", description="", price_minor=1,
                                 currency="EUR", stock=1)
    first, after = merchants.list_products("m1")
    assert ([p.sku for p in first], after) == (["a", "b"], "b")
    rest, after = merchants.list_products("m1", after_sku=after)
    assert ([p.sku for p in rest], after) == (["c"], "")


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
    response = market.market("bank-a").Search(mp.SearchRequest(query="steel kettle", page_size=10,
                                                                 filters=mp.SearchFilters(in_stock=True)))
    assert [(p.bank_id, p.sku) for p in response.products] == [("bank-c", "k3"), ("bank-a", "k1"), ("bank-b", "k2")]
    assert response.total == 3 and list(response.banks_not_answering) == []
    assert response.products[0].merchant_name == "Gamma Ltd" and response.products[0].stock_available == 2

    first = market.market("bank-a").Search(mp.SearchRequest(query="kettle", page_size=2))
    assert [p.sku for p in first.products] == ["k0", "k2"] and first.total == 4  # Out of stock shown unless filtered.
    second = market.market("bank-a").Search(mp.SearchRequest(query="kettle", page_size=2, cursor=first.next_cursor))
    assert [p.sku for p in second.products] == ["k3", "k1"] and second.next_cursor == ""

    market.stop_node("bank-c")
    started = time.monotonic()
    response = market.market("bank-a").Search(mp.SearchRequest(query="steel kettle", page_size=10,
                                                                 filters=mp.SearchFilters(in_stock=True)))
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
            price=money_pb2.Money(amount_minor=500, currency="EUR"), stock_available=1,
            status=mp.PRODUCT_STATUS_LISTED, category_id="kitchen")])


def test_search__many_at_once_with_a_silent_bank_still_hear_the_healthy_one(node_engine):
    # A deadline 40 searches at once can meet on a loaded 2-core machine; the slow bank holds it all.
    service = CatalogueService(node_engine, bank_id="bank-a", peers=_SlowAndFastPeers(), deadline_ms=1500)
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as callers:
        search = catalogue.check_search("mug", mp.SearchFilters(), mp.SEARCH_SORT_RELEVANCE, tree_version=0)
        pages = list(callers.map(lambda _: service.search(search, cursor="", page_size=10), range(40)))
    service.close()
    assert all(page.banks_not_answering == ["bank-slow"] for page in pages)
    assert all([product.bank_id for product in page.products] == ["bank-fast"] for page in pages)


class _FlakyRegistryPeers:
    """bank-b's catalogue of kettles, answered in price order after the position asked for; the
    registry fails every time in `down` (then no peer is known)."""

    def __init__(self) -> None:
        self.calls = 0
        self.down: set[int] = set()
        self.products = [mp.Product(merchant_id="m", merchant_name="M", sku=f"b{n:02}", title="Kettle",
                                    price=money_pb2.Money(amount_minor=100 * n + 50, currency="EUR"),
                                    stock_available=1, status=mp.PRODUCT_STATUS_LISTED, category_id="kitchen")
                         for n in range(6)]

    def other_active_bank_ids(self) -> list[str]:
        self.calls += 1
        if self.calls in self.down:
            raise ConnectionError("registry down")
        return ["bank-b"]

    def search_catalogue(self, bank_id, request, *, timeout_s):
        after = (request.after.price_minor, request.after.merchant_id, request.after.sku)
        rows = [p for p in self.products if not request.HasField("after") or
                (p.price.amount_minor, p.merchant_id, p.sku) > after]
        return mp.SearchCatalogueResponse(products=rows[:request.limit])


def test_search__a_bank_left_out_of_one_page_goes_on_from_where_it_stood(merchants):
    merchants.onboard(merchant_id="m1", legal_name="M", contact="c", settlement_account_id="settle-1")
    for n in range(6):
        merchants.upsert_product(merchant_id="m1", sku=f"a{n:02}", title="Kettle", description="",
                                 price_minor=100 * n + 1, currency="EUR", stock=1)
    peers = _FlakyRegistryPeers()
    peers.down = {2}  # The second page is asked while the registry is down.
    service = CatalogueService(merchants._engine, bank_id="bank-a", peers=peers, deadline_ms=5_000)
    search = catalogue.check_search("kettle", mp.SearchFilters(), mp.SEARCH_SORT_PRICE_ASCENDING, tree_version=0)
    seen, cursor = [], ""
    for _ in range(10):
        page = service.search(search, cursor=cursor, page_size=3)
        seen.extend((p.bank_id, p.sku) for p in page.products)
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 12  # Every kettle of both banks, none twice.
