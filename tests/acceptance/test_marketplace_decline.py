"""A merchant declines an order it will not ship: the stock is free at once, and the buyer's
bank returns the escrow when it hears, also when it was down at the time."""
from __future__ import annotations

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from tests.node.marketplace_world import database_url, market  # noqa: F401
from tests.support.federation import wait_until

A, B = "bank-a", "bank-b"


def provision(market) -> None:
    market.open_account(A, "ann", deposit_minor=10_000)
    market.open_account(B, "bob", deposit_minor=10_000)
    market.merchant(B, "potter")
    market.merchant(B, "weaver")
    market.product(B, "potter", "vase", title="Vase", price_minor=2_500, stock=5)


def buy(market, bank_id: str, buyer: str) -> str:
    checkout = market.checkout(bank_id, buyer, [(B, "potter", "vase", 2, 2_500)])
    assert checkout.orders[0].state == mp.ORDER_STATE_PAID, checkout
    return checkout.orders[0].order_id


def decline(market, order_id: str, merchant_id: str = "potter") -> mp.DeclineOrderResponse:
    return market.market(B).DeclineOrder(mp.DeclineOrderRequest(
        merchant_id=merchant_id, order_id=order_id, reason="kiln broke"))


def test_a_declined_order_frees_the_stock_and_returns_the_buyers_money(market):
    provision(market)
    across, at_home = buy(market, A, "ann"), buy(market, B, "bob")
    assert market.products(B, "potter")["vase"].stock_available == 1

    assert decline(market, across, "weaver").result == rc.RESULT_CODE_ORDER_UNKNOWN  # Not the weaver's order.
    for order_id, (bank_id, buyer) in ((across, (A, "ann")), (at_home, (B, "bob"))):
        declined = decline(market, order_id)
        assert (declined.result, declined.order.state) == (rc.RESULT_CODE_OK, mp.ORDER_STATE_CANCELLED)
        assert decline(market, order_id).result == rc.RESULT_CODE_EXISTS
        order = market.wait_buyer_state(bank_id, buyer, order_id, mp.ORDER_STATE_CANCELLED)
        assert (order.problem, order.problem_detail) == (rc.RESULT_CODE_ORDER_DECLINED,
                                                         "declined by the merchant: kiln broke")
        assert market.balance(bank_id, buyer) == 10_000
        assert market.market(B).ShipOrder(mp.ShipOrderRequest(
            merchant_id="potter", order_id=order_id, tracking_reference="T")).result == \
            rc.RESULT_CODE_ORDER_STATE_INVALID
    assert market.products(B, "potter")["vase"].stock_available == 5
    assert (market.escrow(A), market.escrow(B)) == (0, 0)
    market.assert_books()


def test_declined_while_the_buyers_bank_is_down__the_escrow_comes_back_when_it_returns(market):
    provision(market)
    order_id = buy(market, A, "ann")
    market.stop_node(A)
    assert decline(market, order_id).result == rc.RESULT_CODE_OK
    assert market.products(B, "potter")["vase"].stock_available == 5   # Free at once, not when A hears.
    market.start_node(A)
    market.wait_buyer_state(A, "ann", order_id, mp.ORDER_STATE_CANCELLED, timeout_s=30)
    wait_until(lambda: market.balance(A, "ann") == 10_000)
    assert market.escrow(A) == 0
    market.assert_books()


def test_a_shipped_order_cannot_be_declined(market):
    provision(market)
    order_id = buy(market, A, "ann")
    assert market.market(B).ShipOrder(mp.ShipOrderRequest(
        merchant_id="potter", order_id=order_id, tracking_reference="T")).result == rc.RESULT_CODE_OK
    refused = decline(market, order_id)
    assert (refused.result, "is SHIPPED" in refused.detail) == (rc.RESULT_CODE_ORDER_STATE_INVALID, True)
    assert market.products(B, "potter")["vase"].stock_available == 3
