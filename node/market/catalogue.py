"""The catalogue: local search, ranking (a pure function) and the federated fan-out.

A product matches when its title, description or SKU contains every query word
(case-insensitive). Its score is 3 per word in the title plus 1 per word in the
description, plus 2 when a word is exactly its SKU. Results rank by score (high
first), then price (low first), then (bank, merchant, sku) so the order is total.

Search at a node asks every other ACTIVE member in parallel with a deadline (each search
its own threads, one per bank, each call given the time left, so slow banks leave no
queue behind for the next search), merges
their answers with its own, re-scores with the same function (never trusting a peer's
order), pages, and names the banks that did not answer in time.
"""
from __future__ import annotations

import concurrent.futures
import logging
import time
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import sqlalchemy as sa

from fedmall.database import read_connection
from fedmall.v1 import marketplace_pb2, result_pb2

from node import fields, limits
from node.errors import InvalidRequest
from node.market import store as tables
from node.market.merchants import ProductView, product_query, product_view

log = logging.getLogger(__name__)


class CataloguePeers(Protocol):
    """Other banks' catalogues (node.peers.PeerDirectory in production)."""

    def other_active_bank_ids(self) -> list[str]: ...

    def search_catalogue(self, bank_id: str, request: marketplace_pb2.SearchCatalogueRequest, *,
                         timeout_s: float) -> marketplace_pb2.SearchCatalogueResponse: ...


@dataclass(frozen=True, slots=True)
class SearchPage:
    products: list[ProductView]
    total: int
    banks_not_answering: list[str]


def query_words(query: str) -> list[str]:
    """The lower-cased words of a query; refuses an empty, overlong or unprintable one."""
    fields.check_text(query, "query", length_max=limits.search_query_length_max)
    words = list(dict.fromkeys(query.lower().split()))
    if not words:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "query needs at least one word")
    if len(words) > limits.search_words_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"at most {limits.search_words_max} query words")
    return words


def matches(words: Sequence[str], product: ProductView) -> bool:
    text = (product.title.lower(), product.description.lower(), product.sku.lower())
    return all(any(word in part for part in text) for word in words)


def score(words: Sequence[str], product: ProductView) -> int:
    """3 per word in the title, 1 per word in the description, 2 for an exact SKU. Pure."""
    title, description, sku = product.title.lower(), product.description.lower(), product.sku.lower()
    return sum(3 * (word in title) + (word in description) + 2 * (word == sku) for word in words)


def rank(words: Sequence[str], products: Iterable[ProductView]) -> list[ProductView]:
    """Matching products with available stock, best first. Pure."""
    found = [product for product in products if product.stock_available > 0 and matches(words, product)]
    return sorted(found, key=lambda product: (-score(words, product), product.price_minor, product.bank_id,
                                               product.merchant_id, product.sku))


def _like_any(word: str):
    pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    columns = (tables.products.c.title, tables.products.c.description, tables.products.c.sku)
    return sa.or_(*(sa.func.lower(column).like(pattern, escape="\\") for column in columns))


def peer_product_problem(product: marketplace_pb2.Product) -> str | None:
    """Why a peer's product is not shown to this bank's buyers, or None: its ids and text follow
    the rules this node's own merchants follow (node.market.merchants), bidirectional overrides
    and control characters in a title included."""
    try:
        fields.check_id(product.merchant_id, "merchant id")
        fields.check_id(product.sku, "sku")
        fields.check_text(product.merchant_name, "merchant name", length_max=limits.merchant_name_length_max)
        fields.check_text(product.title, "title", length_max=limits.product_title_length_max)
        fields.check_text(product.description, "description", length_max=limits.product_description_length_max)
    except InvalidRequest as error:
        return str(error)
    return None


def product_from_proto(product: marketplace_pb2.Product, *, bank_id: str) -> ProductView:
    """A peer's product; its bank is the bank that answered, whatever the message says."""
    return ProductView(bank_id=bank_id, merchant_id=product.merchant_id, merchant_name=product.merchant_name,
                       sku=product.sku, title=product.title, description=product.description,
                       price_minor=product.price.amount_minor, currency=product.price.currency,
                       stock_on_hand=max(product.stock_available, 0), stock_reserved=0,
                       rating_count=max(product.rating_count, 0),
                       rating_average_centi=min(max(product.rating_average_centi, 0), 500))


class CatalogueService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, peers: CataloguePeers, deadline_ms: int) -> None:
        self._engine = engine
        self._bank_id = bank_id
        self._peers = peers
        self._deadline_ms = deadline_ms

    def search_local(self, query: str, *, limit: int) -> list[ProductView]:
        """This bank's best matches (at most limit)."""
        words = query_words(query)
        limit = max(1, min(limit or limits.search_results_per_bank_max, limits.search_results_per_bank_max))
        statement = product_query().where(
            tables.merchants.c.status == tables.ACTIVE,
            tables.products.c.stock_on_hand - tables.products.c.stock_reserved > 0,
            *(_like_any(word) for word in words))
        with read_connection(self._engine) as connection:
            rows = connection.execute(statement).all()
        return rank(words, (product_view(row, bank_id=self._bank_id) for row in rows))[:limit]

    def search(self, query: str, *, page: int, page_size: int) -> SearchPage:
        """Every member's matches, ranked and paged; banks that missed the deadline are named."""
        words = query_words(query)
        page_size = page_size or limits.search_page_size_default
        if not 0 < page_size <= limits.search_page_size_max or page < 0:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                                 f"page must be >= 0 and page size 1..{limits.search_page_size_max}")
        wanted = min((page + 1) * page_size, limits.search_results_per_bank_max)
        started = time.monotonic()
        try:
            bank_ids = [bank_id for bank_id in self._peers.other_active_bank_ids() if bank_id != self._bank_id]
        except Exception as error:  # noqa: BLE001 - without a registry we still answer with our own catalogue.
            log.warning("search: no peer directory (%s); local results only", error)
            bank_ids = []
        request = marketplace_pb2.SearchCatalogueRequest(query=query, limit=wanted)
        deadline_s = started + self._deadline_ms / 1000
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(bank_ids)),
                                                     thread_name_prefix=f"{self._bank_id}-search")
        try:
            futures = {pool.submit(self._ask, bank_id, request, deadline_s=deadline_s): bank_id
                       for bank_id in bank_ids}
            found = list(self.search_local(query, limit=wanted))
            done, _ = concurrent.futures.wait(futures, timeout=max(0.0, deadline_s - time.monotonic()))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # Late calls end at the deadline on their own.
        not_answering = []
        for future, bank_id in futures.items():
            if future not in done or future.exception() is not None:
                not_answering.append(bank_id)
                continue
            products = future.result().products[:limits.search_results_per_bank_max]
            sound = [product for product in products if peer_product_problem(product) is None]
            if len(sound) < len(products):
                log.warning("search: %d products from %s left out: %s", len(products) - len(sound), bank_id,
                            next(peer_product_problem(p) for p in products if peer_product_problem(p) is not None))
            found.extend(product_from_proto(product, bank_id=bank_id) for product in sound)
        ranked = rank(words, found)
        start = page * page_size
        return SearchPage(products=ranked[start:start + page_size], total=len(ranked),
                          banks_not_answering=sorted(not_answering))

    def _ask(self, bank_id: str, request: marketplace_pb2.SearchCatalogueRequest, *,
             deadline_s: float) -> marketplace_pb2.SearchCatalogueResponse:
        """One bank's answer, with only the time left before the search's deadline."""
        remaining_s = deadline_s - time.monotonic()
        if remaining_s <= 0:
            raise TimeoutError(f"no time left to ask {bank_id}")
        return self._peers.search_catalogue(bank_id, request, timeout_s=remaining_s)

    def close(self) -> None:
        """Nothing to release: each search's threads end by its deadline."""


__all__ = ["CatalogueService", "SearchPage", "matches", "query_words", "rank", "score"]
