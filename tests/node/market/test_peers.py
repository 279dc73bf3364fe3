"""MarketplacePeerService as other banks call it: PlaceOrder idempotency and refusals,
identity by certificate for order events."""
from __future__ import annotations

import uuid

import grpc
import pytest

from fedmall import tls
from fedmall.pki import Identity
from fedmall.v1 import marketplace_pb2 as mp, marketplace_pb2_grpc, money_pb2
from fedmall.v1 import result_pb2 as rc

from node.market import escrow_proofs
from node.market.orders import derived_id

from tests.node.market.world import database_url, eur, market  # noqa: F401
from tests.support.federation import wait_until
from tests.support.ids import uuid_of

A, B, C = "bank-a", "bank-b", "bank-c"


def peer(market, caller: str, callee: str) -> marketplace_pb2_grpc.MarketplacePeerServiceStub:
    """callee's MarketplacePeerService, called with caller's certificate."""
    channel = tls.secure_channel(f"127.0.0.1:{market.world.banks[callee].node_port}", market.world.banks[caller].tls,
                                 server=Identity(callee, "bank"))
    market.world._channels.append(channel)
    return marketplace_pb2_grpc.MarketplacePeerServiceStub(channel)


def order_of(buyer_bank: str, checkout_id: str, merchant_id: str = "beta") -> str:
    """The order id the buyer's bank derives for its checkout's order at merchant_id (at bank b)."""
    return derived_id(buyer_bank, checkout_id, B, merchant_id)


def place(market, caller: str, *, checkout_id: str, order_id: str | None = None, sku: str = "mug", quantity: int = 1,
          price_minor: int = 500, currency: str = "EUR", merchant_id: str = "beta") -> mp.PlaceOrderResponse:
    """caller's PlaceOrder at bank b, with caller's signed escrow statement for it; the order id is
    the one caller derives unless given."""
    price = money_pb2.Money(amount_minor=price_minor, currency=currency)
    order_id = order_id or order_of(caller, checkout_id, merchant_id)
    statement = market.world.banks[caller].signing_key.sign(escrow_proofs.statement_of(
        order_id=order_id, buyer_bank_id=caller, seller_bank_id=B, merchant_id=merchant_id,
        amount_minor=price_minor * quantity, currency=currency, escrowed_at_unix_ms=1))
    return peer(market, caller, B).PlaceOrder(mp.PlaceOrderRequest(
        order_id=order_id, checkout_id=checkout_id, buyer_account_id="buyer", merchant_id=merchant_id,
        items=[mp.OrderItem(sku=sku, quantity=quantity, unit_price=price)],
        total=money_pb2.Money(amount_minor=price_minor * quantity, currency=currency), escrow_statement=statement))


@pytest.fixture
def seller(market):
    settle = market.merchant(B, "beta")
    market.product(B, "beta", "mug", title="Mug", price_minor=500, stock=3)
    return settle


def test_place_order__same_order_again_is_exists_other_content_modified(market, seller):
    stub = peer(market, A, B)
    first = place(market, A, checkout_id=uuid_of("c-1"), quantity=2)
    assert first.result == rc.RESULT_CODE_OK and first.settlement_account_id == seller
    assert place(market, A, checkout_id=uuid_of("c-1"), quantity=2).result == rc.RESULT_CODE_EXISTS
    assert place(market, A, checkout_id=uuid_of("c-1"), quantity=1).result == rc.RESULT_CODE_MODIFIED_REQUEST
    assert market.products(B, "beta")["mug"].stock_available == 1


def test_place_order__an_order_id_another_buyer_bank_placed_is_forbidden(market, seller):
    assert place(market, A, checkout_id=uuid_of("c-1"), quantity=2).result == rc.RESULT_CODE_OK
    # Same content or other: bank c cannot take, replay or read back bank a's order.
    for quantity in (2, 1):
        refused = place(market, C, checkout_id=uuid_of("c-1"), order_id=order_of(A, uuid_of("c-1")), quantity=quantity)
        assert (refused.result, refused.settlement_account_id) == (rc.RESULT_CODE_FORBIDDEN, "")
    assert market.seller_order(B, "beta", order_of(A, uuid_of("c-1"))).buyer_bank_id == A
    assert market.products(B, "beta")["mug"].stock_available == 1


def test_place_order__no_bank_can_take_another_banks_order_id_first(market, seller):
    """Order ids are derived from the buyer's bank: bank c cannot squat the id bank a will use."""
    market.open_account(A, "buyer", deposit_minor=5_000)
    checkout_id = str(uuid.uuid4())
    squatted = place(market, C, checkout_id=checkout_id, order_id=order_of(A, checkout_id))
    assert squatted.result == rc.RESULT_CODE_FORBIDDEN
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 1, 500)], checkout_id=checkout_id).orders[0]
    assert (order.order_id, order.state) == (order_of(A, checkout_id), mp.ORDER_STATE_PAID)
    assert market.products(B, "beta")["mug"].stock_available == 2


@pytest.mark.parametrize("kwargs, code", [
    (dict(sku="teapot"), rc.RESULT_CODE_PRODUCT_UNKNOWN),
    (dict(price_minor=400), rc.RESULT_CODE_PRICE_CHANGED),
    (dict(quantity=4), rc.RESULT_CODE_INSUFFICIENT_STOCK),
    (dict(currency="JPY"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
    (dict(merchant_id="ghost"), rc.RESULT_CODE_MERCHANT_UNKNOWN),
    (dict(quantity=0), rc.RESULT_CODE_INVALID_FIELD),
])
def test_place_order__each_refusal_reserves_nothing(market, seller, kwargs, code):
    assert place(market, A, checkout_id=str(uuid.uuid4()), **kwargs).result == code
    assert market.products(B, "beta")["mug"].stock_available == 3


def test_place_order__suspended_merchant_is_refused(market, seller):
    market.market(B).SetMerchantStatus(mp.SetMerchantStatusRequest(merchant_id="beta",
                                                                   status=mp.MERCHANT_STATUS_SUSPENDED))
    assert place(market, A, checkout_id=uuid_of("c-2")).result == rc.RESULT_CODE_MERCHANT_SUSPENDED


def test_notify__only_the_orders_counterparty_bank_may_send_events(market, seller):
    market.open_account(A, "buyer", deposit_minor=5_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 1, 500)]).orders[0]
    assert order.state == mp.ORDER_STATE_PAID
    # Bank c is party to nothing: it can neither ship at the buyer's bank nor cancel at the seller's.
    shipped = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order.order_id,
                                         kind=mp.ORDER_EVENT_KIND_SHIPPED, tracking_reference="FAKE")
    assert peer(market, C, A).NotifyOrderEvent(shipped).result == rc.RESULT_CODE_FORBIDDEN
    cancelled = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order.order_id,
                                           kind=mp.ORDER_EVENT_KIND_CANCELLED)
    assert peer(market, C, B).NotifyOrderEvent(cancelled).result == rc.RESULT_CODE_FORBIDDEN
    # The buyer's bank cannot pretend to be the seller, nor refund itself.
    assert peer(market, A, A).NotifyOrderEvent(shipped).result == rc.RESULT_CODE_FORBIDDEN
    refunded = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order.order_id,
                                          kind=mp.ORDER_EVENT_KIND_REFUNDED, amount=eur(500))
    assert peer(market, A, A).NotifyOrderEvent(refunded).result == rc.RESULT_CODE_FORBIDDEN
    unknown = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=uuid_of("nope"),
                                         kind=mp.ORDER_EVENT_KIND_SHIPPED)
    assert peer(market, B, A).NotifyOrderEvent(unknown).result == rc.RESULT_CODE_ORDER_UNKNOWN
    assert market.buyer_order(A, "buyer", order.order_id).state == mp.ORDER_STATE_PAID
    assert market.seller_order(B, "beta", order.order_id).state == mp.ORDER_STATE_PAID
    # A refund event before completion, from the right bank, is refused and changes nothing.
    assert peer(market, B, A).NotifyOrderEvent(refunded).result == rc.RESULT_CODE_ORDER_STATE_INVALID
    market.assert_books()


def test_ship__twice_with_same_tracking_is_exists_stock_taken_once(market, seller):
    market.open_account(A, "buyer", deposit_minor=5_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 2, 500)]).orders[0]
    request = mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id, tracking_reference="T1")
    assert market.market(B).ShipOrder(request).result == rc.RESULT_CODE_OK
    assert market.market(B).ShipOrder(request).result == rc.RESULT_CODE_EXISTS
    other = mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id, tracking_reference="T2")
    assert market.market(B).ShipOrder(other).result == rc.RESULT_CODE_ORDER_STATE_INVALID
    products = market.products(B, "beta")
    assert products["mug"].stock_available == 1
    refund = mp.RefundOrderRequest(refund_id=str(uuid.uuid4()), merchant_id="beta", order_id=order.order_id,
                                   amount=eur(100))
    assert market.market(B).RefundOrder(refund).result == rc.RESULT_CODE_ORDER_STATE_INVALID  # Not completed yet.


def test_place_order__after_a_cancel_that_overtook_it_is_refused_nothing_reserved(market, seller):
    stub = peer(market, A, B)
    cancelled = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order_of(A, uuid_of("c-late")),
                                           kind=mp.ORDER_EVENT_KIND_CANCELLED)
    assert stub.NotifyOrderEvent(cancelled).result == rc.RESULT_CODE_OK
    assert stub.NotifyOrderEvent(cancelled).result == rc.RESULT_CODE_EXISTS
    late = place(market, A, checkout_id=uuid_of("c-late"), quantity=2)
    assert late.result == rc.RESULT_CODE_ORDER_STATE_INVALID
    assert market.products(B, "beta")["mug"].stock_available == 3
    # The tombstone is the cancelling bank's own: another bank's checkout of that name is not blocked.
    assert place(market, C, checkout_id=uuid_of("c-late"), quantity=1).result == rc.RESULT_CODE_OK


def test_notify__a_refund_claimed_with_a_transfer_that_never_came_is_not_believed(market, seller):
    market.open_account(A, "buyer", deposit_minor=50_000)
    order = market.checkout(A, "buyer", [(B, "beta", "mug", 2, 500)]).orders[0]
    market.market(B).ShipOrder(mp.ShipOrderRequest(merchant_id="beta", order_id=order.order_id, tracking_reference="T"))
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_SHIPPED)
    market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id="buyer", order_id=order.order_id))
    market.wait_buyer_state(A, "buyer", order.order_id, mp.ORDER_STATE_COMPLETED)

    claimed = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order.order_id,
                                         kind=mp.ORDER_EVENT_KIND_REFUNDED, amount=eur(500),
                                         transfer_id=str(uuid.uuid4()))
    assert peer(market, B, A).NotifyOrderEvent(claimed).result == rc.RESULT_CODE_REFUND_NOT_PAID
    assert market.buyer_order(A, "buyer", order.order_id).state == mp.ORDER_STATE_COMPLETED
    assert market.buyer_order(A, "buyer", order.order_id).refunded.amount_minor == 0


def test_suspended_member__cannot_place_notify_or_search(market, seller):
    market.world.clearing.registry.set_status(A, "suspended")
    # The seller's node reads the registry again within registry_refresh_ms_min.
    wait_until(lambda: place(market, A, checkout_id=uuid_of("c-s")).result == rc.RESULT_CODE_PARTICIPANT_SUSPENDED)
    event = mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order_of(A, uuid_of("c-s")),
                                       kind=mp.ORDER_EVENT_KIND_CANCELLED)
    assert peer(market, A, B).NotifyOrderEvent(event).result == rc.RESULT_CODE_PARTICIPANT_SUSPENDED
    with pytest.raises(grpc.RpcError) as refused:
        peer(market, A, B).SearchCatalogue(mp.SearchCatalogueRequest(query="mug"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert market.products(B, "beta")["mug"].stock_available == 3
    # A member in good standing is served as before.
    assert place(market, C, checkout_id=uuid_of("c-c")).result == rc.RESULT_CODE_OK
    assert [p.sku for p in peer(market, C, B).SearchCatalogue(mp.SearchCatalogueRequest(query="mug")).products] == [
        "mug"]
    # Reinstated: served again.
    market.world.clearing.registry.set_status(A, "active")
    wait_until(lambda: place(market, A, checkout_id=uuid_of("c-s")).result == rc.RESULT_CODE_OK)
