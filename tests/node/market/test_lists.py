"""Order lists (node.market.order_lists) on SQLite and PostgreSQL: newest first on both sides and in
the bank's combined view, filtered by state, placing time, buyer or merchant, paged with a cursor
that stays stable while orders are placed, and refused with other filters."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from node.market import store as tables
from node.market.order_lists import OrderFilter, OrderLists, decode_cursor
from node.market.orders import Item, items_to_json
from tests.node.books import open_account, store_engine  # noqa: F401  (the engine fixture below uses it)
from tests.node.market.test_buyer_worker import add_orders
from tests.node.market.test_concurrency import engine  # noqa: F401  (a node database, the buyer's account open)
from tests.support.ids import uuid_of


def add_seller_orders(engine, count: int, *, first: int = 0, buyer_bank_id: str = "bank-x") -> None:
    with engine.begin() as connection:
        if connection.scalar(sa.select(sa.func.count()).select_from(tables.merchants)) == 0:
            connection.execute(tables.merchants.insert().values(
                merchant_id="beta", legal_name="Beta", contact="beta@example.com", settlement_account_id="settle",
                status="ACTIVE", created_at_unix_ms=0))
        for index in range(first, first + count):
            connection.execute(tables.seller_orders.insert().values(
                order_id=f"s-{index}", checkout_id=f"c-{index}", buyer_bank_id=buyer_bank_id,
                buyer_account_id="buyer", merchant_id="beta",
                items=items_to_json([Item(sku="mug", quantity=1, unit_price_minor=100)]), total_minor=100,
                currency="EUR", state="RESERVED" if index % 2 else "SHIPPED", tracking_reference="",
                refunded_minor=0, placed_at_unix_ms=1_000 + index, updated_at_unix_ms=1_000 + index))


@pytest.fixture
def lists(engine) -> OrderLists:  # noqa: F811
    open_account(engine, "settle")
    add_orders(engine, "bank-up", 5, state="PAID", now_ms=0)   # bank-up-0 .. -4, placed at 0 .. 4.
    add_seller_orders(engine, 5)                                 # s-0 .. s-4, placed at 1000 .. 1004.
    return OrderLists(engine, bank_id="bank-a")


def all_pages(lists: OrderLists, order_filter: OrderFilter, *, page_size: int) -> list[list[str]]:
    pages, cursor = [], ""
    while True:
        page = lists.page(order_filter, page_size=page_size, cursor=cursor)
        pages.append([order.order_id for order in page.orders])
        if not page.next_cursor:
            return pages
        cursor = page.next_cursor


def test_lists__newest_first_on_each_side_and_in_the_bank_view(lists):
    buyers = [uuid_of(f"bank-up-{index}") for index in (4, 3, 2, 1, 0)]
    assert all_pages(lists, OrderFilter(buyer_account_id="buyer"), page_size=10) == [buyers]
    assert all_pages(lists, OrderFilter(merchant_id="beta"), page_size=10) == [["s-4", "s-3", "s-2", "s-1", "s-0"]]
    assert all_pages(lists, OrderFilter(), page_size=4) == [["s-4", "s-3", "s-2", "s-1"], ["s-0"] + buyers[:3],
                                                            buyers[3:]]


def test_lists__filters_by_state_and_placing_time_with_the_states_callers_see(lists):
    # PAID finds the seller's RESERVED orders (s-1, s-3) and the buyer's PAID ones.
    assert all_pages(lists, OrderFilter(merchant_id="beta", states=("PAID",)), page_size=10) == [["s-3", "s-1"]]
    assert all_pages(lists, OrderFilter(merchant_id="beta", states=("SHIPPED", "COMPLETED")), page_size=10) == [
        ["s-4", "s-2", "s-0"]]
    assert all_pages(lists, OrderFilter(placed_from_unix_ms=2, placed_before_unix_ms=1_002), page_size=10) == [
        ["s-1", "s-0", uuid_of("bank-up-4"), uuid_of("bank-up-3"), uuid_of("bank-up-2")]]
    assert all_pages(lists, OrderFilter(buyer_account_id="nobody"), page_size=10) == [[]]


def test_lists__a_cursor_is_stable_while_orders_are_placed(lists, engine):  # noqa: F811
    order_filter = OrderFilter(merchant_id="beta")
    first = lists.page(order_filter, page_size=2)
    assert [order.order_id for order in first.orders] == ["s-4", "s-3"]
    add_seller_orders(engine, 3, first=5)   # Newer orders arrive while the caller pages.
    second = lists.page(order_filter, page_size=2, cursor=first.next_cursor)
    assert [order.order_id for order in second.orders] == ["s-2", "s-1"]
    third = lists.page(order_filter, page_size=2, cursor=second.next_cursor)
    assert ([order.order_id for order in third.orders], third.next_cursor) == (["s-0"], "")
    assert [order.order_id for order in lists.page(order_filter, page_size=3).orders] == ["s-7", "s-6", "s-5"]


def test_lists__bad_requests_are_invalid_field(lists):
    page = lists.page(OrderFilter(merchant_id="beta"), page_size=1)
    for order_filter, page_size, cursor in (
            (OrderFilter(merchant_id="beta", states=("PAID",)), 1, page.next_cursor),   # Other filters.
            (OrderFilter(merchant_id="beta"), 1, "not-a-cursor"),
            (OrderFilter(merchant_id="beta"), 1, "x" * 201),
            (OrderFilter(merchant_id="beta"), 1_001, ""),
            (OrderFilter(buyer_account_id="buyer", merchant_id="beta"), 1, ""),
            (OrderFilter(states=("LOST",)), 1, ""),
            (OrderFilter(placed_from_unix_ms=-1), 1, "")):
        with pytest.raises(FedmallError) as refused:
            lists.page(order_filter, page_size=page_size, cursor=cursor)
        assert refused.value.code == rc.RESULT_CODE_INVALID_FIELD, (order_filter, cursor)
    assert decode_cursor(page.next_cursor, OrderFilter(merchant_id="beta")) == (1_004, "s-4")
