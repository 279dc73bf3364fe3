"""How one bank reads its next page of matches without ordering the whole match set.

Ordering every match (node.market.local_search.page_query: the full-text index finds the
matches, the store sorts them) costs in proportion to the matches: fine for a rare word, not for a
word that one product in ten holds among a million. So the plan first counts the matches in the
full-text index alone, stopping at limits.search_sorted_matches_max + 1 (no product row read):

- at most that many: they are ordered whole, as before (cost: the matches, bounded by the count);
- more: they are dense, so the page is walked off an index in the sort's order (price up, price
  down, newest: migration 0015), each row tested against the words on its stored words and
  against the filters, stopping at the page's LIMIT. Matches at least one row in
  N / search_sorted_matches_max of the catalogue, so a page of P rows is found within about
  P * N / search_sorted_matches_max rows when the filters keep most matches. On SQLite the walk
  reads at most limits.search_walk_rows_max rows; if filters keep so few matches that the page is
  not full by then, the rest of the page is ordered by the store after the last row walked (the one
  case whose cost follows the match set: a common word with a filter that keeps few of its matches).

Relevance (score high first, then price) is read tier by tier on SQLite, for queries of up to
TIER_WORDS_MAX words: a tier is every product with one score, which is a pattern of which columns
hold which word, so the full-text index names a tier with column filters (FTS5 `{column}: word`,
NOT). Tiers are visited from the highest score down, each counted and read as above in price
order, until the page is full. Longer queries, and relevance on PostgreSQL, order the matches
whole in the store.

Every path returns exactly the rows local_search.page_query would: the same conditions, the same
total order (node.market.ranking), strictly after the same position.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join

from node import limits
from node.market import local_search, ranking, store as tables
from node.market.local_search import Filters

products, merchants = tables.products, tables.merchants
TIER_WORDS_MAX = 2
_COLUMN_POINTS = (("search_title", ranking.TITLE_POINTS), ("search_body", ranking.DESCRIPTION_POINTS),
                  ("search_sku", ranking.SKU_POINTS))


def page_rows(connection: sa.Connection, words: Sequence[str], filters: Filters, *, sort: int,
              after: ranking.Position | None, limit: int) -> list[sa.Row]:
    """The next limit rows after a position, in the sort's order (local_search.page_query's rows)."""
    dialect = connection.dialect.name
    if _bounded_count(connection, words) <= limits.search_sorted_matches_max:
        return _sorted(connection, words, filters, sort=sort, after=after, limit=limit)
    if sort != ranking.RELEVANCE:
        return _dense(connection, words, filters, sort=sort, after=after, limit=limit)
    if dialect != "sqlite" or len(words) > TIER_WORDS_MAX:
        return _sorted(connection, words, filters, sort=sort, after=after, limit=limit)
    rows: list[sa.Row] = []
    for score in range(max(_POINTS_OF_WORD) * len(words), len(words) - 1, -1):
        if len(rows) >= limit:
            break
        if after is not None and score > after.score:
            continue  # Pages before this one.
        rows.extend(_tier_rows(connection, words, filters, score=score,
                               after=after if after is not None and after.score == score else None,
                               limit=limit - len(rows)))
    return rows


def _sorted(connection, words, filters, *, sort, after, limit, match=None, extra=()) -> list[sa.Row]:
    return connection.execute(local_search.page_query(connection.dialect.name, words, filters, sort=sort, after=after,
                                                      limit=limit, match=match, extra=extra)).all()


def _bounded_count(connection: sa.Connection, words: Sequence[str], match: str | None = None) -> int:
    """Rows the full-text index finds, counted up to search_sorted_matches_max + 1 (no product row read)."""
    found = local_search.index_matches(connection.dialect.name, words, match)
    return connection.scalar(sa.select(sa.func.count()).select_from(
        found.limit(limits.search_sorted_matches_max + 1).subquery()))


def _tier_rows(connection, words, filters, *, score: int, after, limit: int) -> list[sa.Row]:
    """One relevance tier's next rows in price order (its own count decides how)."""
    match = tier_expression(words, score)
    count = _bounded_count(connection, words, match)
    if count == 0:
        return []
    in_tier = [local_search.score_expression(words) == score]
    if count <= limits.search_sorted_matches_max:
        return _sorted(connection, words, filters, sort=ranking.PRICE_ASCENDING, after=after, limit=limit, match=match,
                       extra=in_tier)
    return _dense(connection, words, filters, sort=ranking.PRICE_ASCENDING, after=after, limit=limit, extra=in_tier,
                  match=match)


def _dense(connection, words, filters, *, sort: int, after, limit: int, extra=(), match=None) -> list[sa.Row]:
    """A dense match set's next rows, walked off the sort's index (then ordered by the store past the
    walk's window if the filters left the page short)."""
    dialect = connection.dialect.name
    compared, order = local_search.sort_key(sort, words)
    bounds = [local_search.after_condition(compared, sort, after)] if after is not None else []
    # A price range is a range of the price indexes; for newest it stays a test (column + 0), so the
    # planner keeps to the index that gives the order.
    bounds += _price_range(filters, products.c.price_minor + 0 if sort == ranking.NEWEST else products.c.price_minor)
    probes = [products.c.status == tables.LISTED, merchants.c.status == tables.ACTIVE,
              *local_search.words_present(words), *extra,
              *local_search.filter_conditions(dialect, filters, price=products.c.price_minor)]
    columns = local_search.ROW_COLUMNS
    with_merchants = products.join(merchants, merchants.c.merchant_id == products.c.merchant_id)
    if dialect != "sqlite":  # PostgreSQL's planner walks the index for a LIMIT when the probes keep many rows.
        return connection.execute(sa.select(*columns).select_from(local_search.with_ratings(with_merchants))
                                  .where(*bounds, *probes).order_by(*order).limit(limit)).all()
    window = (sa.select(sa.literal_column("products.rowid").label("walked")).select_from(products)
              .where(*bounds).order_by(*order).limit(limits.search_walk_rows_max).subquery("window"))
    # The window leads the join as a co-routine in the index's order, so the LIMIT stops the walk.
    walked = (sa.select(*columns).select_from(local_search.with_ratings(_CrossJoin(
        _CrossJoin(window, products, sa.literal_column("products.rowid") == window.c.walked),
        merchants, merchants.c.merchant_id == products.c.merchant_id))).where(*probes).limit(limit))
    rows = sorted(connection.execute(walked).all(), key=lambda row: _local_key(sort, row))
    if len(rows) >= limit:
        return rows
    last = connection.execute(sa.select(products.c.price_minor, products.c.created_at_unix_ms, products.c.merchant_id,
                                        products.c.sku).where(*bounds)
                              .order_by(*order).offset(limits.search_walk_rows_max - 1).limit(1)).first()
    if last is None:
        return rows  # The walk reached the end of the index: nothing more.
    past = ranking.Position(score=after.score if after is not None else 0, price_minor=last.price_minor,
                            created_at_unix_ms=last.created_at_unix_ms, merchant_id=last.merchant_id, sku=last.sku)
    return rows + _sorted(connection, words, filters, sort=sort, after=past, limit=limit - len(rows), match=match,
                          extra=extra)


class _CrossJoin(Join):
    """An inner join SQLite's planner keeps in the order written (CROSS JOIN): as a plain JOIN it
    materialises the whole window first (measured: 9 ms against 0.4 ms for a common word)."""
    inherit_cache = True


@compiles(_CrossJoin)
def _compile_cross_join(join: _CrossJoin, compiler, from_linter=None, **kw) -> str:
    kw.pop("asfrom", None)
    if from_linter:  # As SQLCompiler.visit_join: the two sides are joined, not a cartesian product.
        from_linter.edges.update(itertools.product(join.left._from_objects, join.right._from_objects))
    kw["from_linter"] = from_linter
    return (join.left._compiler_dispatch(compiler, asfrom=True, **kw) + " CROSS JOIN "
            + join.right._compiler_dispatch(compiler, asfrom=True, **kw) + " ON "
            + join.onclause._compiler_dispatch(compiler, **kw))


def _local_key(sort: int, row) -> tuple:
    return ranking.local_key(sort, ranking.Position(score=0, price_minor=row.price_minor,
                                                    created_at_unix_ms=row.created_at_unix_ms,
                                                    merchant_id=row.merchant_id, sku=row.sku))


def _price_range(filters: Filters, price) -> list:
    """The price bounds alone (the currency is checked with the probes)."""
    found = []
    if filters.price_min_minor is not None:
        found.append(price >= filters.price_min_minor)
    if filters.price_max_minor is not None:
        found.append(price <= filters.price_max_minor)
    return found


def _points_of_word() -> dict[int, list[tuple[str, ...]]]:
    """Points one word scores -> the sets of columns holding it that score them."""
    found: dict[int, list[tuple[str, ...]]] = {}
    for held in itertools.product((False, True), repeat=len(_COLUMN_POINTS)):
        if any(held):
            columns = tuple(name for (name, _), is_held in zip(_COLUMN_POINTS, held) if is_held)
            points = sum(points for (_, points), is_held in zip(_COLUMN_POINTS, held) if is_held)
            found.setdefault(points, []).append(columns)
    return found


_POINTS_OF_WORD = _points_of_word()


def _word_scoring(word: str, points: int) -> str:
    """FTS5: the word is in exactly the columns of one of the patterns that score points."""
    patterns = []
    for held in _POINTS_OF_WORD[points]:
        present = " AND ".join(f'{name} : "{word}"' for name in held)
        absent = " OR ".join(f'{name} : "{word}"' for name, _ in _COLUMN_POINTS if name not in held)
        patterns.append(f"(({present}) NOT ({absent}))" if absent else f"({present})")
    return "(" + " OR ".join(patterns) + ")"


def tier_expression(words: Sequence[str], score: int) -> str:
    """FTS5: the products whose score (ranking.score) for these words is score (every word held)."""
    combinations = [points for points in itertools.product(sorted(_POINTS_OF_WORD), repeat=len(words))
                    if sum(points) == score]
    return " OR ".join("(" + " AND ".join(_word_scoring(word, points) for word, points in zip(words, combination)) + ")"
                       for combination in combinations)
