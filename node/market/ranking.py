"""Ranking and the federated merge: pure functions, applied the same way to every bank's answer.

The score of a product for a query is what any bank can compute from the product's own words
(node.market.search_text), so the merging node scores every bank's products itself and never
trusts a peer's order or a store's own relevance (bm25 and ts_rank depend on each bank's
catalogue and are not comparable across banks):

    score = sum over the query's words of 3 (the word is in the title)
                                         + 1 (it is in the description) + 2 (it is in the SKU)

Each sort is a total order, the same at every bank (node.market.local_search orders its SQL by
it) with the bank's id before the tail (merchant, SKU) when banks are merged:

    relevance   score high first, price low first, bank, merchant, sku
    price asc   price low first, bank, merchant, sku   (desc: price high first)
    newest      created most recently first, bank, merchant, sku

So pages are a k-way merge: each bank answers its next rows after its own position, the merge
takes the best page_size of them, and each bank's position moves to the last of its rows taken.
A page never shifts while peers answer, and a bank's rows come in its order or not at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from fedmall.v1 import marketplace_pb2

from node.market import search_text
from node.market.merchants import ProductView

RELEVANCE = marketplace_pb2.SEARCH_SORT_RELEVANCE
PRICE_ASCENDING = marketplace_pb2.SEARCH_SORT_PRICE_ASCENDING
PRICE_DESCENDING = marketplace_pb2.SEARCH_SORT_PRICE_DESCENDING
NEWEST = marketplace_pb2.SEARCH_SORT_NEWEST
SORTS = (RELEVANCE, PRICE_ASCENDING, PRICE_DESCENDING, NEWEST)
TITLE_POINTS, DESCRIPTION_POINTS, SKU_POINTS = 3, 1, 2


@dataclass(frozen=True, slots=True)
class Position:
    """Where one bank's answer stands in a sort: its last row taken (bank-local, no bank id)."""
    score: int
    price_minor: int
    created_at_unix_ms: int
    merchant_id: str
    sku: str


def score(words: Sequence[str], product: ProductView) -> int:
    """3 per query word in the title, 1 per word in the description, 2 per word in the SKU."""
    title = set(search_text.words(product.title))
    description = set(search_text.words(product.description))
    sku = set(search_text.words(product.sku))
    return sum(TITLE_POINTS * (word in title) + DESCRIPTION_POINTS * (word in description) + SKU_POINTS * (word in sku)
               for word in words)


def matches(words: Sequence[str], product: ProductView) -> bool:
    """Every query word is somewhere in the title, description or SKU."""
    found = set(search_text.words(f"{product.title} {product.description} {product.sku}"))
    return all(word in found for word in words)


def position(words: Sequence[str], product: ProductView) -> Position:
    return Position(score=score(words, product), price_minor=product.price_minor,
                    created_at_unix_ms=product.created_at_unix_ms, merchant_id=product.merchant_id, sku=product.sku)


def local_key(sort: int, at: Position) -> tuple:
    """A position's place in one bank's order (smaller first)."""
    tail = (at.merchant_id, at.sku)
    if sort == PRICE_ASCENDING:
        return (at.price_minor, *tail)
    if sort == PRICE_DESCENDING:
        return (-at.price_minor, *tail)
    if sort == NEWEST:
        return (-at.created_at_unix_ms, *tail)
    return (-at.score, at.price_minor, *tail)


def global_key(sort: int, words: Sequence[str], product: ProductView) -> tuple:
    """A product's place among every bank's (smaller first): the bank id before the tail."""
    key = local_key(sort, position(words, product))
    return (*key[:-2], product.bank_id, *key[-2:])


def rank(sort: int, words: Sequence[str], products: Iterable[ProductView]) -> list[ProductView]:
    """Matching products in the sort's order."""
    return sorted((product for product in products if matches(words, product)),
                  key=lambda product: global_key(sort, words, product))


def merge_page(sort: int, words: Sequence[str], answers: Mapping[str, Sequence[ProductView]],
               after: Mapping[str, Position], *, page_size: int,
               asked_for: int) -> tuple[list[ProductView], dict[str, Position], set[str]]:
    """One page from the banks' answers (bank id -> its rows after after[bank]).

    Returns the page, every bank's new position (its last row on the page, or where it stood,
    answering or not), and the banks with nothing more (they answered fewer than asked_for rows, and all of
    them are on the page). A bank's rows that do not match, or stand at or before its position,
    are left out: a peer's answer is re-scored and re-checked, never trusted."""
    candidates = []
    for bank_id, products in answers.items():
        start = after.get(bank_id)
        for product in products:
            if product.bank_id != bank_id or not matches(words, product):
                continue
            if start is not None and local_key(sort, position(words, product)) <= local_key(sort, start):
                continue
            candidates.append(product)
    page = sorted(candidates, key=lambda product: global_key(sort, words, product))[:page_size]
    positions = dict(after)  # A bank that did not answer keeps where it stood.
    taken = {bank_id: 0 for bank_id in answers}
    for product in page:
        positions[product.bank_id] = position(words, product)
        taken[product.bank_id] += 1
    finished = {bank_id for bank_id, products in answers.items()
                if len(products) < asked_for and taken[bank_id] == sum(
                    1 for product in candidates if product.bank_id == bank_id)}
    return page, positions, finished


__all__ = ["NEWEST", "PRICE_ASCENDING", "PRICE_DESCENDING", "Position", "RELEVANCE", "SORTS", "global_key",
           "local_key", "matches", "merge_page", "position", "rank", "score"]
