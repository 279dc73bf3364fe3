"""A merchant declines an order it will not ship: the stock is free at once, and the buyer's
bank returns the escrow when it hears, also when it was down at the time."""
from __future__ import annotations

import uuid

from fedmall import tls
from fedmall.pki import Identity
from fedmall.v1 import marketplace_pb2 as mp, marketplace_pb2_grpc
from fedmall.v1 import result_pb2 as rc

from node.market.orders import derived_id
from tests.node.market.world import database_url, market  # noqa: F401
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


def peer(market, caller: str, callee: str):
    """callee's MarketplacePeerService, called with caller's certificate."""
    channel = tls.secure_channel(f"127.0.0.1:{market.world.banks[callee].node_port}", market.world.banks[caller].tls,
                                 server=Identity(callee, "bank"))
    market.world._channels.append(channel)
    return marketplace_pb2_grpc.MarketplacePeerServiceStub(channel)


def test_decline__refusals_and_repeats_change_nothing(market):
    provision(market)
    order_id = buy(market, A, "ann")
    other_bank = marketplace_pb2_grpc.MarketplaceServiceStub(tls.secure_channel(
        f"127.0.0.1:{market.world.banks[B].node_port}", market.world.banks[A].tls, server=Identity(B, "bank")))
    assert other_bank.DeclineOrder(mp.DeclineOrderRequest(merchant_id="potter", order_id=order_id)).result == \
        rc.RESULT_CODE_FORBIDDEN
    too_long = market.market(B).DeclineOrder(mp.DeclineOrderRequest(merchant_id="potter", order_id=order_id,
                                                                    reason="x" * 141))
    assert too_long.result == rc.RESULT_CODE_INVALID_FIELD
    # Only the order's seller bank may tell the buyer's bank of a decline.
    forged = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order_id,
                                        kind=mp.ORDER_EVENT_KIND_DECLINED, reason="forged")
    assert peer(market, "bank-c", A).NotifyOrderEvent(forged).result == rc.RESULT_CODE_FORBIDDEN
    assert market.buyer_order(A, "ann", order_id).state == mp.ORDER_STATE_PAID
    assert market.products(B, "potter")["vase"].stock_available == 3

    assert decline(market, order_id).result == rc.RESULT_CODE_OK
    assert market.market(B).DeclineOrder(mp.DeclineOrderRequest(
        merchant_id="potter", order_id=order_id, reason="other")).result == rc.RESULT_CODE_MODIFIED_REQUEST
    market.wait_buyer_state(A, "ann", order_id, mp.ORDER_STATE_CANCELLED)
    event = mp.NotifyOrderEventRequest(event_id=derived_id(order_id, "declined"), order_id=order_id,
                                       kind=mp.ORDER_EVENT_KIND_DECLINED, reason="kiln broke")
    assert peer(market, B, A).NotifyOrderEvent(event).result == rc.RESULT_CODE_EXISTS   # A replay.
    assert market.balance(A, "ann") == 10_000
    market.assert_books()


def test_decline__an_order_the_buyer_cancelled_is_not_declined(market):
    provision(market)
    order_id = buy(market, A, "ann")
    assert market.market(A).CancelOrder(mp.CancelOrderRequest(buyer_account_id="ann", order_id=order_id)).result \
        == rc.RESULT_CODE_OK
    refused = decline(market, order_id)
    assert (refused.result, refused.detail) == (rc.RESULT_CODE_ORDER_STATE_INVALID,
                                                f"order {order_id!r} was cancelled by the buyer")
    assert market.buyer_order(A, "ann", order_id).problem == rc.RESULT_CODE_OK


def test_decline__a_buyer_cancel_that_crossed_it_still_shows_the_decline(market):
    """The merchant declines while its bank's event sender is not running; the buyer cancels
    meanwhile (the seller's bank agrees: it will not ship). When the DECLINED event arrives,
    the buyer's order says it was declined; the money came back once."""
    provision(market)
    order_id = buy(market, A, "ann")
    market.stop_node(B)
    market.start_node(B, workers=False)
    assert decline(market, order_id).result == rc.RESULT_CODE_OK
    assert market.market(A).CancelOrder(mp.CancelOrderRequest(buyer_account_id="ann", order_id=order_id)).result \
        == rc.RESULT_CODE_OK
    assert market.buyer_order(A, "ann", order_id).problem == rc.RESULT_CODE_OK
    market.stop_node(B)
    market.start_node(B)
    wait_until(lambda: market.buyer_order(A, "ann", order_id).problem == rc.RESULT_CODE_ORDER_DECLINED)
    assert market.balance(A, "ann") == 10_000 and market.escrow(A) == 0
    market.assert_books()
