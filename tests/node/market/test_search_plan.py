"""One bank's search plan (node.market.search_plan) on each store: whichever way a page is read
(the matches ordered whole, an index walked, relevance tier by tier, a walk's window run out),
paging to the end gives exactly the pure ranking of every matching product; and the bulk import
that indexes its rows itself leaves the full-text index in step, on success and on refusal."""
from __future__ import annotations

import random
import time

import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError

from node import limits, store
from node.market import ranking, search_plan
from node.market.local_search import Filters
from node.market.merchants import MerchantService, product_view
from node.market.product_import import ProductImport
from node.market.product_rows import ProductRow
from tests.node.books import open_account, store_engine  # noqa: F401

ADJECTIVES = ("red", "blue", "small", "large", "steel", "wood")
NOUNS = {"kitchen": ("kettle", "pan", "mug"), "garden": ("hose", "rake"), "furniture": ("chair", "desk")}
PRODUCTS = 400


def catalogue_rows(seed: int) -> list[ProductRow]:
    """Dense words (each adjective in about one product in six, in title or description or both), a
    few SKUs that hold a query word, prices with ties."""
    rng, rows = random.Random(seed), []
    for number in range(PRODUCTS):
        category = rng.choice(sorted(NOUNS))
        noun = rng.choice(NOUNS[category])
        sku = f"red-{number}" if number % 37 == 0 else f"p-{number}"
        rows.append(ProductRow(sku=sku, title=f"{rng.choice(ADJECTIVES)} {noun}",
                               description=f"A {rng.choice(ADJECTIVES)} {noun}" if number % 3 else "",
                               price_minor=rng.randrange(1, 60) * 100, currency="EUR", stock=rng.choice((0, 3)),
                               category_id=category))
    return rows


@pytest.fixture
def engine(store_engine):
    open_account(store_engine, "settle-1")
    MerchantService(store_engine, bank_id="bank-a", clock=time.time).onboard(
        merchant_id="m1", legal_name="M", contact="c", settlement_account_id="settle-1")
    return store_engine


def imported(engine: sa.Engine, rows: list[ProductRow | FedmallError]):
    batches = [[(start + offset + 1, row) for offset, row in enumerate(rows[start:start + 50])]
               for start in range(0, len(rows), 50)]
    return ProductImport(engine, clock=time.time).run("m1", iter(batches))


def full_text_rows(engine: sa.Engine) -> int | None:
    """Rows SQLite's full-text index holds (None on PostgreSQL, whose GIN index follows the table)."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT count(*) FROM products_fts WHERE products_fts MATCH 'red OR blue OR "
                                          "small OR large OR steel OR wood'").scalar_one()


def all_pages(engine: sa.Engine, words: list[str], filters: Filters, sort: int, *, page: int) -> list[str]:
    found, after = [], None
    with engine.connect() as connection:
        while True:
            rows = search_plan.page_rows(connection, words, filters, sort=sort, after=after, limit=page)
            views = [product_view(row, bank_id="bank-a") for row in rows]
            found += [view.sku for view in views]
            if len(rows) < page:
                return found
            after = ranking.position(words, views[-1])


def expected(engine: sa.Engine, words: list[str], filters: Filters, sort: int) -> list[str]:
    """ranking.rank over every listed product passing the filters, read whole into Python."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(store.metadata.tables["products"], sa.literal("M").label("legal_name"),
                                            sa.null().label("rating_sum"), sa.null().label("rating_count"))).all()
    views = [product_view(row, bank_id="bank-a") for row in rows]
    kept = [view for view in views
            if (not filters.category_id or view.category_id == filters.category_id)
            and (filters.price_min_minor is None or view.price_minor >= filters.price_min_minor)
            and (filters.price_max_minor is None or view.price_minor <= filters.price_max_minor)
            and (not filters.in_stock or view.stock_on_hand > view.stock_reserved)]
    return [view.sku for view in ranking.rank(sort, words, kept)]


@pytest.mark.parametrize("sorted_max, walk_max", [(1_000, 1_000), (10, 1_000), (10, 15)],
                         ids=["ordered-whole", "walked", "window-runs-out"])
def test_page_rows__every_path_pages_through_the_pure_ranking(engine, monkeypatch, sorted_max, walk_max):
    assert imported(engine, catalogue_rows(seed=3)).rows_imported == PRODUCTS
    monkeypatch.setattr(limits, "search_sorted_matches_max", sorted_max)
    monkeypatch.setattr(limits, "search_walk_rows_max", walk_max)
    narrow = Filters(category_id="kitchen", price_min_minor=1_000, price_max_minor=4_000, price_currency="EUR",
                     in_stock=True)
    for words in (["red"], ["kettle"], ["red", "kettle"], ["steel", "wood"]):
        for filters in (Filters(), narrow):
            for sort in ranking.SORTS:
                want = expected(engine, words, filters, sort)
                assert all_pages(engine, words, filters, sort, page=7) == want, (words, filters, sort)


def test_tier_expression__names_exactly_the_products_of_one_score(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("FTS5 column filters: SQLite's full-text index")
    imported(engine, catalogue_rows(seed=4))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(store.metadata.tables["products"], sa.literal("M").label("legal_name"),
                                            sa.null().label("rating_sum"), sa.null().label("rating_count"))).all()
        views = {row.product_number: product_view(row, bank_id="bank-a") for row in rows}
        for words in (["red"], ["red", "kettle"]):
            for score in range(6 * len(words), len(words) - 1, -1):
                found = {number for (number,) in connection.exec_driver_sql(
                    "SELECT rowid FROM products_fts WHERE products_fts MATCH ?",
                    (search_plan.tier_expression(words, score),))}
                want = {number for number, view in views.items()
                        if ranking.matches(words, view) and ranking.score(words, view) == score}
                assert found == want, (words, score)


def test_import__indexes_its_rows_and_a_refused_import_leaves_the_index_and_its_trigger(engine):
    rows = catalogue_rows(seed=5)
    assert imported(engine, rows).rows_imported == PRODUCTS
    indexed = full_text_rows(engine)
    assert indexed is None or indexed == PRODUCTS
    bad = [ProductRow(sku="x-1", title="red pan", description="", price_minor=100, currency="EUR", stock=1),
           ProductRow(sku="x-2", title="red pan", description="", price_minor=0, currency="EUR", stock=1)]
    assert imported(engine, bad).rows_imported == 0
    assert full_text_rows(engine) == indexed
    # One product written alone afterwards is indexed by the trigger, so the trigger is back.
    MerchantService(engine, bank_id="bank-a", clock=time.time).upsert_product(
        merchant_id="m1", sku="solo", title="red solo", description="", price_minor=100, currency="EUR", stock=1)
    assert all_pages(engine, ["solo"], Filters(), ranking.RELEVANCE, page=5) == ["solo"]
