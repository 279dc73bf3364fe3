"""Background work of the marketplace on real nodes: auto-confirm, release retried after a
cap refusal, PLACING orders recovered after a crash, events to a node that was down."""
from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger, store
from node.market import order_events, store as tables
from node.market.orders import PLACING, derived_id, items_to_json, Item
from tests.node.market.world import database_url, market, world_market  # noqa: F401
from tests.support.federation import wait_until

A, B, C = "bank-a", "bank-b", "bank-c"


def test_auto_confirm__shipped_order_confirms_itself_and_releases(world_market):
    market = world_market(auto_confirm_after_s=1)
    settle = market.merchant(B, "beta")
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=10)
    market.open_account(A, "buyer", deposit_minor=10_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 2, 500)]).orders[0]
    assert order.state == mp.ORDER_STATE_PAID
    market.market(B).ShipOrder(mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id, tracking_reference="T"))
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_COMPLETED)
    wait_until(lambda: market.balance(B, settle) == 1_000)
    market.wait_seller_state(B, "beta", order.order_id, mp.ORDER_STATE_COMPLETED)
    assert market.escrow(A) == 0
    market.assert_invariants()


def test_release__refused_by_the_cap_stays_in_escrow_then_retries(market):
    settle = market.merchant(A, "alpha")
    market.product(A, "alpha", "sofa", title="Sofa", price_minor=60_000, stock=1)
    market.open_account(C, "buyer", deposit_minor=100_000)
    order = market.checkout(C, "buyer", [(A, "alpha", "sofa", 1, 60_000)]).orders[0]
    assert order.state == mp.ORDER_STATE_PAID, order
    market.market(A).ShipOrder(mp.ShipOrderRequest(merchant_id="alpha", order_id=order.order_id))
    market.wait_buyer_state(C, "buyer", order.order_id, mp.ORDER_STATE_SHIPPED)
    market.market(C).ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id="buyer", order_id=order.order_id))
    # Bank c's liquidity (500.00) is below the 600.00 release: the clearing refuses it.
    stuck = wait_until(lambda: (o := market.buyer_order(C, "buyer", order.order_id)).problem not in (
        rc.RESULT_CODE_OK, rc.RESULT_CODE_UNSPECIFIED) and o)
    assert stuck.state == mp.ORDER_STATE_RECEIVED
    assert stuck.problem in (rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY, rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED)
    assert market.escrow(C) == 60_000 and market.balance(A, settle) == 0
    assert market.nodes[C].buyer_orders.escrow_held_minor("EUR") == 60_000
    # Money comes into bank c; its position now allows the release, which a later attempt sends.
    market.open_account(A, "payer", deposit_minor=30_000)
    transfer_id, _ = market.send(A, "payer", C, "buyer", 30_000)
    assert market.wait_final(A, transfer_id).status == "COMMITTED"
    done = market.wait_buyer_state(C, "buyer", order.order_id, mp.ORDER_STATE_COMPLETED, timeout_s=20)
    assert done.problem == rc.RESULT_CODE_OK and done.release_transfer_id != stuck.release_transfer_id
    wait_until(lambda: market.balance(A, settle) == 60_000)
    assert market.escrow(C) == 0
    market.assert_invariants()


def test_recovery__placing_orders_left_by_a_crash_are_placed_and_paid_or_failed_with_escrow_back(market):
    market.merchant(B, "beta")
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=10)
    market.open_account(A, "buyer", deposit_minor=10_000)
    long_ago_ms = int(time.time() * 1000) - 60_000
    orders = {}
    # What a crash after checkout's transaction leaves behind: PLACING orders, their money in escrow.
    with market.nodes[A].engine.begin() as connection:
        for sku in ("mug", "teapot"):
            checkout_id = str(uuid.uuid4())
            order_id = derived_id(A, checkout_id, B, "beta")
            orders[sku] = order_id
            connection.execute(tables.checkouts.insert().values(
                checkout_id=checkout_id, buyer_account_id="buyer", request_sha256="0" * 64,
                created_at_unix_ms=long_ago_ms))
            connection.execute(tables.buyer_orders.insert().values(
                order_id=order_id, checkout_id=checkout_id, buyer_account_id="buyer", seller_bank_id=B,
                merchant_id="beta", items=items_to_json([Item(sku=sku, quantity=3, unit_price_minor=500)]),
                total_minor=1_500, currency="EUR", state=PLACING, tracking_reference="", refunded_minor=0,
                problem=rc.RESULT_CODE_OK, problem_detail="", settlement_account_id="", release_attempt=0,
                placed_at_unix_ms=long_ago_ms, updated_at_unix_ms=long_ago_ms))
            store.write_entries(connection, [ledger.move(
                f"escrow:{order_id}", "escrow", source="buyer", destination="@escrow/EUR", amount_minor=1_500,
                currency="EUR")], now_ms=long_ago_ms)
    assert market.nodes[A].buyer_orders.escrow_held_minor("EUR") == 3_000
    paid = market.wait_buyer_state(A, "buyer", orders["mug"], mp.ORDER_STATE_PAID)
    assert paid.total.amount_minor == 1_500
    failed = market.wait_buyer_state(A, "buyer", orders["teapot"], mp.ORDER_STATE_FAILED)
    assert failed.problem == rc.RESULT_CODE_PRODUCT_UNKNOWN
    # The paid order's money stays in escrow; the failed one's came back.
    assert market.balance(A, "buyer") == 8_500 and market.escrow(A) == 1_500
    assert market.nodes[A].buyer_orders.escrow_held_minor("EUR") == 1_500
    assert market.products(B, "beta")["mug"].stock_available == 7
    market.assert_books()


def test_events__a_seller_event_waits_for_a_buyer_node_that_was_down(market):
    market.merchant(B, "beta")
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=10)
    market.open_account(A, "buyer", deposit_minor=10_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 1, 500)]).orders[0]
    market.stop_node(A)
    shipped = market.market(B).ShipOrder(mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id,
                                                             tracking_reference="LATE"))
    assert shipped.result == rc.RESULT_CODE_OK

    def attempts() -> int:  # The seller tried the buyer's bank while it was down, and will again.
        with market.nodes[B].engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.max(tables.order_events.c.attempts))
                                     .where(tables.order_events.c.order_id == order.order_id)) or 0
    wait_until(lambda: attempts() >= 1, timeout_s=30)
    market.start_node(A)
    arrived = market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_SHIPPED, timeout_s=20)
    assert arrived.tracking_reference == "LATE"

    def unsent() -> int:  # The sender marks an event sent just after the buyer's node answered.
        with market.nodes[B].engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(tables.order_events)
                                     .where(tables.order_events.c.sent.is_(False)))

    wait_until(lambda: unsent() == 0)


def test_restart__buyer_node_restarted_after_confirm_completes_the_release(market):
    settle = market.merchant(B, "beta")
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=10)
    market.open_account(A, "buyer", deposit_minor=10_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 2, 500)]).orders[0]
    market.market(B).ShipOrder(mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id))
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_SHIPPED)
    market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id="buyer", order_id=order.order_id))
    market.stop_node(A)
    market.start_node(A)
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_COMPLETED, timeout_s=20)
    wait_until(lambda: market.balance(B, settle) == 1_000)
    assert market.escrow(A) == 0 and market.balance(A, "buyer") == 9_000
    market.assert_invariants()


def test_cancel__seller_down_is_recorded_and_finished_when_it_answers(market):
    market.merchant(B, "beta")
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=10)
    market.open_account(A, "buyer", deposit_minor=10_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 2, 500)]).orders[0]
    assert order.state == mp.ORDER_STATE_PAID
    market.stop_node(B)
    cancel = mp.CancelOrderRequest(buyer_account_id="buyer", order_id=order.order_id)
    assert market.market(A).CancelOrder(cancel).result == rc.RESULT_CODE_UNAVAILABLE
    # Recorded, not yet done: shown as PAID, the money still in escrow, and no second cancel step needed.
    assert market.buyer_order(A, "buyer", order.order_id).state == mp.ORDER_STATE_PAID
    assert market.escrow(A) == 1_000 and market.nodes[A].buyer_orders.escrow_held_minor("EUR") == 1_000
    market.start_node(B)
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_CANCELLED, timeout_s=20)
    assert market.balance(A, "buyer") == 10_000 and market.escrow(A) == 0
    market.wait_seller_state(B, "beta", order.order_id, mp.ORDER_STATE_CANCELLED)
    assert market.products(B, "beta")["mug"].stock_available == 10
    assert market.market(A).CancelOrder(cancel).result == rc.RESULT_CODE_ORDER_STATE_INVALID
    market.assert_books()


def test_cancel__seller_refusal_seen_by_the_event_sender_puts_the_order_back_to_paid(market):
    market.merchant(B, "beta")
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=10)
    market.open_account(A, "buyer", deposit_minor=10_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 1, 500)]).orders[0]
    with market.nodes[A].engine.begin() as connection:  # What a crash right after recording the cancel leaves.
        connection.execute(tables.buyer_orders.update().where(tables.buyer_orders.c.order_id == order.order_id)
                           .values(state="CANCELLING"))
    with market.nodes[B].engine.begin() as connection:  # The seller shipped meanwhile (its event not yet sent).
        connection.execute(tables.seller_orders.update().where(tables.seller_orders.c.order_id == order.order_id)
                           .values(state="SHIPPED"))
    with market.nodes[A].engine.begin() as connection:
        order_events.enqueue(connection, event_id=derived_id(order.order_id, "cancel"), order_id=order.order_id,
                             recipient_bank_id=B, kind=order_events.CANCELLED, now_ms=0)
    wait_until(lambda: _state(market, order.order_id) == "PAID")
    assert market.escrow(A) == 500 and market.balance(A, "buyer") == 9_500
    market.assert_books()


def _state(market, order_id: str) -> str:
    with market.nodes[A].engine.connect() as connection:
        return connection.scalar(sa.select(tables.buyer_orders.c.state).where(
            tables.buyer_orders.c.order_id == order_id))
