"""Order lists: filtered by state, placing time, buyer or merchant, newest first, paged with a cursor.

    a buyer's orders      buyer_orders of that account (the buyer's bank's side)
    a merchant's orders   seller_orders of that merchant (the seller's bank's side)
    the bank's view       both: its buyers' orders, and its merchants' orders for other banks'
                          buyers (an order inside this bank is listed once, from the buyer's side)

Orders are sorted by (placed_at, order_id), newest first: a total order on values that never
change. A cursor names the last order of a page, so the next page is every order strictly after
it in that order (a keyset, read with the index on (placed_at_unix_ms, order_id)): orders placed
while a caller pages land before the first page and neither shift nor repeat a later one. The
cursor is opaque to callers (URL-safe base64 of the key and a digest of the filters) and refused
with other filters than it was made for (INVALID_FIELD), so a page never mixes two queries.

A state filter uses the states callers see: PAID also finds the buyer side's CANCELLING and the
seller side's RESERVED (node.market.orders).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa

from fedmall.database import read_connection
from fedmall.v1 import result_pb2

from node import fields, limits
from node.errors import InvalidRequest
from node.market import store as tables
from node.market.orders import CANCELLING, PAID, RESERVED, OrderView, buyer_view, seller_view

SHOWN_STATES = ("PLACING", "PAID", "SHIPPED", "RECEIVED", "COMPLETED", "CANCELLED", "REFUNDED", "FAILED")
BUYER_STORED = {PAID: (PAID, CANCELLING)}
SELLER_STORED = {PAID: (RESERVED,)}


@dataclass(frozen=True, slots=True)
class OrderFilter:
    buyer_account_id: str = ""
    merchant_id: str = ""
    states: tuple[str, ...] = ()        # Shown state names; empty: every state.
    placed_from_unix_ms: int = 0        # Inclusive; 0: unbounded.
    placed_before_unix_ms: int = 0      # Exclusive; 0: unbounded.

    def digest(self) -> str:
        text = json.dumps([self.buyer_account_id, self.merchant_id, sorted(self.states), self.placed_from_unix_ms,
                           self.placed_before_unix_ms], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[OrderView]
    next_cursor: str        # Empty: no more.


def check_filter(order_filter: OrderFilter) -> OrderFilter:
    if order_filter.buyer_account_id and order_filter.merchant_id:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "name at most one of buyer or merchant")
    if order_filter.buyer_account_id:
        fields.check_account_id(order_filter.buyer_account_id)
    if order_filter.merchant_id:
        fields.check_id(order_filter.merchant_id, "merchant id")
    unknown = [state for state in order_filter.states if state not in SHOWN_STATES]
    if unknown:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"no order state {unknown[0]!r}")
    if order_filter.placed_from_unix_ms < 0 or order_filter.placed_before_unix_ms < 0:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "placing times are never negative")
    return order_filter


def encode_cursor(order: OrderView, order_filter: OrderFilter) -> str:
    text = json.dumps([order.placed_at_unix_ms, order.order_id, order_filter.digest()], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order_filter: OrderFilter) -> tuple[int, str] | None:
    """The (placed_at, order_id) a cursor names; None for no cursor; INVALID_FIELD for a bad one."""
    if not cursor:
        return None
    if len(cursor) > limits.order_cursor_length_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "the cursor is too long")
    try:
        placed_at, order_id, digest = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "not a cursor of this node") from None
    if not (isinstance(placed_at, int) and isinstance(order_id, str) and isinstance(digest, str)):
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "not a cursor of this node")
    if digest != order_filter.digest():
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "the cursor was made for other filters")
    return placed_at, order_id


def page_size_of(requested: int) -> int:
    if requested == 0:
        return limits.orders_page_size_default
    if not 0 < requested <= limits.orders_page_size_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                             f"page size must be 1..{limits.orders_page_size_max}")
    return requested


def _query(table: sa.Table, order_filter: OrderFilter, stored: dict, *, after: tuple[int, str] | None,
           limit: int) -> sa.Select:
    query = sa.select(table).order_by(table.c.placed_at_unix_ms.desc(), table.c.order_id.desc()).limit(limit)
    if order_filter.states:
        query = query.where(table.c.state.in_(sorted({s for state in order_filter.states
                                                      for s in stored.get(state, (state,))})))
    if order_filter.placed_from_unix_ms:
        query = query.where(table.c.placed_at_unix_ms >= order_filter.placed_from_unix_ms)
    if order_filter.placed_before_unix_ms:
        query = query.where(table.c.placed_at_unix_ms < order_filter.placed_before_unix_ms)
    if after is not None:
        placed_at, order_id = after
        query = query.where(sa.or_(table.c.placed_at_unix_ms < placed_at,
                                   sa.and_(table.c.placed_at_unix_ms == placed_at, table.c.order_id < order_id)))
    return query


def newest_first(orders: list[OrderView]) -> list[OrderView]:
    return sorted(orders, key=lambda order: (order.placed_at_unix_ms, order.order_id), reverse=True)


class OrderLists:
    def __init__(self, engine: sa.Engine, *, bank_id: str) -> None:
        self._engine = engine
        self._bank_id = bank_id

    def page(self, order_filter: OrderFilter, *, page_size: int = 0, cursor: str = "") -> OrderPage:
        check_filter(order_filter)
        size = page_size_of(page_size)
        after = decode_cursor(cursor, order_filter)
        buyers, sellers = tables.buyer_orders, tables.seller_orders
        with read_connection(self._engine) as connection:
            found: list[OrderView] = []
            if not order_filter.merchant_id:
                query = _query(buyers, order_filter, BUYER_STORED, after=after, limit=size + 1)
                if order_filter.buyer_account_id:
                    query = query.where(buyers.c.buyer_account_id == order_filter.buyer_account_id)
                found += [buyer_view(row, bank_id=self._bank_id) for row in connection.execute(query)]
            if not order_filter.buyer_account_id:
                query = _query(sellers, order_filter, SELLER_STORED, after=after, limit=size + 1)
                if order_filter.merchant_id:
                    query = query.where(sellers.c.merchant_id == order_filter.merchant_id)
                else:  # The bank's view: its own buyers' orders are listed from the buyer's side.
                    query = query.where(sellers.c.buyer_bank_id != self._bank_id)
                found += [seller_view(row, bank_id=self._bank_id) for row in connection.execute(query)]
        ordered = newest_first(found)
        shown = ordered[:size]
        more = len(ordered) > size
        return OrderPage(orders=shown, next_cursor=encode_cursor(shown[-1], order_filter) if more else "")
