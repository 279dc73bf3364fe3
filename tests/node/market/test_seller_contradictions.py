"""Messages that contradict what the seller's bank recorded (late, repeated, reordered, from the
wrong party): the buyer's bank's CANCELLED and COMPLETED events, PlaceOrder, the merchant's
ship, decline and refund, and the commit of a refund's transfer. Each is refused with its
result code or answered EXISTS, and neither the order, the stock, the events owed to the
buyer's bank, the refunds nor any account moves. (The escrow is the buyer's bank's:
tests/node/market/test_contradictions.py.)"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger, store
from node.bank.transfers import SendOutcome
from node.market import order_events, store as tables
from node.market.merchants import MerchantService
from node.market.orders import Item, derived_id, items_to_json, release_reference
from node.market.seller_orders import PlaceOrder, SellerOrderService
from tests.node.books import balance, books_problems, node_engine, open_account  # noqa: F401
from tests.node.market.proofs import RULES, keys, proved, received
from tests.support.ids import uuid_of

SELLER, BUYER_BANK, OTHER_BANK = "bank-b", "bank-a", "bank-c"
SETTLE, BUYER = "settle-beta", "buyer"
CANCELLED, COMPLETED = order_events.CANCELLED, order_events.COMPLETED
PAID_MINOR = 1_000  # Every order: two mugs at 5.00.


def release_of(order_id: str) -> str:
    """The buyer bank's first release transfer of an order (node.market.buyer_orders)."""
    return derived_id(order_id, "release", "1")


class Transfers:
    """The refund transfer: OK, or the refusal set in `result`; nothing really leaves the bank."""

    def __init__(self) -> None:
        self.result = rc.RESULT_CODE_OK
        self.sent: list[str] = []

    def send_system(self, request, *, internal_source: bool) -> SendOutcome:
        self.sent.append(request.transfer_id)
        return SendOutcome(result=self.result, status="PENDING" if self.result == rc.RESULT_CODE_OK else "")


class Seller:
    """Bank b with merchants beta (a mug at 5.00, 5 in stock) and gamma, and a buyer of its own."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.transfers = Transfers()
        self.orders = SellerOrderService(engine, bank_id=SELLER, transfers=self.transfers, clock=lambda: 100.0,
                                         keys=keys, rules=RULES)
        open_account(engine, SETTLE, balance_minor=10_000)
        open_account(engine, "settle-gamma")
        open_account(engine, BUYER)
        merchants = MerchantService(engine, bank_id=SELLER, clock=lambda: 100.0)
        for merchant_id in ("beta", "gamma"):
            assert merchants.onboard(merchant_id=merchant_id, legal_name=merchant_id.title(),
                                     contact=f"{merchant_id}@example.com",
                                     settlement_account_id=f"settle-{merchant_id}") == rc.RESULT_CODE_OK
        assert merchants.upsert_product(merchant_id="beta", sku="mug", title="Mug", description="", price_minor=500,
                                        currency="EUR", stock=5) == rc.RESULT_CODE_OK

    def order(self, checkout_id: str = "c-1", *, buyer_bank: str = BUYER_BANK, quantity: int = 2,
              buyer_account: str = BUYER) -> PlaceOrder:
        checkout_id = uuid_of(checkout_id)
        return proved(PlaceOrder(order_id=derived_id(buyer_bank, checkout_id, SELLER, "beta"), checkout_id=checkout_id,
                                 buyer_account_id=buyer_account, merchant_id="beta",
                                 items=(Item(sku="mug", quantity=quantity, unit_price_minor=500),),
                                 total_minor=500 * quantity, currency="EUR"),
                      buyer_bank_id=buyer_bank, seller_bank_id=SELLER)

    def event(self, order_id: str, kind: int, *, sender: str = BUYER_BANK, event_id: str = "") -> int:
        """The buyer's bank's event; a COMPLETED one names the order's first release transfer."""
        return self.orders.apply_event(sender_bank_id=sender, event_id=uuid_of(event_id or f"{kind}-{order_id}"),
                                       order_id=order_id, kind=kind,
                                       transfer_id=release_of(order_id) if kind == COMPLETED and sender != SELLER
                                       else "")

    def pay(self, order_id: str, *, buyer_bank: str = BUYER_BANK) -> None:
        """The release reaches the merchant: a committed incoming transfer from another buyer bank, or
        the book entry release:<order> when the buyer banks here."""
        if buyer_bank != SELLER:
            received(self.engine, transfer_id=release_of(order_id), payer_bank_id=buyer_bank, payee_account_id=SETTLE,
                     amount_minor=PAID_MINOR, reference=release_reference(order_id))
            return
        with self.engine.begin() as connection:
            store.write_entries(connection, [ledger.move(
                f"release:{order_id}", "release", source=ledger.internal_account_id(ledger.ESCROW, "EUR"),
                destination=SETTLE, amount_minor=PAID_MINOR, currency="EUR")], now_ms=0)

    def order_in(self, state: str, *, buyer_bank: str = BUYER_BANK) -> str:
        """An order of PAID_MINOR placed by buyer_bank and taken to state, each step the normal way.
        REFUNDED: 3.00 of it refunded; DECLINED: CANCELLED by the merchant rather than the buyer."""
        order = self.order(buyer_bank=buyer_bank)
        assert self.orders.place(buyer_bank_id=buyer_bank, order=order).result == rc.RESULT_CODE_OK
        steps = dict(
            SHIPPED=["ship"], COMPLETED=["ship", "complete"], REFUNDED=["ship", "complete", "refund"],
            CANCELLED=["cancel"], DECLINED=["decline"]).get(state, [])
        for step in steps:
            if step == "ship":
                self.orders.ship(merchant_id="beta", order_id=order.order_id, tracking_reference="T1")
            elif step == "complete":
                self.pay(order.order_id, buyer_bank=buyer_bank)
                assert self.event(order.order_id, COMPLETED, sender=buyer_bank) == rc.RESULT_CODE_OK
            elif step == "refund":
                self.orders.refund(refund_id=uuid_of("r-1"), merchant_id="beta", order_id=order.order_id, amount_minor=300,
                                   currency="EUR", reason="scratched")
            elif step == "cancel":
                assert self.event(order.order_id, CANCELLED, sender=buyer_bank) == rc.RESULT_CODE_OK
            else:
                self.orders.decline(merchant_id="beta", order_id=order.order_id, reason="out of stock")
        return order.order_id

    def snapshot(self, order_id: str) -> tuple:
        """Everything a contradiction could move: the order, the stock, the events owed to the
        buyer's bank, the refunds, the money, and the refund transfers sent."""
        with self.engine.connect() as connection:
            order = connection.execute(sa.select(
                tables.seller_orders.c.state, tables.seller_orders.c.refunded_minor,
                tables.seller_orders.c.tracking_reference).where(tables.seller_orders.c.order_id == order_id)).first()
            stock = connection.execute(sa.select(tables.products.c.stock_on_hand, tables.products.c.stock_reserved)
                                       .where(tables.products.c.sku == "mug")).one()
            events = connection.execute(sa.select(tables.order_events.c.event_id, tables.order_events.c.kind)
                                        .order_by(tables.order_events.c.event_id)).all()
            refunds = connection.execute(sa.select(
                tables.seller_refunds.c.refund_id, tables.seller_refunds.c.amount_minor,
                tables.seller_refunds.c.status).order_by(tables.seller_refunds.c.refund_id)).all()
        return (tuple(order) if order else None, tuple(stock), events, refunds,
                balance(self.engine, SETTLE), balance(self.engine, BUYER), list(self.transfers.sent))


@pytest.fixture
def seller(node_engine) -> Seller:
    return Seller(node_engine)


def outcome(call) -> int:
    """The result code of a call: its answer, or the code of its refusal."""
    try:
        answer = call()
    except FedmallError as error:
        return error.code
    return answer[0] if isinstance(answer, tuple) else getattr(answer, "result", answer)


def assert_nothing_moved(seller: Seller, order_id: str, before: tuple) -> None:
    assert seller.snapshot(order_id) == before
    assert books_problems(seller.engine) == []


# Events from the buyer's bank -----------------------------------------------------------------

@pytest.mark.parametrize("state, kind, code", [
    ("SHIPPED", CANCELLED, rc.RESULT_CODE_ORDER_STATE_INVALID),     # The buyer's cancel crossed the shipment.
    ("COMPLETED", CANCELLED, rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("REFUNDED", CANCELLED, rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("RESERVED", COMPLETED, rc.RESULT_CODE_ORDER_STATE_INVALID),    # Received before it was shipped.
    ("CANCELLED", COMPLETED, rc.RESULT_CODE_ORDER_STATE_INVALID),   # Received after the buyer cancelled...
    ("DECLINED", COMPLETED, rc.RESULT_CODE_ORDER_STATE_INVALID),    # ...or the merchant declined.
])
def test_event__contradicting_the_orders_state_is_refused_and_moves_nothing(seller, state, kind, code):
    order_id = seller.order_in(state)
    before = seller.snapshot(order_id)
    assert outcome(lambda: seller.event(order_id, kind, event_id="late")) == code
    assert_nothing_moved(seller, order_id, before)


def test_event__completed_for_an_order_never_placed_is_unknown_and_records_nothing(seller):
    order_id = seller.order().order_id   # Its PlaceOrder never arrived: nothing was paid here.
    assert outcome(lambda: seller.event(order_id, COMPLETED)) == rc.RESULT_CODE_ORDER_UNKNOWN
    # Nor does it hold the order back: PlaceOrder still reserves.
    assert seller.orders.place(buyer_bank_id=BUYER_BANK, order=seller.order()).result == rc.RESULT_CODE_OK
    assert seller.snapshot(order_id)[:2] == (("RESERVED", 0, ""), (5, 2))


@pytest.mark.parametrize("state, kind", [
    ("CANCELLED", CANCELLED),   # The buyer's bank sent its cancel again.
    ("DECLINED", CANCELLED),    # The cancel crossed the merchant's decline.
    ("COMPLETED", COMPLETED),
    ("REFUNDED", COMPLETED),    # A late COMPLETED after the merchant refunded.
])
@pytest.mark.parametrize("event_id", ["same", "other"])
def test_event__a_repeat_with_the_same_or_another_id_is_exists_and_moves_once(seller, state, kind, event_id):
    order_id = seller.order_in(state)
    before = seller.snapshot(order_id)
    again = f"{kind}-{order_id}" if event_id == "same" else "another-id"
    assert seller.event(order_id, kind, event_id=again) == rc.RESULT_CODE_EXISTS
    assert_nothing_moved(seller, order_id, before)


@pytest.mark.parametrize("state, kind", [("RESERVED", CANCELLED), ("SHIPPED", COMPLETED)])
def test_event__from_a_bank_that_is_not_the_orders_buyer_bank_is_forbidden(seller, state, kind):
    order_id = seller.order_in(state)
    before = seller.snapshot(order_id)
    assert outcome(lambda: seller.event(order_id, kind, sender=OTHER_BANK)) == rc.RESULT_CODE_FORBIDDEN
    assert_nothing_moved(seller, order_id, before)
    if kind == COMPLETED:
        seller.pay(order_id)
    assert seller.event(order_id, kind) == rc.RESULT_CODE_OK   # The buyer's bank still can.


def test_event__a_cancel_that_overtook_its_order_is_remembered_once_and_only_for_its_sender(seller):
    order_id = seller.order().order_id
    assert seller.event(order_id, CANCELLED, sender=OTHER_BANK) == rc.RESULT_CODE_OK
    assert seller.event(order_id, CANCELLED, sender=OTHER_BANK) == rc.RESULT_CODE_EXISTS
    # Bank c's word does not cancel bank a's order: it is placed when it comes.
    assert seller.orders.place(buyer_bank_id=BUYER_BANK, order=seller.order()).result == rc.RESULT_CODE_OK
    assert seller.snapshot(order_id)[:2] == (("RESERVED", 0, ""), (5, 2))


# PlaceOrder ---------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["RESERVED", "SHIPPED", "CANCELLED", "COMPLETED"])
def test_place__a_replay_after_any_later_state_is_exists_and_reserves_nothing(seller, state):
    order_id = seller.order_in(state)
    before = seller.snapshot(order_id)
    assert seller.orders.place(buyer_bank_id=BUYER_BANK, order=seller.order()).result == rc.RESULT_CODE_EXISTS
    assert_nothing_moved(seller, order_id, before)


@pytest.mark.parametrize("caller, order, code", [
    (BUYER_BANK, dict(quantity=1), rc.RESULT_CODE_MODIFIED_REQUEST),            # Same id, other items.
    (BUYER_BANK, dict(buyer_account="buyer-2"), rc.RESULT_CODE_MODIFIED_REQUEST),  # Same id, other buyer.
    (OTHER_BANK, dict(), rc.RESULT_CODE_FORBIDDEN),                              # Bank a's order id, from bank c.
])
def test_place__contradicting_the_placed_order_is_refused_and_reserves_nothing(seller, caller, order, code):
    order_id = seller.order_in("RESERVED")
    before = seller.snapshot(order_id)
    assert outcome(lambda: seller.orders.place(buyer_bank_id=caller, order=seller.order(**order))) == code
    assert_nothing_moved(seller, order_id, before)


def test_place__an_order_id_derived_for_another_bank_is_forbidden_before_that_bank_places_it(seller):
    order = seller.order()   # Bank a's id for its checkout c-1, not placed yet.
    before = seller.snapshot(order.order_id)
    assert outcome(lambda: seller.orders.place(buyer_bank_id=OTHER_BANK, order=order)) == rc.RESULT_CODE_FORBIDDEN
    assert_nothing_moved(seller, order.order_id, before)
    assert seller.orders.place(buyer_bank_id=BUYER_BANK, order=order).result == rc.RESULT_CODE_OK


def test_place__after_a_cancel_that_overtook_it_is_refused_and_reserves_nothing(seller):
    order_id = seller.order().order_id
    assert seller.event(order_id, CANCELLED) == rc.RESULT_CODE_OK
    before = seller.snapshot(order_id)
    assert outcome(lambda: seller.orders.place(buyer_bank_id=BUYER_BANK, order=seller.order())) == \
        rc.RESULT_CODE_ORDER_STATE_INVALID
    assert_nothing_moved(seller, order_id, before)


def test_place__an_order_id_recorded_for_another_buyer_bank_is_forbidden(seller):
    """Ids are derived from the buyer's bank, so this takes a row written some other way (an
    older node, a repaired database): the order is still not the calling bank's to replay."""
    order = seller.order()
    with seller.engine.begin() as connection:
        connection.execute(tables.seller_orders.insert().values(
            order_id=order.order_id, checkout_id=order.checkout_id, buyer_bank_id=OTHER_BANK, buyer_account_id=BUYER,
            merchant_id="beta", items=items_to_json(order.items), total_minor=order.total_minor, currency="EUR",
            state="RESERVED", tracking_reference="", refunded_minor=0, placed_at_unix_ms=0, updated_at_unix_ms=0))
    before = seller.snapshot(order.order_id)
    assert outcome(lambda: seller.orders.place(buyer_bank_id=BUYER_BANK, order=order)) == rc.RESULT_CODE_FORBIDDEN
    assert_nothing_moved(seller, order.order_id, before)


# The merchant: ship and decline ---------------------------------------------------------------

def ship(merchant_id: str = "beta", tracking: str = "T1"):
    return lambda seller, order_id: seller.orders.ship(merchant_id=merchant_id, order_id=order_id,
                                                       tracking_reference=tracking)


def decline(merchant_id: str = "beta", reason: str = "out of stock"):
    return lambda seller, order_id: seller.orders.decline(merchant_id=merchant_id, order_id=order_id, reason=reason)


@pytest.mark.parametrize("state, action, code", [
    ("CANCELLED", ship(), rc.RESULT_CODE_ORDER_STATE_INVALID),      # Shipping after the buyer cancelled.
    ("DECLINED", ship(), rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("SHIPPED", ship(tracking="T2"), rc.RESULT_CODE_ORDER_STATE_INVALID),  # Shipped twice, two parcels.
    ("SHIPPED", ship(), rc.RESULT_CODE_EXISTS),                     # The same shipment again.
    ("COMPLETED", ship(tracking="T2"), rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("RESERVED", ship(merchant_id="gamma"), rc.RESULT_CODE_ORDER_UNKNOWN),  # Another merchant's order.
    ("SHIPPED", decline(), rc.RESULT_CODE_ORDER_STATE_INVALID),     # Declining what it shipped.
    ("COMPLETED", decline(), rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("REFUNDED", decline(), rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("CANCELLED", decline(), rc.RESULT_CODE_ORDER_STATE_INVALID),   # The buyer cancelled first.
    ("DECLINED", decline(), rc.RESULT_CODE_EXISTS),
    ("DECLINED", decline(reason="changed my mind"), rc.RESULT_CODE_MODIFIED_REQUEST),
    ("RESERVED", decline(merchant_id="gamma"), rc.RESULT_CODE_ORDER_UNKNOWN),
])
def test_merchant__ship_or_decline_contradicting_the_order_moves_nothing(seller, state, action, code):
    order_id = seller.order_in(state)
    before = seller.snapshot(order_id)
    assert outcome(lambda: action(seller, order_id)) == code
    assert_nothing_moved(seller, order_id, before)


# Refunds ----------------------------------------------------------------------------------------

def refund(refund_id: str = "r-2", *, amount_minor: int = 100, merchant_id: str = "beta", currency: str = "EUR"):
    return lambda seller, order_id: seller.orders.refund(
        refund_id=uuid_of(refund_id), merchant_id=merchant_id, order_id=order_id, amount_minor=amount_minor,
        currency=currency, reason="scratched")


@pytest.mark.parametrize("buyer_bank", [SELLER, BUYER_BANK], ids=["book-refund", "interbank-refund"])
@pytest.mark.parametrize("state, action, code", [
    ("RESERVED", refund(), rc.RESULT_CODE_ORDER_STATE_INVALID),     # Nothing reached the merchant yet.
    ("SHIPPED", refund(), rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("CANCELLED", refund(), rc.RESULT_CODE_ORDER_STATE_INVALID),    # The buyer's bank gave the escrow back.
    ("DECLINED", refund(), rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("COMPLETED", refund(amount_minor=PAID_MINOR + 1), rc.RESULT_CODE_REFUND_EXCEEDS_PAID),
    # 3.00 refunded (for an interbank refund still on its way): at most 7.00 more.
    ("REFUNDED", refund(amount_minor=PAID_MINOR - 300 + 1), rc.RESULT_CODE_REFUND_EXCEEDS_PAID),
    ("REFUNDED", refund("r-1", amount_minor=300), rc.RESULT_CODE_EXISTS),                 # The same refund again.
    ("REFUNDED", refund("r-1", amount_minor=301), rc.RESULT_CODE_MODIFIED_REQUEST),
    ("COMPLETED", refund(merchant_id="gamma"), rc.RESULT_CODE_ORDER_UNKNOWN),             # Another merchant's order.
    ("COMPLETED", refund(currency="USD"), rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED),
])
def test_refund__contradicting_what_was_paid_is_refused_and_moves_no_money(seller, buyer_bank, state, action, code):
    order_id = seller.order_in(state, buyer_bank=buyer_bank)
    before = seller.snapshot(order_id)
    assert outcome(lambda: action(seller, order_id)) == code
    assert_nothing_moved(seller, order_id, before)


def test_refund__another_merchants_refund_id_is_not_this_merchants_to_reuse(seller):
    order_id = seller.order_in("REFUNDED")   # Beta's refund r-1.
    before = seller.snapshot(order_id)
    assert outcome(lambda: refund("r-1", amount_minor=300, merchant_id="gamma")(seller, order_id)) == \
        rc.RESULT_CODE_ORDER_UNKNOWN
    assert_nothing_moved(seller, order_id, before)


def refund_transfer(seller: Seller, refund_id: str = "r-1") -> str:
    with seller.engine.connect() as connection:
        return connection.scalar(sa.select(tables.seller_refunds.c.transfer_id)
                                 .where(tables.seller_refunds.c.refund_id == uuid_of(refund_id)))


def commit_notice(seller: Seller, transfer_id: str) -> bool:
    """What the payer's COMMITTED notice for the refund transfer runs, in its transaction."""
    with seller.engine.begin() as connection:
        return seller.orders.refund_committed(connection, [transfer_id], now_ms=200_000)


def test_refund_commit__a_second_commit_notice_tells_the_buyers_bank_once(seller):
    order_id = seller.order_in("REFUNDED")   # r-1 of 3.00 on its way to bank a.
    assert commit_notice(seller, refund_transfer(seller)) is True
    before = seller.snapshot(order_id)
    assert [status for _, _, status in before[3]] == ["DONE"]
    assert [kind for _, kind in before[2]].count(order_events.REFUNDED) == 1
    assert commit_notice(seller, refund_transfer(seller)) is False
    assert_nothing_moved(seller, order_id, before)


def test_refund_commit__after_the_refund_failed_moves_nothing(seller):
    """The refund's transfer was refused, so the amount is refundable again; a commit notice
    for it afterwards (reordered, or forged into the stream) must not report the refund done."""
    order_id = seller.order_in("COMPLETED")
    seller.transfers.result = rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    assert outcome(lambda: refund("r-1", amount_minor=300)(seller, order_id)) == rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY
    before = seller.snapshot(order_id)
    assert before[0] == ("COMPLETED", 0, "T1") and [status for _, _, status in before[3]] == ["FAILED"]
    assert commit_notice(seller, refund_transfer(seller)) is False
    assert_nothing_moved(seller, order_id, before)
    # Nor may the merchant revive the failed refund under its id.
    assert outcome(lambda: refund("r-1", amount_minor=300)(seller, order_id)) == rc.RESULT_CODE_INVALID_STATE
    assert_nothing_moved(seller, order_id, before)
