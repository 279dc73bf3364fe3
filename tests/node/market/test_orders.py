"""Orders across real nodes and a real clearing over mTLS: checkout, escrow, ship, confirm,
release (book and interbank), cancel, refund, a seller node down."""
from __future__ import annotations

import uuid

from fedmall import limits
from fedmall.v1 import marketplace_pb2 as mp, money_pb2
from fedmall.v1 import result_pb2 as rc

from tests.node.market.world import database_url, eur, market  # noqa: F401
from tests.support.federation import wait_until

A, B, C = "bank-a", "bank-b", "bank-c"


def shop(market) -> dict[str, str]:
    """Merchants alpha at A and beta at B, a buyer at A with 500.00."""
    accounts = {"alpha": market.merchant(A, "alpha"), "beta": market.merchant(B, "beta")}
    market.product(A, "alpha", "kettle", title="Kettle", price_minor=2_000, stock=5)
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=10)
    market.open_account(A, "buyer", deposit_minor=50_000)
    return accounts


def by_merchant(response: mp.CheckoutResponse) -> dict[str, mp.Order]:
    return {order.merchant_id: order for order in response.orders}


def test_checkout__one_cart_two_banks_both_paid_escrow_held_stock_reserved(market):
    shop(market)
    response = market.checkout(A, "buyer", [(A, "alpha", "kettle", 1, 2_000), (B, "beta", "mug", 3, 500)])
    assert response.result == rc.RESULT_CODE_OK, response
    orders = by_merchant(response)
    assert orders["alpha"].state == mp.ORDER_STATE_PAID and orders["beta"].state == mp.ORDER_STATE_PAID
    assert orders["beta"].total.amount_minor == 1_500
    assert market.balance(A, "buyer") == 50_000 - 3_500
    assert market.escrow(A) == 3_500
    assert market.nodes[A].buyer_orders.escrow_held_minor("EUR") == 3_500  # Escrow matches the open orders.
    assert market.products(B, "beta")["mug"].stock_available == 7
    assert market.products(A, "alpha")["kettle"].stock_available == 4
    seller_view = market.seller_order(B, "beta", orders["beta"].order_id)
    assert seller_view.buyer_bank_id == A and seller_view.state == mp.ORDER_STATE_PAID
    assert seller_view.items[0].title == "Mug"

    again = market.checkout(A, "buyer", [(A, "alpha", "kettle", 1, 2_000), (B, "beta", "mug", 3, 500)],
                            checkout_id=response.orders[0].checkout_id)
    assert again.result == rc.RESULT_CODE_EXISTS
    assert sorted(o.order_id for o in again.orders) == sorted(o.order_id for o in response.orders)
    assert market.balance(A, "buyer") == 50_000 - 3_500
    other = market.checkout(A, "buyer", [(B, "beta", "mug", 1, 500)], checkout_id=response.orders[0].checkout_id)
    assert other.result == rc.RESULT_CODE_MODIFIED_REQUEST
    market.assert_books()


def test_checkout__escrow_is_held_before_the_seller_reserves(market):
    shop(market)
    seen = []
    seller = market.nodes[B].seller_orders
    place = seller.place

    def place_and_look(**kwargs):  # What the buyer's bank holds when the seller reserves.
        seen.append((market.balance(A, "buyer"), market.escrow(A)))
        return place(**kwargs)

    seller.place = place_and_look
    order = by_merchant(market.checkout(A, "buyer", [(B, "beta", "mug", 3, 500)]))["beta"]
    assert seen == [(50_000 - 1_500, 1_500)]
    assert order.state == mp.ORDER_STATE_PAID
    assert market.balance(A, "buyer") == 50_000 - 1_500 and market.escrow(A) == 1_500
    market.assert_books()


def test_checkout__a_refused_order_gives_its_escrow_back_in_the_same_step(market):
    shop(market)
    seen = []
    seller = market.nodes[B].seller_orders
    place = seller.place

    def place_and_look(**kwargs):
        seen.append(market.escrow(A))
        return place(**kwargs)

    seller.place = place_and_look
    order = by_merchant(market.checkout(A, "buyer", [(B, "beta", "mug", 11, 500)]))["beta"]
    assert seen == [5_500]
    assert order.state == mp.ORDER_STATE_FAILED and order.problem == rc.RESULT_CODE_INSUFFICIENT_STOCK
    assert market.balance(A, "buyer") == 50_000 and market.escrow(A) == 0
    market.assert_books()


def test_checkout__refusals_reserve_and_debit_nothing(market):
    shop(market)
    cases = [
        ([(B, "beta", "mug", 1, 500)], "nobody", rc.RESULT_CODE_ACCOUNT_UNKNOWN),
        ([(B, "beta", "mug", 200, 500)], "buyer", rc.RESULT_CODE_INSUFFICIENT_FUNDS),
        ([(B, "beta", "mug", 0, 500)], "buyer", rc.RESULT_CODE_INVALID_FIELD),
        ([(B, "beta", "mug", 1, limits.amount_minor_max + 1)], "buyer", rc.RESULT_CODE_INVALID_AMOUNT),
        ([(B, "beta", "mug", 10_000, limits.amount_minor_max // 1_000)], "buyer", rc.RESULT_CODE_INVALID_AMOUNT),
        ([], "buyer", rc.RESULT_CODE_INVALID_FIELD),
    ]
    for items, buyer, code in cases:
        assert market.checkout(A, buyer, items).result == code, (items, code)
    yen = market.market(A).Checkout(mp.CheckoutRequest(
        checkout_id=str(uuid.uuid4()), buyer_account_id="buyer",
        items=[mp.CartItem(seller_bank_id=B, merchant_id="beta", sku="mug", quantity=1,
                           unit_price=money_pb2.Money(amount_minor=500, currency="JPY"))]))
    assert yen.result == rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED
    assert market.balance(A, "buyer") == 50_000 and market.escrow(A) == 0
    assert market.products(B, "beta")["mug"].stock_available == 10


def test_checkout__seller_refusals_fail_that_order_only(market):
    shop(market)
    response = market.checkout(A, "buyer", [(A, "alpha", "kettle", 1, 2_000), (B, "beta", "mug", 11, 500)])
    orders = by_merchant(response)
    assert orders["alpha"].state == mp.ORDER_STATE_PAID
    assert orders["beta"].state == mp.ORDER_STATE_FAILED and orders["beta"].problem == rc.RESULT_CODE_INSUFFICIENT_STOCK
    response = market.checkout(A, "buyer", [(B, "beta", "mug", 1, 499)])
    assert response.orders[0].problem == rc.RESULT_CODE_PRICE_CHANGED
    response = market.checkout(A, "buyer", [(B, "beta", "teapot", 1, 499)])
    assert response.orders[0].problem == rc.RESULT_CODE_PRODUCT_UNKNOWN
    assert market.balance(A, "buyer") == 50_000 - 2_000 and market.escrow(A) == 2_000
    assert market.products(B, "beta")["mug"].stock_available == 10
    market.assert_books()


def test_ship_confirm__book_release_and_interbank_release_complete(market):
    accounts = shop(market)
    orders = by_merchant(market.checkout(A, "buyer", [(A, "alpha", "kettle", 2, 2_000), (B, "beta", "mug", 2, 500)]))
    for bank, merchant in ((A, "alpha"), (B, "beta")):
        shipped = market.market(bank).ShipOrder(mp.ShipOrderRequest(
            merchant_id=merchant, order_id=orders[merchant].order_id, tracking_reference=f"TRACK-{merchant}"))
        assert shipped.result == rc.RESULT_CODE_OK, shipped
        order = market.wait_buyer_state(A, "buyer", orders[merchant].order_id, mp.ORDER_STATE_SHIPPED)
        assert order.tracking_reference == f"TRACK-{merchant}" and order.auto_confirm_at_unix_ms > 0
    assert market.products(B, "beta")["mug"].stock_available == 8
    # Another merchant cannot ship or see it; after shipping, the buyer cannot cancel.
    market.merchant(B, "gamma")
    other = market.market(B).ShipOrder(mp.ShipOrderRequest(merchant_id="gamma", order_id=orders["beta"].order_id))
    assert other.result == rc.RESULT_CODE_ORDER_UNKNOWN
    cancel = market.market(A).CancelOrder(mp.CancelOrderRequest(buyer_account_id="buyer", order_id=orders["beta"].order_id))
    assert cancel.result == rc.RESULT_CODE_ORDER_STATE_INVALID

    for merchant in ("alpha", "beta"):
        confirmed = market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(
            buyer_account_id="buyer", order_id=orders[merchant].order_id))
        assert confirmed.result == rc.RESULT_CODE_OK, confirmed
    assert market.buyer_order(A, "buyer", orders["alpha"].order_id).state == mp.ORDER_STATE_COMPLETED
    assert market.balance(A, accounts["alpha"]) == 4_000
    done = market.wait_buyer_state(A, "buyer", orders["beta"].order_id, mp.ORDER_STATE_COMPLETED)
    assert done.release_transfer_id
    wait_until(lambda: market.balance(B, accounts["beta"]) == 1_000)
    market.wait_seller_state(B, "beta", orders["beta"].order_id, mp.ORDER_STATE_COMPLETED)
    market.wait_seller_state(A, "alpha", orders["alpha"].order_id, mp.ORDER_STATE_COMPLETED)
    assert market.escrow(A) == 0
    assert market.position(A)[0] == 1_000 and market.position(B)[0] == -1_000
    again = market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(
        buyer_account_id="buyer", order_id=orders["beta"].order_id))
    assert again.result == rc.RESULT_CODE_ORDER_STATE_INVALID
    market.assert_invariants()


def test_cancel__before_shipping_returns_escrow_and_releases_stock(market):
    shop(market)
    order = by_merchant(market.checkout(A, "buyer", [(B, "beta", "mug", 4, 500)]))["beta"]
    assert market.products(B, "beta")["mug"].stock_available == 6
    stranger = market.market(A).CancelOrder(mp.CancelOrderRequest(buyer_account_id="someone", order_id=order.order_id))
    assert stranger.result == rc.RESULT_CODE_ORDER_UNKNOWN
    cancelled = market.market(A).CancelOrder(mp.CancelOrderRequest(buyer_account_id="buyer", order_id=order.order_id))
    assert cancelled.result == rc.RESULT_CODE_OK and cancelled.order.state == mp.ORDER_STATE_CANCELLED
    assert market.balance(A, "buyer") == 50_000 and market.escrow(A) == 0
    assert market.products(B, "beta")["mug"].stock_available == 10
    assert market.seller_order(B, "beta", order.order_id).state == mp.ORDER_STATE_CANCELLED
    twice = market.market(A).CancelOrder(mp.CancelOrderRequest(buyer_account_id="buyer", order_id=order.order_id))
    assert twice.result == rc.RESULT_CODE_ORDER_STATE_INVALID
    ship = market.market(B).ShipOrder(mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id))
    assert ship.result == rc.RESULT_CODE_ORDER_STATE_INVALID
    market.assert_invariants()


def test_refund__partial_after_completion_across_banks(market):
    accounts = shop(market)
    order = by_merchant(market.checkout(A, "buyer", [(B, "beta", "mug", 4, 500)]))["beta"]
    market.market(B).ShipOrder(mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id, tracking_reference="T"))
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_SHIPPED)
    market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id="buyer", order_id=order.order_id))
    market.wait_seller_state(B, "beta", order.order_id, mp.ORDER_STATE_COMPLETED)
    wait_until(lambda: market.balance(B, accounts["beta"]) == 2_000)

    refund_id = str(uuid.uuid4())
    refund = mp.RefundOrderRequest(refund_id=refund_id, merchant_id="beta", order_id=order.order_id,
                                   amount=eur(700), reason="one mug broke")
    assert market.market(B).RefundOrder(refund).result == rc.RESULT_CODE_OK
    assert market.market(B).RefundOrder(refund).result == rc.RESULT_CODE_EXISTS
    too_much = mp.RefundOrderRequest(refund_id=str(uuid.uuid4()), merchant_id="beta", order_id=order.order_id,
                                     amount=eur(1_301))
    assert market.market(B).RefundOrder(too_much).result == rc.RESULT_CODE_REFUND_EXCEEDS_PAID
    market.merchant(B, "gamma")
    foreign = mp.RefundOrderRequest(refund_id=str(uuid.uuid4()), merchant_id="gamma", order_id=order.order_id,
                                    amount=eur(1))
    assert market.market(B).RefundOrder(foreign).result == rc.RESULT_CODE_ORDER_UNKNOWN

    refunded = market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_REFUNDED)
    assert refunded.refunded.amount_minor == 700
    wait_until(lambda: market.balance(A, "buyer") == 50_000 - 2_000 + 700)
    assert market.balance(B, accounts["beta"]) == 1_300
    assert market.seller_order(B, "beta", order.order_id).refunded.amount_minor == 700
    market.assert_invariants()


def test_checkout__seller_node_down_fails_that_order_with_no_money_held(market):
    shop(market)
    market.stop_node(B)
    response = market.checkout(A, "buyer", [(A, "alpha", "kettle", 1, 2_000), (B, "beta", "mug", 1, 500)])
    orders = by_merchant(response)
    assert orders["alpha"].state == mp.ORDER_STATE_PAID
    assert orders["beta"].state == mp.ORDER_STATE_FAILED and orders["beta"].problem == rc.RESULT_CODE_UNAVAILABLE
    assert market.balance(A, "buyer") == 50_000 - 2_000 and market.escrow(A) == 2_000
    market.start_node(B)  # Back up, it is told of the failed order (the fixture's check waits for it).


def test_refund__same_bank_is_a_book_transfer_and_never_above_paid(market):
    accounts = shop(market)
    order = by_merchant(market.checkout(A, "buyer", [(A, "alpha", "kettle", 1, 2_000)]))["alpha"]
    market.market(A).ShipOrder(mp.ShipOrderRequest(merchant_id="alpha", order_id=order.order_id))
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_SHIPPED)
    market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id="buyer", order_id=order.order_id))
    market.wait_seller_state(A, "alpha", order.order_id, mp.ORDER_STATE_COMPLETED)
    assert market.balance(A, accounts["alpha"]) == 2_000
    for amount, code in ((1_500, rc.RESULT_CODE_OK), (600, rc.RESULT_CODE_REFUND_EXCEEDS_PAID),
                         (500, rc.RESULT_CODE_OK), (1, rc.RESULT_CODE_REFUND_EXCEEDS_PAID)):
        response = market.market(A).RefundOrder(mp.RefundOrderRequest(
            refund_id=str(uuid.uuid4()), merchant_id="alpha", order_id=order.order_id, amount=eur(amount)))
        assert response.result == code, (amount, response)
    assert market.balance(A, accounts["alpha"]) == 0 and market.balance(A, "buyer") == 50_000
    refunded = wait_until(lambda: (o := market.buyer_order(A, "buyer", order.order_id)).refunded.amount_minor == 2_000 and o)
    assert refunded.state == mp.ORDER_STATE_REFUNDED
    market.assert_invariants()
