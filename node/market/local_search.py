"""One bank's search, in its store: the full-text index finds the matches, SQL orders them by
the sort's total order (node.market.ranking) and stops at the page's LIMIT, so no match set is
ever loaded into Python.

The words are matched by SQLite FTS5 (products_fts, migration 0011) or PostgreSQL's GIN-indexed
tsvector; the score is computed in SQL from the stored normalised words (search_title,
search_body, search_sku), the same words and points node.market.ranking.score counts.

Counts (the total and the facets per category and price band) are computed in SQL over at
most limits.search_counted_rows_max matches: past it they are a lower bound, flagged inexact,
so counting costs no more for a common word in a million products than for a rare one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import sqlalchemy as sa

from fedmall import categories

from node import limits
from node.market import ranking, store as tables

products, merchants, ratings = tables.products, tables.merchants, tables.product_ratings


@dataclass(frozen=True, slots=True)
class Filters:
    """What a search is narrowed to. A price bound holds only for products in its currency."""
    category_id: str = ""
    price_min_minor: int | None = None
    price_max_minor: int | None = None
    price_currency: str = ""
    merchant_id: str = ""
    bank_id: str = ""
    in_stock: bool = False


@dataclass(frozen=True, slots=True)
class Counts:
    matches: int
    exact: bool
    by_category: dict[str, int]                    # Each category as products name it (not rolled up).
    by_price_band: dict[tuple[str, int], int]      # (currency, band's lower bound in minor units).


def _word_points(column, word: str, points: int):
    return sa.case((column.like(f"% {word} %"), points), else_=0)  # Stored with a space each side.


def words_present(words: Sequence[str]) -> list:
    """Every word in the title, description or SKU, tested on the row's stored words (no index):
    ranking.matches in SQL, for rows read off a sort-order index (node.market.search_plan)."""
    stored = products.c.search_title + products.c.search_body + products.c.search_sku
    return [stored.like(f"% {word} %") for word in words]


def score_expression(words: Sequence[str]):
    """ranking.score in SQL (the words are letters and digits only: nothing to escape)."""
    return sum((_word_points(products.c.search_title, word, ranking.TITLE_POINTS)
                + _word_points(products.c.search_body, word, ranking.DESCRIPTION_POINTS)
                + _word_points(products.c.search_sku, word, ranking.SKU_POINTS) for word in words),
               sa.literal(0))


_FTS = sa.table("products_fts", sa.column("rowid"))


# What a found product's row holds: the product, its merchant's name and status, its rating
# (node.market.reviews; None without reviews). The rating joins last, so it never leads a walk.
ROW_COLUMNS = (products, merchants.c.legal_name, merchants.c.status.label("merchant_status"),
               ratings.c.rating_sum, ratings.c.rating_count)


def with_ratings(source):
    return source.outerjoin(ratings, sa.and_(ratings.c.merchant_id == products.c.merchant_id,
                                             ratings.c.sku == products.c.sku))


def _source(dialect: str):
    """Products with their merchants; on SQLite driven by the full-text index (the FTS5 table first,
    each match looked up by its product number), so a query reads its matches, not the catalogue."""
    with_merchants = products.join(merchants, merchants.c.merchant_id == products.c.merchant_id)
    if dialect == "sqlite":
        return _FTS.join(with_merchants, products.c.product_number == _FTS.c.rowid)
    return with_merchants


def fts_words(words: Sequence[str]) -> str:
    """The FTS5 expression matching rows with every word (each quoted: a word is letters and digits)."""
    return " ".join(f'"{word}"' for word in words)


def _matching(dialect: str, words: Sequence[str], match: str | None = None):
    """Every word is in the title, description or SKU (or, on SQLite, the FTS5 expression match):
    by the store's full-text index."""
    if dialect == "sqlite":
        return sa.text("products_fts MATCH :fts_query").bindparams(fts_query=match or fts_words(words))
    return sa.text("to_tsvector('simple', products.search_title || ' ' || products.search_body || ' ' || "
                   "products.search_sku) @@ plainto_tsquery('simple', :ts_query)").bindparams(ts_query=" ".join(words))


def _unindexed(column, dialect: str):
    """The column in an expression SQLite's planner cannot answer from an index (column + 0): a query
    driven by the full-text index must not be turned into a walk of a sort-order index."""
    return column + 0 if dialect == "sqlite" else column


def index_matches(dialect: str, words: Sequence[str], match: str | None = None):
    """The product numbers of the rows the full-text index finds (no product row read on SQLite)."""
    if dialect == "sqlite":
        return sa.select(_FTS.c.rowid.label("number")).where(_matching(dialect, words, match))
    return sa.select(products.c.product_number.label("number")).where(_matching(dialect, words, match))


def conditions(dialect: str, words: Sequence[str], filters: Filters, match: str | None = None) -> list:
    """Listed products of active merchants matching the words (by the full-text index) and the
    filters (the category checked by the caller: fedmall.categories.TREE knows it)."""
    return [products.c.status == tables.LISTED, merchants.c.status == tables.ACTIVE, _matching(dialect, words, match),
            *filter_conditions(dialect, filters, price=_unindexed(products.c.price_minor, dialect))]


def filter_conditions(dialect: str, filters: Filters, *, price) -> list:
    """The filters alone (price: the price column as the query compares it)."""
    found = []
    if filters.category_id:
        found.append(products.c.category_id.in_(categories.TREE.descendants(filters.category_id)))
    if filters.price_min_minor is not None or filters.price_max_minor is not None:
        found.append(products.c.currency == filters.price_currency)
    if filters.price_min_minor is not None:
        found.append(price >= filters.price_min_minor)
    if filters.price_max_minor is not None:
        found.append(price <= filters.price_max_minor)
    if filters.merchant_id:  # On SQLite not by the primary key: the full-text index leads (see _source).
        merchant = products.c.merchant_id.concat("") if dialect == "sqlite" else products.c.merchant_id
        found.append(merchant == filters.merchant_id)
    if filters.in_stock:
        found.append(products.c.stock_on_hand - products.c.stock_reserved > 0)
    return found


def sort_key(sort: int, words: Sequence[str], *, price=products.c.price_minor,
             created=products.c.created_at_unix_ms) -> tuple[list, list]:
    """ranking.local_key in SQL: (the expressions to compare a position with, the ORDER BY)."""
    tail = [products.c.merchant_id, products.c.sku]
    if sort == ranking.PRICE_ASCENDING:
        return [price, *tail], [price, *tail]
    if sort == ranking.PRICE_DESCENDING:
        return [-price, *tail], [price.desc(), *tail]
    if sort == ranking.NEWEST:
        return [-created, *tail], [created.desc(), *tail]
    score = score_expression(words)
    return [-score, price, *tail], [score.desc(), price, *tail]


def after_condition(compared: list, sort: int, after: ranking.Position):
    """Strictly after a position in the sort's order."""
    return sa.tuple_(*compared) > sa.tuple_(*(sa.literal(value) for value in ranking.local_key(sort, after)))


def page_query(dialect: str, words: Sequence[str], filters: Filters, *, sort: int, after: ranking.Position | None,
               limit: int, match: str | None = None, extra: Sequence = ()):
    """The next limit rows after a position, in the sort's order, ordered by the store over every
    match the full-text index finds. match: an FTS5 expression instead of every word (SQLite);
    extra: more conditions."""
    compared, order = sort_key(sort, words, price=_unindexed(products.c.price_minor, dialect),
                               created=_unindexed(products.c.created_at_unix_ms, dialect))
    query = (sa.select(*ROW_COLUMNS).select_from(with_ratings(_source(dialect)))
             .where(*conditions(dialect, words, filters, match), *extra))
    if after is not None:
        query = query.where(after_condition(compared, sort, after))
    return query.order_by(*order).limit(limit)


def _band_expression():
    bounds = limits.search_price_bands_from_minor
    return sa.case(*((products.c.price_minor >= bound, bound) for bound in reversed(bounds[1:])), else_=bounds[0])


def counts(connection: sa.Connection, words: Sequence[str], filters: Filters) -> Counts:
    """Matches, per category and per price band, among the first search_counted_rows_max + 1 rows the
    full-text index finds (before the filters: a filter that keeps few of a common word's matches
    costs no more to count). Past that bound the counts are a lower bound, flagged inexact."""
    dialect, bound = connection.dialect.name, limits.search_counted_rows_max
    found = index_matches(dialect, words).limit(bound + 1).subquery()
    examined = connection.scalar(sa.select(sa.func.count()).select_from(found))
    with_merchants = products.join(merchants, merchants.c.merchant_id == products.c.merchant_id)
    rows = connection.execute(
        sa.select(products.c.category_id, products.c.currency, _band_expression().label("band"), sa.func.count())
        .select_from(found.join(with_merchants, products.c.product_number == found.c.number))
        .where(products.c.status == tables.LISTED, merchants.c.status == tables.ACTIVE,
               *filter_conditions(dialect, filters, price=_unindexed(products.c.price_minor, dialect)))
        .group_by(products.c.category_id, products.c.currency, sa.literal_column("band"))).all()
    by_category: dict[str, int] = {}
    by_band: dict[tuple[str, int], int] = {}
    for category_id, currency, band, count in rows:
        by_category[category_id] = by_category.get(category_id, 0) + count
        by_band[(currency, band)] = by_band.get((currency, band), 0) + count
    exact = examined <= bound
    seen = sum(row[3] for row in rows)
    return Counts(matches=seen if exact else min(seen, bound), exact=exact, by_category=by_category,
                  by_price_band=by_band)
