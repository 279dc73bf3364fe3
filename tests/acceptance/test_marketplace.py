"""The marketplace end to end, in the style of Mojaloop's golden path: a buyer at bank A
buys from merchants at banks A, B and C in one cart, through every order state, a
cancellation and a refund, with stock, escrow, ledger and clearing positions asserted at
each step. Real clearing, three real nodes, mTLS on loopback."""
from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa
from lxml import etree

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import money_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import exports
from clearing.store import transfers
from tests.support.federation import CURRENCY, close_and_issue, wait_until

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
PACS004 = {"r": "urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"}
PACS008 = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"}

BUYER = "ana"
CATALOGUE = {  # bank -> (merchant, sku, title, unit price, stock)
    "bank-a": ("tea-house", "tea-1", "Green tea, kitchen tin", 500, 10),
    "bank-b": ("mug-works", "mug-1", "Stoneware mug for the kitchen", 1_200, 5),
    "bank-c": ("pot-shop", "pot-1", "Cast iron kitchen pot", 3_000, 3),
}


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=CURRENCY)


def provision(federation) -> None:
    federation.open_account("bank-a", BUYER, deposit_minor=100_000)
    for bank_id, (merchant, sku, title, price, stock) in CATALOGUE.items():
        federation.open_account(bank_id, f"{merchant}-settle")
        market = federation.market(bank_id)
        assert market.OnboardMerchant(mp.OnboardMerchantRequest(
            merchant_id=merchant, legal_name=merchant.title(), contact=f"{merchant}@example.test",
            settlement_account_id=f"{merchant}-settle")).result == rc.RESULT_CODE_OK
        assert market.UpsertProduct(mp.UpsertProductRequest(
            merchant_id=merchant, sku=sku, title=title, description="for the kitchen", price=eur(price),
            stock=stock)).result == rc.RESULT_CODE_OK


def available(federation, bank_id: str) -> int:
    merchant, sku, *_ = CATALOGUE[bank_id]
    response = federation.market(bank_id).ListMerchantProducts(mp.ListMerchantProductsRequest(merchant_id=merchant))
    return next(p.stock_available for p in response.products if p.sku == sku)


def buyer_order(federation, order_id: str) -> mp.Order:
    response = federation.market("bank-a").GetOrder(mp.GetOrderRequest(order_id=order_id, buyer_account_id=BUYER))
    assert response.result == rc.RESULT_CODE_OK
    return response.order


def wait_state(federation, order_id: str, state: int) -> mp.Order:
    return wait_until(lambda: (o := buyer_order(federation, order_id)).state == state and o, timeout_s=20)


def assert_refund_is_a_return_of_the_release(federation, release_id: str, tmp_path: Path) -> None:
    """At the clearing the refund names the release it returns; the release names the buyer as its
    debtor (not the escrow account its money left), the refund the merchant; the window's export
    has the release as a pacs.008 and the refund as a pacs.004 of it, both valid."""
    store = federation.world.clearing.store
    with store.read() as connection:
        rows = connection.execute(sa.select(transfers.c.transfer_id, transfers.c.original_transfer_id,
                                            transfers.c.prepare_bytes)).all()
    prepares = {row.transfer_id: transfer_pb2.Prepare.FromString(row.prepare_bytes) for row in rows}
    [refund] = [p for p in prepares.values() if p.original_transfer_id == release_id]
    release = prepares[release_id]
    assert (release.debtor_account, release.payee_account) == (BUYER, "mug-works-settle")
    assert (refund.debtor_account, refund.payee_account) == ("mug-works-settle", BUYER)
    assert release.uetr != refund.uetr and all(p.uetr for p in prepares.values())
    window_id = close_and_issue(federation.world.clearing.windows)
    exports.export_window(store, window_id, tmp_path / "exports", created_at_ms=1)
    returned = etree.parse(str(tmp_path / "exports" / f"pacs004-{refund.transfer_id}.xml"))
    etree.XMLSchema(etree.parse(str(SCHEMAS / "pacs.004.001.09.xsd"))).assertValid(returned)
    assert returned.findtext("r:PmtRtr/r:TxInf/r:OrgnlUETR", namespaces=PACS004) == release.uetr
    paid = etree.parse(str(tmp_path / "exports" / f"pacs008-{release_id}.xml"))
    etree.XMLSchema(etree.parse(str(SCHEMAS / "pacs.008.001.08.xsd"))).assertValid(paid)
    assert paid.findtext("p:FIToFICstmrCdtTrf/p:CdtTrfTxInf/p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=PACS008) == BUYER


def test_a_buyer_at_bank_a_buys_from_merchants_at_a_b_and_c_in_one_cart(federation, tmp_path):
    provision(federation)

    # Search the federation: every bank's kitchen things, ranked, from bank A.
    found = federation.market("bank-a").Search(mp.SearchRequest(query="kitchen", page_size=10))
    assert {p.bank_id for p in found.products} == {"bank-a", "bank-b", "bank-c"}
    assert list(found.banks_not_answering) == []
    by_bank = {p.bank_id: p for p in found.products}

    # Checkout: 2 teas at A, 1 mug at B, 1 pot at C -> one order per merchant, money in escrow.
    items = [mp.CartItem(seller_bank_id=b, merchant_id=by_bank[b].merchant_id, sku=by_bank[b].sku, quantity=q,
                         unit_price=by_bank[b].price) for b, q in (("bank-a", 2), ("bank-b", 1), ("bank-c", 1))]
    checkout_id = str(uuid.uuid4())
    response = federation.market("bank-a").Checkout(mp.CheckoutRequest(
        checkout_id=checkout_id, buyer_account_id=BUYER, items=items))
    assert response.result == rc.RESULT_CODE_OK
    orders = {o.seller_bank_id: o for o in response.orders}
    assert {b: (o.state, o.total.amount_minor) for b, o in orders.items()} == {
        "bank-a": (mp.ORDER_STATE_PAID, 1_000), "bank-b": (mp.ORDER_STATE_PAID, 1_200),
        "bank-c": (mp.ORDER_STATE_PAID, 3_000)}
    assert federation.balance("bank-a", BUYER) == 100_000 - 5_200
    assert federation.internal("bank-a", "escrow") == 5_200
    assert [available(federation, b) for b in ("bank-a", "bank-b", "bank-c")] == [8, 4, 2]
    # The same checkout again is a safe retry.
    again = federation.market("bank-a").Checkout(mp.CheckoutRequest(
        checkout_id=checkout_id, buyer_account_id=BUYER, items=items))
    assert {o.order_id for o in again.orders} == {o.order_id for o in response.orders}
    assert federation.balance("bank-a", BUYER) == 100_000 - 5_200

    # Cancel the pot before it ships: stock back at C, escrow back to the buyer.
    pot = orders["bank-c"].order_id
    cancel = federation.market("bank-a").CancelOrder(mp.CancelOrderRequest(buyer_account_id=BUYER, order_id=pot))
    assert (cancel.result, cancel.order.state) == (rc.RESULT_CODE_OK, mp.ORDER_STATE_CANCELLED)
    assert federation.balance("bank-a", BUYER) == 100_000 - 2_200
    assert federation.internal("bank-a", "escrow") == 2_200
    assert available(federation, "bank-c") == 3
    double = federation.market("bank-a").CancelOrder(mp.CancelOrderRequest(buyer_account_id=BUYER, order_id=pot))
    assert double.result == rc.RESULT_CODE_ORDER_STATE_INVALID
    late_ship = federation.market("bank-c").ShipOrder(mp.ShipOrderRequest(
        merchant_id="pot-shop", order_id=pot, tracking_reference="TRK-0"))
    assert late_ship.result == rc.RESULT_CODE_ORDER_STATE_INVALID

    # The merchants ship; a merchant cannot ship another merchant's order.
    tea, mug = orders["bank-a"].order_id, orders["bank-b"].order_id
    assert federation.market("bank-c").ShipOrder(mp.ShipOrderRequest(
        merchant_id="pot-shop", order_id=mug, tracking_reference="X")).result == rc.RESULT_CODE_ORDER_UNKNOWN
    for bank_id, order_id, merchant in (("bank-a", tea, "tea-house"), ("bank-b", mug, "mug-works")):
        shipped = federation.market(bank_id).ShipOrder(mp.ShipOrderRequest(
            merchant_id=merchant, order_id=order_id, tracking_reference=f"TRK-{merchant}"))
        assert shipped.result == rc.RESULT_CODE_OK
        assert wait_state(federation, order_id, mp.ORDER_STATE_SHIPPED).tracking_reference == f"TRK-{merchant}"

    # Receipt of the tea: a book transfer inside bank A pays the merchant.
    confirmed = federation.market("bank-a").ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id=BUYER, order_id=tea))
    assert confirmed.result == rc.RESULT_CODE_OK
    wait_state(federation, tea, mp.ORDER_STATE_COMPLETED)
    assert federation.balance("bank-a", "tea-house-settle") == 1_000
    assert federation.internal("bank-a", "escrow") == 1_200
    assert federation.position("bank-a") == (0, 0)  # Nothing crossed banks.
    assert federation.market("bank-a").ConfirmReceipt(mp.ConfirmReceiptRequest(
        buyer_account_id=BUYER, order_id=tea)).result == rc.RESULT_CODE_ORDER_STATE_INVALID

    # Receipt of the mug: an interbank transfer through the clearing pays the merchant at B.
    federation.market("bank-a").ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id=BUYER, order_id=mug))
    completed = wait_state(federation, mug, mp.ORDER_STATE_COMPLETED)
    assert completed.release_transfer_id
    wait_until(lambda: federation.balance("bank-b", "mug-works-settle") == 1_200)
    assert federation.internal("bank-a", "escrow") == 0
    assert federation.position("bank-a") == (1_200, 0)
    assert federation.position("bank-b") == (-1_200, 0)

    # A partial refund of the mug, approved by the merchant once its bank heard of the completion:
    # a return transfer B -> A.
    def merchant_view():
        return federation.market("bank-b").GetOrder(mp.GetOrderRequest(order_id=mug, merchant_id="mug-works")).order

    wait_until(lambda: merchant_view().state == mp.ORDER_STATE_COMPLETED)
    too_much = federation.market("bank-b").RefundOrder(mp.RefundOrderRequest(
        refund_id=str(uuid.uuid4()), merchant_id="mug-works", order_id=mug, amount=eur(1_201)))
    assert too_much.result == rc.RESULT_CODE_REFUND_EXCEEDS_PAID
    refund = federation.market("bank-b").RefundOrder(mp.RefundOrderRequest(
        refund_id=str(uuid.uuid4()), merchant_id="mug-works", order_id=mug, amount=eur(500), reason="chipped"))
    assert refund.result == rc.RESULT_CODE_OK
    refunded = wait_state(federation, mug, mp.ORDER_STATE_REFUNDED)
    assert refunded.refunded.amount_minor == 500
    wait_until(lambda: federation.balance("bank-a", BUYER) == 100_000 - 2_200 + 500)
    assert federation.balance("bank-b", "mug-works-settle") == 700
    assert federation.position("bank-a") == (700, 0)
    assert federation.position("bank-b") == (-700, 0)
    rest = federation.market("bank-b").RefundOrder(mp.RefundOrderRequest(
        refund_id=str(uuid.uuid4()), merchant_id="mug-works", order_id=mug, amount=eur(701)))
    assert rest.result == rc.RESULT_CODE_REFUND_EXCEEDS_PAID
    assert_refund_is_a_return_of_the_release(federation, completed.release_transfer_id, tmp_path)

    assert [available(federation, b) for b in ("bank-a", "bank-b", "bank-c")] == [8, 4, 3]
    federation.assert_invariants()


def test_checkout__a_seller_node_down_fails_only_its_order_and_holds_no_money(federation):
    provision(federation)
    found = federation.market("bank-a").Search(mp.SearchRequest(query="kitchen", page_size=10))
    by_bank = {p.bank_id: p for p in found.products}
    federation.stop_node("bank-c")
    items = [mp.CartItem(seller_bank_id=b, merchant_id=by_bank[b].merchant_id, sku=by_bank[b].sku, quantity=1,
                         unit_price=by_bank[b].price) for b in ("bank-b", "bank-c")]
    response = federation.market("bank-a").Checkout(mp.CheckoutRequest(
        checkout_id=str(uuid.uuid4()), buyer_account_id=BUYER, items=items))
    states = {o.seller_bank_id: (o.state, o.problem) for o in response.orders}
    assert states["bank-b"] == (mp.ORDER_STATE_PAID, rc.RESULT_CODE_OK)
    assert states["bank-c"] == (mp.ORDER_STATE_FAILED, rc.RESULT_CODE_UNAVAILABLE)
    assert federation.balance("bank-a", BUYER) == 100_000 - 1_200
    assert federation.internal("bank-a", "escrow") == 1_200

    partial = federation.market("bank-a").Search(mp.SearchRequest(query="kitchen", page_size=10))
    assert list(partial.banks_not_answering) == ["bank-c"]
    assert {p.bank_id for p in partial.products} == {"bank-a", "bank-b"}
    federation.start_node("bank-c")  # Back up, it is told of the failed order (the fixture's check waits for it).


def test_checkout__price_changed_or_too_little_stock_or_money_is_refused_with_nothing_held(federation):
    provision(federation)
    market = federation.market("bank-a")

    def checkout(bank_id: str, quantity: int, unit_price: int, buyer: str = BUYER) -> mp.CheckoutResponse:
        merchant, sku, *_ = CATALOGUE[bank_id]
        return market.Checkout(mp.CheckoutRequest(checkout_id=str(uuid.uuid4()), buyer_account_id=buyer, items=[
            mp.CartItem(seller_bank_id=bank_id, merchant_id=merchant, sku=sku, quantity=quantity,
                        unit_price=eur(unit_price))]))

    changed = checkout("bank-b", 1, 1_100)  # The mug costs 12.00 now.
    assert [(o.state, o.problem) for o in changed.orders] == [(mp.ORDER_STATE_FAILED, rc.RESULT_CODE_PRICE_CHANGED)]
    short = checkout("bank-c", 4, 3_000)  # Only 3 pots.
    assert [(o.state, o.problem) for o in short.orders] == [(mp.ORDER_STATE_FAILED, rc.RESULT_CODE_INSUFFICIENT_STOCK)]
    federation.open_account("bank-a", "poor", deposit_minor=100)
    broke = checkout("bank-b", 1, 1_200, buyer="poor")
    assert broke.result == rc.RESULT_CODE_INSUFFICIENT_FUNDS and not broke.orders
    assert federation.balance("bank-a", BUYER) == 100_000
    assert federation.internal("bank-a", "escrow") == 0
    assert [available(federation, b) for b in ("bank-a", "bank-b", "bank-c")] == [10, 5, 3]
    federation.assert_invariants()
