"""A hostile member cannot hurt the others through the marketplace (class 3: the marketplace
trusted the other bank's word). Real clearing, three real nodes over mTLS; the hostile bank
calls the others' MarketplacePeerService itself, with its own certificate and signing key, and
moves real money through its own node where it needs to.

    a seller's bank that claims refunds       names an unrelated payment; names one refund twice;
                                              refunds more than was paid
    a buyer's bank that reserves stock        with no escrow statement, a forged one, or one for
                                              another amount, merchant or bank; past its bound;
                                              and reservations expire unshipped
    a buyer's bank that claims completion     without the release transfer

Each refusal is typed, and every table it could have touched is the same before and after:
orders on both sides, stock, escrow, counted refunds and every ledger balance of every bank.
"""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from fedmall import pki, tls
from fedmall.envelope import SigningKey
from fedmall.v1 import marketplace_pb2 as mp, marketplace_pb2_grpc, money_pb2, node_pb2
from fedmall.v1 import result_pb2 as rc

from node.bank import store as bank_store
from node.market import escrow_proofs, store as tables
from node.market.orders import derived_id, refund_reference, release_reference
from tests.node.market.world import database_url, eur, market, world_market  # noqa: F401
from tests.support.federation import CURRENCY, wait_until

A, B, C = "bank-a", "bank-b", "bank-c"   # The buyer's bank, the seller's bank, a third member.
BUYER, MERCHANT, SKU, PRICE = "ana", "beta", "mug", 500


def provision(market) -> str:
    """Ana at A with 100.00; merchant beta at B selling 5 mugs at 5.00, and gamma selling bowls.
    Mallory, a customer at A and at B, with money either bank can move. Beta's settlement account."""
    market.open_account(A, BUYER, deposit_minor=10_000)
    settle = market.merchant(B, MERCHANT)
    market.merchant(B, "gamma")
    market.product(B, MERCHANT, SKU, title="Mug", price_minor=PRICE, stock=5)
    market.product(B, "gamma", "bowl", title="Bowl", price_minor=PRICE, stock=5)
    market.open_account(B, "mallory", deposit_minor=50_000)
    market.open_account(A, "mallory", deposit_minor=50_000)
    return settle


def hostile(market, bank_id: str, target: str) -> marketplace_pb2_grpc.MarketplacePeerServiceStub:
    """target's MarketplacePeerService, called by bank_id's node with its own certificate."""
    channel = tls.secure_channel(f"127.0.0.1:{market.world.banks[target].node_port}", market.world.banks[bank_id].tls,
                                 server=pki.Identity(target, "bank"))
    market.world._channels.append(channel)
    return marketplace_pb2_grpc.MarketplacePeerServiceStub(channel)


def buy(market, quantity: int = 2) -> str:
    order = market.checkout(A, BUYER, [(B, MERCHANT, SKU, quantity, PRICE)]).orders[0]
    assert order.state == mp.ORDER_STATE_PAID, order
    return order.order_id


def ship(market, order_id: str) -> None:
    assert market.market(B).ShipOrder(mp.ShipOrderRequest(
        merchant_id=MERCHANT, order_id=order_id, tracking_reference="TRK")).result == rc.RESULT_CODE_OK
    market.wait_buyer_state(A, BUYER, order_id, mp.ORDER_STATE_SHIPPED)


def completed(market, quantity: int = 2) -> str:
    """An order of quantity mugs, shipped, received and paid: COMPLETED at both banks."""
    order_id = buy(market, quantity)
    ship(market, order_id)
    assert market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(
        buyer_account_id=BUYER, order_id=order_id)).result == rc.RESULT_CODE_OK
    market.wait_buyer_state(A, BUYER, order_id, mp.ORDER_STATE_COMPLETED)
    market.wait_seller_state(B, MERCHANT, order_id, mp.ORDER_STATE_COMPLETED)
    return order_id


def pay(market, payer: str, from_account: str, payee: str, to_account: str, amount_minor: int, *,
        reference: str) -> str:
    """A real interbank transfer the payer's node sends, committed at both banks; its id."""
    transfer_id = str(uuid.uuid4())
    response = market.teller(payer).SendTransfer(node_pb2.SendTransferRequest(
        transfer_id=transfer_id, from_account_id=from_account, payee_bank_id=payee, payee_account_id=to_account,
        amount=money_pb2.Money(amount_minor=amount_minor, currency=CURRENCY), reference=reference))
    assert response.result == rc.RESULT_CODE_OK, response
    assert market.wait_final(payer, transfer_id).status == "COMMITTED"
    wait_until(lambda: incoming_status(market, payee, transfer_id) == "COMMITTED")
    return transfer_id


def incoming_status(market, bank_id: str, transfer_id: str) -> str | None:
    incoming = bank_store.incoming_transfers
    with market.nodes[bank_id].engine.connect() as connection:
        return connection.scalar(sa.select(incoming.c.status).where(incoming.c.transfer_id == transfer_id))


def books(market) -> dict:
    """Everything a marketplace claim could move, at every bank (no timestamps)."""
    seen = {}
    for bank_id, node in market.nodes.items():
        accounts, products = bank_store.accounts, tables.products
        seller, buyer, refunds = tables.seller_orders, tables.buyer_orders, tables.buyer_refunds
        with node.engine.connect() as connection:
            seen[bank_id] = dict(
                balances=connection.execute(sa.select(accounts.c.account_id, accounts.c.balance_minor)
                                            .order_by(accounts.c.account_id)).all(),
                stock=connection.execute(sa.select(products.c.merchant_id, products.c.sku, products.c.stock_on_hand,
                                                   products.c.stock_reserved).order_by(products.c.sku)).all(),
                seller_orders=connection.execute(sa.select(
                    seller.c.order_id, seller.c.buyer_bank_id, seller.c.state, seller.c.refunded_minor, seller.c.units,
                    seller.c.payment_transfer_id).order_by(seller.c.order_id)).all(),
                buyer_orders=connection.execute(sa.select(
                    buyer.c.order_id, buyer.c.state, buyer.c.refunded_minor, buyer.c.problem)
                    .order_by(buyer.c.order_id)).all(),
                counted_refunds=connection.execute(sa.select(refunds).order_by(refunds.c.transfer_id)).all())
    return seen


def refund_claim(order_id: str, transfer_id: str, amount_minor: int, *, event_id: str | None = None
                 ) -> mp.NotifyOrderEventRequest:
    return mp.NotifyOrderEventRequest(event_id=event_id or str(uuid.uuid4()), order_id=order_id,
                                      kind=mp.ORDER_EVENT_KIND_REFUNDED, amount=eur(amount_minor),
                                      transfer_id=transfer_id)


def refused_and_nothing_moved(market, call, code: int) -> None:
    before = books(market)
    assert call().result == code
    assert books(market) == before
    market.assert_books()


# A seller's bank that claims refunds --------------------------------------------------------------

def test_refund__citing_an_unrelated_payment_or_none_is_refused_and_changes_nothing(market):
    provision(market)
    order_id = completed(market)                         # Ana paid 10.00.
    other_id = completed(market, quantity=1)             # And 5.00 for another order.
    notify = hostile(market, B, A).NotifyOrderEvent
    # Bank b's customer pays Ana 10.00 for something else; bank b calls it the refund.
    rent = pay(market, B, "mallory", A, BUYER, 1_000, reference="rent for May")
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, rent, 1_000)),
                              rc.RESULT_CODE_REFUND_NOT_PAID)
    # A transfer that never came, and none at all.
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, str(uuid.uuid4()), 1_000)),
                              rc.RESULT_CODE_REFUND_NOT_PAID)
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, "", 1_000)), rc.RESULT_CODE_REFUND_NOT_PAID)
    # A real refund of the other order, cited for this one; and a payment to someone else.
    refund = pay(market, B, "mallory", A, BUYER, 500, reference=refund_reference(other_id))
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, refund, 500)),
                              rc.RESULT_CODE_REFUND_NOT_PAID)
    elsewhere = pay(market, B, "mallory", A, "mallory", 500, reference=refund_reference(order_id))
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, elsewhere, 500)),
                              rc.RESULT_CODE_REFUND_NOT_PAID)
    assert market.buyer_order(A, BUYER, order_id).refunded.amount_minor == 0


def test_refund__the_same_refund_twice_counts_once(market):
    provision(market)
    order_id = completed(market)
    assert market.market(B).RefundOrder(mp.RefundOrderRequest(
        refund_id=str(uuid.uuid4()), merchant_id=MERCHANT, order_id=order_id, amount=eur(300),
        reason="chipped")).result == rc.RESULT_CODE_OK
    assert market.wait_buyer_state(A, BUYER, order_id, mp.ORDER_STATE_REFUNDED).refunded.amount_minor == 300
    [counted] = books(market)[A]["counted_refunds"]
    notify = hostile(market, B, A).NotifyOrderEvent
    # The same transfer under a new event id: refused. The same event again: a harmless repeat.
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, counted.transfer_id, 300)),
                              rc.RESULT_CODE_TRANSFER_ALREADY_COUNTED)
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, counted.transfer_id, 300,
                                                                  event_id=counted.event_id)),
                              rc.RESULT_CODE_EXISTS)
    assert market.buyer_order(A, BUYER, order_id).refunded.amount_minor == 300


def test_refund__above_what_was_paid_is_refused_even_with_real_money(market):
    provision(market)
    order_id = completed(market)                         # 10.00 paid.
    notify = hostile(market, B, A).NotifyOrderEvent
    first = pay(market, B, "mallory", A, BUYER, 600, reference=refund_reference(order_id))
    assert notify(refund_claim(order_id, first, 600)).result == rc.RESULT_CODE_OK   # Real money: counted.
    second = pay(market, B, "mallory", A, BUYER, 600, reference=refund_reference(order_id))
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, second, 600)),
                              rc.RESULT_CODE_REFUND_EXCEEDS_PAID)
    # A claim for more than the transfer carried is refused too.
    refused_and_nothing_moved(market, lambda: notify(refund_claim(order_id, second, 400)),
                              rc.RESULT_CODE_REFUND_NOT_PAID)
    order = market.buyer_order(A, BUYER, order_id)
    assert (order.state, order.refunded.amount_minor) == (mp.ORDER_STATE_REFUNDED, 600)


# A buyer's bank that reserves stock ------------------------------------------------------------------

def place(market, caller: str, *, quantity: int = 2, signer: SigningKey | None = None, statement: bool = True,
          **claims) -> mp.PlaceOrderResponse:
    """caller's PlaceOrder at B for quantity of beta's mugs, with a statement signed by signer
    (caller's own key by default) that says what claims change."""
    checkout_id = str(uuid.uuid4())
    order_id = derived_id(caller, checkout_id, B, MERCHANT)
    request = mp.PlaceOrderRequest(
        order_id=order_id, checkout_id=checkout_id, buyer_account_id="mallory", merchant_id=MERCHANT,
        items=[mp.OrderItem(sku=SKU, quantity=quantity, unit_price=eur(PRICE))], total=eur(PRICE * quantity))
    if statement:
        entry = claims.pop("escrow_entry_id", None)
        proof = escrow_proofs.statement_of(**dict(
            order_id=order_id, buyer_bank_id=caller, seller_bank_id=B, merchant_id=MERCHANT,
            amount_minor=PRICE * quantity, currency=CURRENCY, escrowed_at_unix_ms=1) | claims)
        if entry is not None:
            proof.escrow_entry_id = entry
        request.escrow_statement.CopyFrom((signer or market.world.banks[caller].signing_key).sign(proof))
    return hostile(market, caller, B).PlaceOrder(request)


@pytest.mark.parametrize("attempt, code", [
    (dict(statement=False), rc.RESULT_CODE_ESCROW_NOT_PROVED),
    # Forged: a key that is not bank c's registered one, under its key id; or bank a's statement.
    (dict(signer="forged"), rc.RESULT_CODE_INVALID_SIGNATURE),
    (dict(signer=A), rc.RESULT_CODE_SIGNER_NOT_PEER),
    # Bank c's own signature, on a statement for something else.
    (dict(amount_minor=PRICE), rc.RESULT_CODE_ESCROW_NOT_PROVED),              # Escrow for one mug, two ordered.
    (dict(merchant_id="gamma"), rc.RESULT_CODE_ESCROW_NOT_PROVED),             # Another merchant.
    (dict(buyer_bank_id=A), rc.RESULT_CODE_ESCROW_NOT_PROVED),                 # Another bank's escrow.
    (dict(seller_bank_id=C), rc.RESULT_CODE_ESCROW_NOT_PROVED),                # Made for another seller.
    (dict(escrow_entry_id="escrow:elsewhere"), rc.RESULT_CODE_ESCROW_NOT_PROVED),
])
def test_place_order__without_a_proof_of_this_orders_escrow_reserves_nothing(market, attempt, code):
    provision(market)
    attempt = dict(attempt)
    if attempt.get("signer") == "forged":
        attempt["signer"] = pki.new_signing_key(market.world.banks[C].signing_key.key_id)
    elif "signer" in attempt:
        attempt["signer"] = market.world.banks[attempt["signer"]].signing_key
    refused_and_nothing_moved(market, lambda: place(market, C, **attempt), code)
    assert market.products(B, MERCHANT)[SKU].stock_available == 5


def test_reservations__past_the_buyer_banks_bound_are_refused(world_market):
    market = world_market(reservations_per_buyer_bank_max=2)
    provision(market)
    # Bank c signs its own word that it holds escrow (it holds none): that reserves, but only so much.
    assert [place(market, C, quantity=1).result for _ in range(2)] == [rc.RESULT_CODE_OK] * 2
    refused_and_nothing_moved(market, lambda: place(market, C, quantity=1), rc.RESULT_CODE_RESERVATION_LIMIT_REACHED)
    assert market.products(B, MERCHANT)[SKU].stock_available == 3
    # Other banks' buyers are not held up by it.
    assert buy(market, quantity=2)
    assert market.products(B, MERCHANT)[SKU].stock_available == 1


def test_reservations__not_shipped_in_time_expire_and_free_the_stock(world_market):
    market = world_market(reservation_hold_s=1)
    provision(market)
    squatted = place(market, C, quantity=3)               # Bank c's, with no money behind it.
    assert squatted.result == rc.RESULT_CODE_OK
    order_id = buy(market, quantity=2)                    # Ana's, honest, never shipped.
    assert market.products(B, MERCHANT)[SKU].stock_available == 0
    assert (market.balance(A, BUYER), market.escrow(A)) == (9_000, 1_000)
    wait_until(lambda: market.products(B, MERCHANT)[SKU].stock_available == 5, timeout_s=15)
    order = market.wait_buyer_state(A, BUYER, order_id, mp.ORDER_STATE_CANCELLED)
    assert order.problem == rc.RESULT_CODE_RESERVATION_EXPIRED
    assert market.seller_order(B, MERCHANT, order_id).state == mp.ORDER_STATE_CANCELLED
    assert (market.balance(A, BUYER), market.escrow(A)) == (10_000, 0)
    assert market.market(B).ShipOrder(mp.ShipOrderRequest(
        merchant_id=MERCHANT, order_id=order_id, tracking_reference="late")).result == \
        rc.RESULT_CODE_ORDER_STATE_INVALID


# A buyer's bank that claims completion ----------------------------------------------------------------

def test_completion__without_the_release_leaves_the_order_shipped_then_the_money_completes_it(market):
    settle = provision(market)
    order_id = buy(market)
    ship(market, order_id)
    notify = hostile(market, A, B).NotifyOrderEvent

    def completed_claim(transfer_id: str = "") -> mp.NotifyOrderEventRequest:
        return mp.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=order_id,
                                          kind=mp.ORDER_EVENT_KIND_COMPLETED, transfer_id=transfer_id,
                                          amount=eur(1_000))

    refused_and_nothing_moved(market, lambda: notify(completed_claim()), rc.RESULT_CODE_ORDER_NOT_PAID)
    refused_and_nothing_moved(market, lambda: notify(completed_claim(derived_id(order_id, "release", "1"))),
                              rc.RESULT_CODE_ORDER_NOT_PAID)      # The release it never sent.
    # Real money to the merchant, but not this order's release (a customer's payment), or too little.
    unrelated = pay(market, A, "mallory", B, settle, 1_000, reference="invoice 17")
    refused_and_nothing_moved(market, lambda: notify(completed_claim(unrelated)), rc.RESULT_CODE_ORDER_NOT_PAID)
    short = pay(market, A, "mallory", B, settle, 999, reference=release_reference(order_id))
    refused_and_nothing_moved(market, lambda: notify(completed_claim(short)), rc.RESULT_CODE_ORDER_NOT_PAID)
    assert market.seller_order(B, MERCHANT, order_id).state == mp.ORDER_STATE_SHIPPED
    # The buyer confirms: the escrow is released, and the money completes the order at the seller.
    market.market(A).ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id=BUYER, order_id=order_id))
    release = market.wait_buyer_state(A, BUYER, order_id, mp.ORDER_STATE_COMPLETED).release_transfer_id
    market.wait_seller_state(B, MERCHANT, order_id, mp.ORDER_STATE_COMPLETED)
    assert [row.payment_transfer_id for row in books(market)[B]["seller_orders"]] == [release]
    assert market.escrow(A) == 0
