"""The catalogue through real nodes on each store (SQLite and PostgreSQL): bulk import (all rows
or none), full-text search with filters, facets and a cursor across banks, statuses and
variants at checkout, and every refusal changing nothing."""
from __future__ import annotations

import grpc
import pytest

from fedmall import categories
from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from node.market import ranking
from node.market.catalogue import product_from_proto
from tests.acceptance.conftest import closed_at_rest
from tests.node.market.world import Market, database_url, eur  # noqa: F401 - the clearing on SQLite.

BUYER = "ann"


@pytest.fixture(params=["sqlite", "postgresql"])
def market(world, request):
    """Every node on the store of the parameter (the clearing on SQLite), with a search deadline no
    busy machine misses: these tests are about what a search finds, not about late banks."""
    market = Market(world)
    for bank_id in world.banks:
        overrides = ({"database_url": request.getfixturevalue("postgres_cluster").new_database()}
                     if request.param == "postgresql" else {})
        market.start_node(bank_id, search_deadline_ms=15_000, **overrides)
    yield market
    closed_at_rest(request, market)


def upsert(sku: str, title: str, price_minor: int, stock: int, **catalogue) -> mp.UpsertProductRequest:
    return mp.UpsertProductRequest(sku=sku, title=title, price=eur(price_minor), stock=stock, **catalogue)


def import_rows(market: Market, bank_id: str, merchant_id: str, rows: list[mp.UpsertProductRequest], *,
                per_message: int = 2) -> mp.ImportProductsResponse:
    numbered = [mp.ImportRow(row_number=number, product=row) for number, row in enumerate(rows, start=1)]
    messages = [mp.ImportProductsRequest(merchant_id=merchant_id, rows=numbered[start:start + per_message])
                for start in range(0, len(numbered), per_message)]
    return market.market(bank_id).ImportProducts(iter(messages))


def search(market: Market, query: str, **fields) -> mp.SearchResponse:
    return market.market("bank-a").Search(mp.SearchRequest(query=query, **fields))


def skus(response: mp.SearchResponse) -> list[str]:
    return [product.sku for product in response.products]


def test_import__a_bad_price_or_category_names_its_row_and_imports_nothing(market):
    market.merchant("bank-b", "beta")
    rows = [upsert("k1", "Steel kettle", 2_000, 3, category_id="kitchen"),
            upsert("k2", "Glass kettle", 0, 3, category_id="kitchen"),            # Bad price.
            upsert("k3", "Copper kettle", 2_500, 1, category_id="spaceships"),    # No such category.
            upsert("k4", "Iron kettle", 2_700, 1)]
    response = import_rows(market, "bank-b", "beta", rows)
    assert response.result == rc.RESULT_CODE_IMPORT_ROWS_REFUSED and response.rows_imported == 0
    assert [(p.row_number, p.code) for p in response.problems] == [
        (2, rc.RESULT_CODE_INVALID_AMOUNT), (3, rc.RESULT_CODE_CATEGORY_UNKNOWN)]
    assert market.products("bank-b", "beta") == {}
    assert skus(search(market, "kettle")) == []

    response = import_rows(market, "bank-b", "beta", [rows[0], rows[3], upsert("k1", "Twice", 100, 1)])
    assert response.result == rc.RESULT_CODE_IMPORT_ROWS_REFUSED
    assert [(p.row_number, p.code) for p in response.problems] == [(3, rc.RESULT_CODE_INVALID_FIELD)]  # k1 again.
    assert market.products("bank-b", "beta") == {}

    response = import_rows(market, "bank-b", "beta", [rows[0], rows[3]])
    assert (response.result, response.rows_seen, response.rows_imported) == (rc.RESULT_CODE_OK, 2, 2)
    assert import_rows(market, "bank-b", "beta", [rows[0], rows[3]]).rows_imported == 0  # A retry changes nothing.
    assert skus(search(market, "kettle")) == ["k1", "k4"]
    assert market.products("bank-b", "beta")["k4"].category_id == "other"


def test_import__unknown_merchant_is_refused(market):
    response = import_rows(market, "bank-b", "ghost", [upsert("k1", "Kettle", 100, 1)])
    assert response.result == rc.RESULT_CODE_MERCHANT_UNKNOWN


def test_search__unknown_category_or_other_tree_version_is_a_typed_error(market):
    for request, code in ((mp.SearchRequest(query="kettle", filters=mp.SearchFilters(category_id="spaceships")),
                           "CATEGORY_UNKNOWN"),
                          (mp.SearchRequest(query="kettle", category_tree_version=categories.VERSION + 1),
                           "CATEGORY_TREE_VERSION_MISMATCH")):
        with pytest.raises(grpc.RpcError) as refused:
            market.market("bank-a").Search(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details().startswith(code + ":")


def provision_catalogue(market: Market) -> None:
    market.merchant("bank-a", "alpha")
    market.merchant("bank-b", "beta")
    market.merchant("bank-c", "gamma")
    assert import_rows(market, "bank-a", "alpha", [
        upsert("a-pot", "Steel pot", 1_500, 4, category_id="kitchen"),
        upsert("a-hose", "Garden hose steel", 4_000, 0, category_id="garden"),
        upsert("a-phone", "Steel phone case", 900, 9, category_id="phones")]).result == rc.RESULT_CODE_OK
    assert import_rows(market, "bank-b", "beta", [
        upsert("b-pan", "Steel pan", 2_500, 2, category_id="kitchen", description="steel pan, oven proof"),
        upsert("b-chair", "Chair", 12_000, 1, category_id="furniture", description="steel legs")]).result == rc.RESULT_CODE_OK
    assert import_rows(market, "bank-c", "gamma", [
        upsert("c-knife", "Knife", 800, 5, category_id="kitchen", description="steel blade"),
        upsert("c-shovel", "Steel shovel", 3_000, 2, category_id="garden")]).result == rc.RESULT_CODE_OK


def test_search__category_with_descendants_price_range_in_stock_and_facets(market):
    provision_catalogue(market)
    response = search(market, "steel", want_facets=True, filters=mp.SearchFilters(
        category_id="home", price_min=eur(1_000), price_max=eur(5_000), in_stock=True))
    # kitchen and garden are under home; the knife is too cheap, the hose out of stock, the chair too dear.
    assert skus(response) == ["b-pan", "a-pot", "c-shovel"]
    assert response.total == 3 and response.total_exact and list(response.banks_not_answering) == []
    facets = {facet.category_id: facet.count for facet in response.facets.categories}
    assert facets == {"home": 3, "kitchen": 2, "garden": 1}
    assert [(band.currency, band.from_minor, band.to_minor, band.count) for band in response.facets.price_bands] == [
        ("EUR", 1_000, 5_000, 3)]

    merchant_only = search(market, "steel", filters=mp.SearchFilters(merchant_id="gamma"))
    assert skus(merchant_only) == ["c-shovel", "c-knife"]
    bank_only = search(market, "steel", filters=mp.SearchFilters(bank_id="bank-b"))
    assert skus(bank_only) == ["b-pan", "b-chair"]


def test_search__cursor_pages_cover_every_match_once_in_order(market):
    provision_catalogue(market)
    for sort in ranking.SORTS:
        pages_cover_every_match_once(market, sort)


def pages_cover_every_match_once(market: Market, sort: int) -> None:
    everything = search(market, "steel", sort=sort, page_size=100)
    assert everything.next_cursor == ""
    seen, cursor = [], ""
    while True:
        page = search(market, "steel", sort=sort, page_size=2, cursor=cursor)
        assert len(page.products) <= 2
        seen.extend(page.products)
        cursor = page.next_cursor
        if not cursor:
            break
    assert [(p.bank_id, p.sku) for p in seen] == [(p.bank_id, p.sku) for p in everything.products]
    assert len(seen) == 7
    views = [product_from_proto(p, bank_id=p.bank_id) for p in seen]
    assert views == ranking.rank(sort, ["steel"], views)  # The order is the pure function's.

    with pytest.raises(grpc.RpcError) as refused:  # A cursor belongs to its search.
        search(market, "pan", sort=sort, page_size=2, cursor=search(market, "steel", page_size=2).next_cursor)
    assert refused.value.details().startswith("INVALID_FIELD:")


def test_draft_and_delisted_products_are_neither_found_nor_bought(market):
    market.merchant("bank-b", "beta")
    market.open_account("bank-a", BUYER, deposit_minor=100_000)
    assert import_rows(market, "bank-b", "beta", [
        upsert("k1", "Kettle", 2_000, 5, status=mp.PRODUCT_STATUS_DRAFT)]).result == rc.RESULT_CODE_OK
    assert skus(search(market, "kettle")) == []
    order = market.checkout("bank-a", BUYER, [("bank-b", "beta", "k1", 1, 2_000)]).orders[0]
    assert order.state == mp.ORDER_STATE_FAILED and order.problem == rc.RESULT_CODE_PRODUCT_NOT_LISTED

    status = market.market("bank-b").SetProductStatus(mp.SetProductStatusRequest(
        merchant_id="beta", sku="k1", status=mp.PRODUCT_STATUS_LISTED))
    assert status.result == rc.RESULT_CODE_OK
    assert skus(search(market, "kettle")) == ["k1"]
    market.market("bank-b").SetProductStatus(mp.SetProductStatusRequest(
        merchant_id="beta", sku="k1", status=mp.PRODUCT_STATUS_DELISTED))
    assert skus(search(market, "kettle")) == []
    order = market.checkout("bank-a", BUYER, [("bank-b", "beta", "k1", 1, 2_000)]).orders[0]
    assert order.problem == rc.RESULT_CODE_PRODUCT_NOT_LISTED
    assert market.products("bank-b", "beta")["k1"].stock_available == 5  # Nothing reserved.
    assert market.escrow("bank-a") == 0
    market.assert_books()


def test_variants__each_its_own_sku_price_and_stock_at_checkout(market):
    market.merchant("bank-b", "beta")
    market.open_account("bank-a", BUYER, deposit_minor=100_000)
    assert import_rows(market, "bank-b", "beta", [
        upsert("tee-m", "Tee", 1_500, 2, product_id="tee", size="M", colour="red", category_id="clothing"),
        upsert("tee-l", "Tee", 1_700, 0, product_id="tee", size="L", colour="red", category_id="clothing",
               attributes={"material": "cotton"}, image_refs=["sha256:" + "ab" * 32])]).result == rc.RESULT_CODE_OK
    found = {p.sku: p for p in search(market, "tee", filters=mp.SearchFilters(category_id="fashion")).products}
    assert {sku: (p.product_id, p.size, p.price.amount_minor) for sku, p in found.items()} == {
        "tee-m": ("tee", "M", 1_500), "tee-l": ("tee", "L", 1_700)}
    assert dict(found["tee-l"].attributes) == {"material": "cotton"}

    without_stock = market.checkout("bank-a", BUYER, [("bank-b", "beta", "tee-l", 1, 1_700)]).orders[0]
    assert without_stock.problem == rc.RESULT_CODE_INSUFFICIENT_STOCK
    order = market.checkout("bank-a", BUYER, [("bank-b", "beta", "tee-m", 1, 1_500)]).orders[0]
    assert order.state == mp.ORDER_STATE_PAID
    products = market.products("bank-b", "beta")
    assert (products["tee-m"].stock_available, products["tee-l"].stock_available) == (1, 0)
    assert market.escrow("bank-a") == 1_500
    market.assert_books()


def test_search__follows_every_change_of_a_product_in_the_same_transaction(market):
    market.merchant("bank-b", "beta")
    market.product("bank-b", "beta", "k1", title="Steel kettle", price_minor=2_000, stock=1)
    assert skus(search(market, "steel")) == ["k1"]
    market.product("bank-b", "beta", "k1", title="Copper kettle", price_minor=2_000, stock=1)
    assert skus(search(market, "steel")) == [] and skus(search(market, "copper")) == ["k1"]
    response = market.market("bank-b").UpsertProduct(upsert("k2", "Kettle", 100, 1, category_id="spaceships",
                                                            merchant_id="beta"))
    assert response.result == rc.RESULT_CODE_CATEGORY_UNKNOWN
    assert skus(search(market, "kettle")) == ["k1"]
