"""The catalogue's search: this bank's (node.market.local_search) and the federation's.

A federated search asks every ACTIVE member in parallel with a deadline (each search its own
threads, one per bank, each call given the time left, so slow banks leave no queue behind for
the next search) for its next rows after its position in the sort's order, merges them with
this bank's own (node.market.ranking: every bank's products re-scored and re-checked here, a
peer's order never trusted), and answers one page, an opaque cursor holding each bank's new
position (node.market.search_cursor), the banks that did not answer in time, and on the first
page the total and the facets (per category, rolled up the tree, and per price band).

A bank that did not answer a page keeps its position and is asked again on the next; a bank
with nothing more is not asked again. The category tree's version travels with every request: a node with
another tree refuses (CATEGORY_TREE_VERSION_MISMATCH) and is named among those not answering.
"""
from __future__ import annotations

import concurrent.futures
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import sqlalchemy as sa

from fedmall import categories, logs
from fedmall.database import read_connection
from fedmall.v1 import marketplace_pb2, money_pb2, result_pb2

from node import fields, limits
from node.errors import InvalidRequest, Refused
from node.market import local_search, ranking, search_cursor, search_plan, search_text
from node.market.local_search import Counts, Filters
from node.market.merchants import ProductView, product_view
from node.market.product_rows import ProductRow, check_row

log = logging.getLogger(__name__)


class CataloguePeers(Protocol):
    """Other banks' catalogues (node.peers.PeerDirectory in production)."""

    def other_active_bank_ids(self) -> list[str]: ...

    def search_catalogue(self, bank_id: str, request: marketplace_pb2.SearchCatalogueRequest, *,
                         timeout_s: float) -> marketplace_pb2.SearchCatalogueResponse: ...


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    products: list[ProductView]
    counts: Counts | None


@dataclass(frozen=True, slots=True)
class Facets:
    by_category: dict[str, int]                  # Rolled up: a category counts its descendants' matches.
    by_price_band: dict[tuple[str, int], int]
    exact: bool


@dataclass(frozen=True, slots=True)
class SearchPage:
    products: list[ProductView]
    total: int
    total_exact: bool
    banks_not_answering: list[str]
    next_cursor: str = ""
    facets: Facets | None = None


@dataclass(frozen=True, slots=True)
class Search:
    """A checked search: the query's words, the filters and the sort."""
    words: tuple[str, ...]
    filters: Filters
    sort: int = ranking.RELEVANCE
    digest: str = field(default="", compare=False)


def query_words(query: str) -> list[str]:
    """The query's words (node.market.search_text); refuses an empty, overlong or unprintable one."""
    fields.check_text(query, "query", length_max=limits.search_query_length_max)
    words = list(dict.fromkeys(search_text.words(query)))
    if not words:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "query needs at least one word")
    if len(words) > limits.search_words_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"at most {limits.search_words_max} query words")
    return words


def check_tree_version(version: int) -> None:
    if version not in (0, categories.VERSION):
        raise Refused(result_pb2.RESULT_CODE_CATEGORY_TREE_VERSION_MISMATCH,
                      f"this node reads categories in tree version {categories.VERSION}, not {version}")


def filters_from_proto(message: marketplace_pb2.SearchFilters) -> Filters:
    """The filters, checked: a category of the tree, amounts, one currency, min <= max."""
    if message.category_id and categories.TREE.get(message.category_id) is None:
        raise Refused(result_pb2.RESULT_CODE_CATEGORY_UNKNOWN,
                      f"no category {message.category_id!r} in the category tree (version {categories.VERSION})")
    bounds = [money for name, money in (("min", message.price_min), ("max", message.price_max))
              if message.HasField(f"price_{name}")]
    for money in bounds:
        fields.check_currency(money.currency)
        if money.amount_minor < 0 or money.amount_minor > 2 ** 63 - 1:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_AMOUNT, "a price bound must be 0 or more")
    if len({money.currency for money in bounds}) > 1:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "price bounds must be in one currency")
    low = message.price_min.amount_minor if message.HasField("price_min") else None
    high = message.price_max.amount_minor if message.HasField("price_max") else None
    if low is not None and high is not None and low > high:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "the lowest price is above the highest")
    for value, what in ((message.merchant_id, "merchant id"), (message.bank_id, "bank id")):
        if value:
            fields.check_id(value, what)
    return Filters(category_id=message.category_id, price_min_minor=low, price_max_minor=high,
                   price_currency=bounds[0].currency if bounds else "", merchant_id=message.merchant_id,
                   bank_id=message.bank_id, in_stock=message.in_stock)


def filters_to_proto(filters: Filters) -> marketplace_pb2.SearchFilters:
    message = marketplace_pb2.SearchFilters(category_id=filters.category_id, merchant_id=filters.merchant_id,
                                            bank_id=filters.bank_id, in_stock=filters.in_stock)
    if filters.price_min_minor is not None:
        message.price_min.CopyFrom(money_pb2.Money(amount_minor=filters.price_min_minor,
                                                   currency=filters.price_currency))
    if filters.price_max_minor is not None:
        message.price_max.CopyFrom(money_pb2.Money(amount_minor=filters.price_max_minor,
                                                   currency=filters.price_currency))
    return message


def check_search(query: str, filters: marketplace_pb2.SearchFilters, sort: int, *, tree_version: int) -> Search:
    check_tree_version(tree_version)
    if sort == marketplace_pb2.SEARCH_SORT_UNSPECIFIED:
        sort = ranking.RELEVANCE
    if sort not in ranking.SORTS:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"unknown sort {sort}")
    words, checked = tuple(query_words(query)), filters_from_proto(filters)
    return Search(words=words, filters=checked, sort=sort, digest=search_cursor.search_digest(words, checked, sort))


def peer_product_problem(product: marketplace_pb2.Product) -> str | None:
    """Why a peer's product is not shown to this bank's buyers, or None: it follows the rules
    this node's own merchants follow (node.market.product_rows), and it is LISTED."""
    try:
        fields.check_id(product.merchant_id, "merchant id")
        fields.check_text(product.merchant_name, "merchant name", length_max=limits.merchant_name_length_max)
        check_row(row_of(product))
    except (InvalidRequest, Refused) as error:
        return str(error)
    if product.status != marketplace_pb2.PRODUCT_STATUS_LISTED:
        return f"{product.sku!r} is not listed"
    return None


def row_of(product: marketplace_pb2.Product) -> ProductRow:
    return ProductRow(sku=product.sku, title=product.title, description=product.description,
                      price_minor=product.price.amount_minor, currency=product.price.currency,
                      stock=max(product.stock_available, 0), product_id=product.product_id, size=product.size,
                      colour=product.colour, category_id=product.category_id or None,
                      attributes=tuple(sorted(product.attributes.items())), image_refs=tuple(product.image_refs))


def product_from_proto(product: marketplace_pb2.Product, *, bank_id: str) -> ProductView:
    """A peer's product; its bank is the bank that answered, whatever the message says."""
    return ProductView(bank_id=bank_id, merchant_id=product.merchant_id, merchant_name=product.merchant_name,
                       sku=product.sku, title=product.title, description=product.description,
                       price_minor=product.price.amount_minor, currency=product.price.currency,
                       stock_on_hand=max(product.stock_available, 0), stock_reserved=0,
                       product_id=product.product_id, size=product.size, colour=product.colour,
                       category_id=product.category_id, status="LISTED",
                       attributes=tuple(sorted(product.attributes.items())), image_refs=tuple(product.image_refs),
                       created_at_unix_ms=product.created_at_unix_ms, rating_count=max(product.rating_count, 0),
                       rating_average_centi=min(max(product.rating_average_centi, 0), 500))


def position_to_proto(at: ranking.Position) -> marketplace_pb2.SearchPosition:
    return marketplace_pb2.SearchPosition(score=at.score, price_minor=at.price_minor,
                                          created_at_unix_ms=at.created_at_unix_ms, merchant_id=at.merchant_id,
                                          sku=at.sku)


def position_from_proto(message: marketplace_pb2.SearchPosition) -> ranking.Position:
    fields.check_id(message.merchant_id, "position's merchant id")
    fields.check_id(message.sku, "position's sku")
    return ranking.Position(score=message.score, price_minor=message.price_minor,
                            created_at_unix_ms=message.created_at_unix_ms, merchant_id=message.merchant_id,
                            sku=message.sku)


def counts_from_proto(response: marketplace_pb2.SearchCatalogueResponse) -> Counts:
    """A peer's counts, bounded; categories not in the tree and unknown bands left out."""
    bands = set(limits.search_price_bands_from_minor)
    cap = limits.search_counted_rows_max
    by_category: dict[str, int] = {}
    for facet in response.facets.categories[:len(categories.TREE.categories)]:
        if categories.TREE.get(facet.category_id) is not None:
            by_category[facet.category_id] = min(max(facet.count, 0), cap)
    by_band: dict[tuple[str, int], int] = {}
    for facet in response.facets.price_bands[:len(bands) * 4]:
        if facet.from_minor in bands:
            by_band[(facet.currency, facet.from_minor)] = min(max(facet.count, 0), cap)
    return Counts(matches=min(max(response.match_count, 0), cap), exact=response.facets.exact,
                  by_category=by_category, by_price_band=by_band)


def counts_to_proto(counts: Counts) -> marketplace_pb2.SearchFacets:
    bounds = limits.search_price_bands_from_minor
    upper = dict(zip(bounds, (*bounds[1:], 0)))
    return marketplace_pb2.SearchFacets(
        exact=counts.exact,
        categories=[marketplace_pb2.CategoryFacet(category_id=category_id, count=count)
                    for category_id, count in sorted(counts.by_category.items())],
        price_bands=[marketplace_pb2.PriceBandFacet(currency=currency, from_minor=band, to_minor=upper[band],
                                                    count=count)
                     for (currency, band), count in sorted(counts.by_price_band.items())])


def merge_counts(answers: list[Counts]) -> Facets:
    """Every bank's counts added up, each category's rolled up to its ancestors. Pure."""
    by_category: dict[str, int] = {}
    by_band: dict[tuple[str, int], int] = {}
    for counts in answers:
        for category_id, count in counts.by_category.items():
            for ancestor in categories.TREE.path(category_id):
                by_category[ancestor] = by_category.get(ancestor, 0) + count
        for band, count in counts.by_price_band.items():
            by_band[band] = by_band.get(band, 0) + count
    return Facets(by_category=by_category, by_price_band=by_band, exact=all(counts.exact for counts in answers))


class CatalogueService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, peers: CataloguePeers, deadline_ms: int,
                 on_searched: Callable[[float, list[str]], None] = lambda seconds, not_answering: None) -> None:
        """on_searched(seconds, the banks that did not answer) after each federated search: the metrics."""
        self._engine = engine
        self._bank_id = bank_id
        self._peers = peers
        self._deadline_ms = deadline_ms
        self._on_searched = on_searched

    def search_local(self, search: Search, *, after: ranking.Position | None, limit: int,
                     with_counts: bool) -> LocalAnswer:
        """This bank's next rows after a position (at most limit), and its counts if asked."""
        limit = max(1, min(limit or limits.search_results_per_bank_max, limits.search_results_per_bank_max))
        if search.filters.bank_id and search.filters.bank_id != self._bank_id:
            return LocalAnswer(products=[], counts=Counts(0, True, {}, {}) if with_counts else None)
        with read_connection(self._engine) as connection:
            rows = search_plan.page_rows(connection, search.words, search.filters, sort=search.sort, after=after,
                                         limit=limit)
            counts = local_search.counts(connection, search.words, search.filters) if with_counts else None
        return LocalAnswer(products=[product_view(row, bank_id=self._bank_id) for row in rows], counts=counts)

    def search(self, search: Search, *, cursor: str, page_size: int) -> SearchPage:
        """One page of every member's matches in the sort's order; banks that missed the deadline named."""
        page_size = page_size or limits.search_page_size_default
        if not 0 < page_size <= limits.search_page_size_max:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                                 f"page size must be 1..{limits.search_page_size_max}")
        state = search_cursor.decode(cursor, digest=search.digest)
        first_page = not cursor
        started = time.monotonic()
        bank_ids = [bank_id for bank_id in self._peer_ids()
                    if bank_id not in state.finished and search.filters.bank_id in ("", bank_id)]
        deadline_s = started + self._deadline_ms / 1000
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(bank_ids)),
                                                     thread_name_prefix=f"{self._bank_id}-search")
        try:
            futures = {pool.submit(self._ask, bank_id, self._peer_request(
                search, state.positions.get(bank_id), page_size=page_size, first_page=first_page),
                deadline_s=deadline_s): bank_id for bank_id in bank_ids}
            answers: dict[str, list[ProductView]] = {}
            counts: list[Counts] = []
            if self._bank_id not in state.finished:
                local = self.search_local(search, after=state.positions.get(self._bank_id), limit=page_size,
                                          with_counts=first_page)
                answers[self._bank_id] = local.products
                counts.extend([local.counts] if local.counts else [])
            done, _ = concurrent.futures.wait(futures, timeout=max(0.0, deadline_s - time.monotonic()))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # Late calls end at the deadline on their own.
        not_answering = []
        for future, bank_id in futures.items():
            if future not in done or future.exception() is not None:
                if future in done:
                    log.warning("search: %s did not answer: %s", bank_id, future.exception())
                not_answering.append(bank_id)
                continue
            response = future.result()
            answers[bank_id] = self._sound_products(bank_id, response)
            if first_page:
                counts.append(counts_from_proto(response))
        page, positions, finished = ranking.merge_page(search.sort, search.words, answers, state.positions,
                                                       page_size=page_size, asked_for=page_size)
        # A bank not asked this time (the registry did not answer, or it was not ACTIVE) keeps its
        # position too: should it be asked again, it goes on from where it stood.
        asked = set(bank_ids) | ({self._bank_id} - state.finished)
        more = (asked | set(state.positions)) - finished
        finished |= state.finished
        next_cursor = search_cursor.encode(search_cursor.Cursor(
            positions={bank: at for bank, at in positions.items() if bank in more}, finished=frozenset(finished)),
            digest=search.digest) if more else ""
        facets = merge_counts(counts) if first_page else None
        self._on_searched(time.monotonic() - started, not_answering)
        return SearchPage(products=page, total=sum(c.matches for c in counts), banks_not_answering=sorted(not_answering),
                          total_exact=all(c.exact for c in counts) and not not_answering, next_cursor=next_cursor,
                          facets=facets)

    def _peer_ids(self) -> list[str]:
        try:
            return [bank_id for bank_id in self._peers.other_active_bank_ids() if bank_id != self._bank_id]
        except Exception as error:  # noqa: BLE001 - without a registry we still answer with our own catalogue.
            log.warning("search: no peer directory (%s); local results only", error)
            return []

    @staticmethod
    def _peer_request(search: Search, after: ranking.Position | None, *, page_size: int,
                      first_page: bool) -> marketplace_pb2.SearchCatalogueRequest:
        request = marketplace_pb2.SearchCatalogueRequest(
            query=" ".join(search.words), limit=page_size, filters=filters_to_proto(search.filters),
            sort=search.sort, want_facets=first_page, category_tree_version=categories.VERSION)
        if after is not None:
            request.after.CopyFrom(position_to_proto(after))
        return request

    @staticmethod
    def _sound_products(bank_id: str, response: marketplace_pb2.SearchCatalogueResponse) -> list[ProductView]:
        checked = [(product, peer_product_problem(product))
                   for product in response.products[:limits.search_results_per_bank_max]]
        problems = [problem for _, problem in checked if problem is not None]
        if problems:
            log.warning("search: %d products from %s left out: %s", len(problems), bank_id, problems[0],
                        extra=logs.fields(bank=bank_id))
        return [product_from_proto(product, bank_id=bank_id) for product, problem in checked if problem is None]

    def _ask(self, bank_id: str, request: marketplace_pb2.SearchCatalogueRequest, *,
             deadline_s: float) -> marketplace_pb2.SearchCatalogueResponse:
        """One bank's answer, with only the time left before the search's deadline."""
        remaining_s = deadline_s - time.monotonic()
        if remaining_s <= 0:
            raise TimeoutError(f"no time left to ask {bank_id}")
        return self._peers.search_catalogue(bank_id, request, timeout_s=remaining_s)

    def close(self) -> None:
        """Nothing to release: each search's threads end by its deadline."""


__all__ = ["CatalogueService", "Facets", "LocalAnswer", "Search", "SearchPage", "check_search", "merge_counts",
           "query_words"]
