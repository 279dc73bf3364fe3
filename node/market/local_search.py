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


def score_expression(words: Sequence[str]):
    """ranking.score in SQL (the words are letters and digits only: nothing to escape)."""
    return sum((_word_points(products.c.search_title, word, ranking.TITLE_POINTS)
                + _word_points(products.c.search_body, word, ranking.DESCRIPTION_POINTS)
                + _word_points(products.c.search_sku, word, ranking.SKU_POINTS) for word in words),
               sa.literal(0))


_FTS = sa.table("products_fts", sa.column("rowid"))


def _source(dialect: str):
    """Products with their merchants; on SQLite driven by the full-text index (the FTS5 table first,
    each match looked up by its product number), so a query reads its matches, not the catalogue."""
    with_merchants = products.join(merchants, merchants.c.merchant_id == products.c.merchant_id)
    if dialect == "sqlite":
        return _FTS.join(with_merchants, products.c.product_number == _FTS.c.rowid)
    return with_merchants


def _matching(dialect: str, words: Sequence[str]):
    """Every word is in the title, description or SKU: by the store's full-text index."""
    if dialect == "sqlite":
        quoted = " ".join(f'"{word}"' for word in words)
        return sa.text("products_fts MATCH :fts_query").bindparams(fts_query=quoted)
    return sa.text("to_tsvector('simple', products.search_title || ' ' || products.search_body || ' ' || "
                   "products.search_sku) @@ plainto_tsquery('simple', :ts_query)").bindparams(ts_query=" ".join(words))


def conditions(dialect: str, words: Sequence[str], filters: Filters) -> list:
    """Listed products of active merchants matching the words and the filters (the category
    checked by the caller: fedmall.categories.TREE knows it)."""
    found = [products.c.status == tables.LISTED, merchants.c.status == tables.ACTIVE, _matching(dialect, words)]
    if filters.category_id:
        found.append(products.c.category_id.in_(categories.TREE.descendants(filters.category_id)))
    if filters.price_min_minor is not None or filters.price_max_minor is not None:
        found.append(products.c.currency == filters.price_currency)
    if filters.price_min_minor is not None:
        found.append(products.c.price_minor >= filters.price_min_minor)
    if filters.price_max_minor is not None:
        found.append(products.c.price_minor <= filters.price_max_minor)
    if filters.merchant_id:  # On SQLite not by the primary key: the full-text index leads (see _source).
        merchant = products.c.merchant_id.concat("") if dialect == "sqlite" else products.c.merchant_id
        found.append(merchant == filters.merchant_id)
    if filters.in_stock:
        found.append(products.c.stock_on_hand - products.c.stock_reserved > 0)
    return found


def _key(sort: int, words: Sequence[str]) -> tuple[list, list]:
    """ranking.local_key in SQL: (the expressions to compare a position with, the ORDER BY)."""
    tail = [products.c.merchant_id, products.c.sku]
    if sort == ranking.PRICE_ASCENDING:
        return [products.c.price_minor, *tail], [products.c.price_minor, *tail]
    if sort == ranking.PRICE_DESCENDING:
        return [-products.c.price_minor, *tail], [products.c.price_minor.desc(), *tail]
    if sort == ranking.NEWEST:
        return [-products.c.created_at_unix_ms, *tail], [products.c.created_at_unix_ms.desc(), *tail]
    score = score_expression(words)
    return [-score, products.c.price_minor, *tail], [score.desc(), products.c.price_minor, *tail]


def page_query(dialect: str, words: Sequence[str], filters: Filters, *, sort: int, after: ranking.Position | None,
               limit: int):
    """The next limit rows after a position, in the sort's order."""
    compared, order = _key(sort, words)
    rated = _source(dialect).outerjoin(ratings, sa.and_(ratings.c.merchant_id == products.c.merchant_id,
                                                        ratings.c.sku == products.c.sku))
    query = (sa.select(products, merchants.c.legal_name, merchants.c.status.label("merchant_status"),
                       ratings.c.rating_sum, ratings.c.rating_count)
             .select_from(rated).where(*conditions(dialect, words, filters)))
    if after is not None:
        query = query.where(sa.tuple_(*compared) > sa.tuple_(*(sa.literal(value) for value in
                                                               ranking.local_key(sort, after))))
    return query.order_by(*order).limit(limit)


def _band_expression():
    bounds = limits.search_price_bands_from_minor
    return sa.case(*((products.c.price_minor >= bound, bound) for bound in reversed(bounds[1:])), else_=bounds[0])


def counts(connection: sa.Connection, words: Sequence[str], filters: Filters) -> Counts:
    """Matches, per category and per price band, over at most search_counted_rows_max + 1 rows."""
    bounded = (sa.select(products.c.category_id, products.c.currency, _band_expression().label("band"))
               .select_from(_source(connection.dialect.name))
               .where(*conditions(connection.dialect.name, words, filters))
               .limit(limits.search_counted_rows_max + 1).subquery())
    rows = connection.execute(sa.select(bounded.c.category_id, bounded.c.currency, bounded.c.band, sa.func.count())
                              .group_by(bounded.c.category_id, bounded.c.currency, bounded.c.band)).all()
    seen = sum(row[3] for row in rows)
    by_category: dict[str, int] = {}
    by_band: dict[tuple[str, int], int] = {}
    for category_id, currency, band, count in rows:
        by_category[category_id] = by_category.get(category_id, 0) + count
        by_band[(currency, band)] = by_band.get((currency, band), 0) + count
    return Counts(matches=min(seen, limits.search_counted_rows_max), exact=seen <= limits.search_counted_rows_max,
                  by_category=by_category, by_price_band=by_band)
