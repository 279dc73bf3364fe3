"""Marketplace events proved, not believed, service by service: the escrow statement a reservation
needs, the bounds and the expiry of reservations, the payment a completion needs at the seller's
bank and the transfer a refund needs at the buyer's bank. Each refusal moves nothing. (Against
real nodes, with a hostile bank's own certificate and key: tests/adversarial/test_marketplace.py.)"""
from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from fedmall import pki
from fedmall.envelope import SigningKey
from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import money_pb2
from fedmall.v1 import result_pb2 as rc

from node.market import escrow_proofs, order_events, store as tables
from node.market.orders import derived_id, refund_reference, release_reference
from node.market.seller_orders import ReservationRules, SellerOrderService, reservation_problem
from tests.node.books import books_problems, node_engine  # noqa: F401
from tests.node.market.proofs import SIGNING_KEYS, keys, proved, received
from tests.node.market.test_contradictions import (  # noqa: F401
    ESCROW, buyer_orders, event, order_in as buyer_order_in, refused, snapshot as buyer_snapshot)
from tests.node.market.test_buyer_worker import UP
from tests.node.market.test_seller_contradictions import (
    BUYER_BANK, COMPLETED, OTHER_BANK, PAID_MINOR, SELLER, SETTLE, Seller, assert_nothing_moved, outcome, release_of)
from tests.support.ids import uuid_of

CANCELLED = order_events.CANCELLED


@pytest.fixture
def seller(node_engine) -> Seller:
    return Seller(node_engine)


def place(seller: Seller, order, *, caller: str = BUYER_BANK) -> int:
    return outcome(lambda: seller.orders.place(buyer_bank_id=caller, order=order))


# The escrow statement ---------------------------------------------------------------------------

def test_statement_problems__names_every_field_that_is_not_the_order():
    statement = escrow_proofs.statement_of(order_id="o-1", buyer_bank_id="bank-a", seller_bank_id="bank-b",
                                           merchant_id="beta", amount_minor=1_000, currency="EUR",
                                           escrowed_at_unix_ms=5)
    order = dict(order_id="o-1", buyer_bank_id="bank-a", seller_bank_id="bank-b", merchant_id="beta",
                 total_minor=1_000, currency="EUR")
    assert escrow_proofs.statement_problems(statement, **order) == []
    assert statement.escrow_entry_id == "escrow:o-1"
    for name, value in (("order_id", "o-2"), ("buyer_bank_id", "bank-c"), ("seller_bank_id", "bank-c"),
                        ("merchant_id", "gamma"), ("total_minor", 999), ("currency", "USD")):
        assert escrow_proofs.statement_problems(statement, **order | {name: value}), name
    other_entry = mp.EscrowStatement()
    other_entry.CopyFrom(statement)
    other_entry.escrow_entry_id = "escrow:o-2"   # Points at another order's money.
    assert escrow_proofs.statement_problems(other_entry, **order) == [
        "escrow_entry_id is 'escrow:o-2', not 'escrow:o-1'"]
    timeless = escrow_proofs.statement_of(order_id="o-1", buyer_bank_id="bank-a", seller_bank_id="bank-b",
                                          merchant_id="beta", amount_minor=1_000, currency="EUR",
                                          escrowed_at_unix_ms=0)
    assert escrow_proofs.statement_problems(timeless, **order) == ["no escrow time"]


def forged_key(bank_id: str) -> SigningKey:
    """A key that claims the bank's key id but is not the one the clearing registered."""
    return pki.new_signing_key(SIGNING_KEYS[bank_id].key_id)


@pytest.mark.parametrize("prove, code", [
    (lambda order: order, rc.RESULT_CODE_ESCROW_NOT_PROVED),   # No statement at all.
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER, signer=forged_key(BUYER_BANK)),
     rc.RESULT_CODE_INVALID_SIGNATURE),
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER, signer=SIGNING_KEYS[OTHER_BANK]),
     rc.RESULT_CODE_SIGNER_NOT_PEER),                           # Signed by another member.
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER,
                          signer=pki.new_signing_key("bank-a/k9")), rc.RESULT_CODE_UNKNOWN_KEY),
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER, amount_minor=PAID_MINOR - 1),
     rc.RESULT_CODE_ESCROW_NOT_PROVED),                         # Escrow for less than the order costs.
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER, merchant_id="gamma"),
     rc.RESULT_CODE_ESCROW_NOT_PROVED),
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER, currency="USD"),
     rc.RESULT_CODE_ESCROW_NOT_PROVED),
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=OTHER_BANK),
     rc.RESULT_CODE_ESCROW_NOT_PROVED),                         # A statement made for another seller.
    (lambda order: proved(order, buyer_bank_id=BUYER_BANK, seller_bank_id=SELLER,
                          order_id=derived_id(BUYER_BANK, "c-9", SELLER, "beta")),
     rc.RESULT_CODE_ESCROW_NOT_PROVED),                         # Another order's statement.
])
def test_place__without_a_statement_proving_this_orders_escrow_reserves_nothing(seller, prove, code):
    unproved = dataclasses.replace(seller.order(), escrow_statement=None)
    before = seller.snapshot(unproved.order_id)
    assert place(seller, prove(unproved)) == code
    assert_nothing_moved(seller, unproved.order_id, before)


def test_place__keeps_the_signed_statement_with_the_order(seller):
    order = seller.order()
    assert place(seller, order) == rc.RESULT_CODE_OK
    with seller.engine.connect() as connection:
        kept = connection.scalar(sa.select(tables.seller_orders.c.escrow_statement)
                                 .where(tables.seller_orders.c.order_id == order.order_id))
    assert kept == order.escrow_statement.SerializeToString(deterministic=True)
    statement = escrow_proofs.open_statement(order.escrow_statement, buyer_bank_id=BUYER_BANK, keys=keys)
    assert (statement.order_id, statement.amount.amount_minor) == (order.order_id, PAID_MINOR)


# Bounds and expiry ------------------------------------------------------------------------------

def bounded(seller: Seller, *, per_buyer_bank_max: int = 1_000, units_max: int = 1_000_000, hold_s: int = 3_600,
            now_s: list[float] | None = None) -> SellerOrderService:
    clock = now_s or [100.0]
    return SellerOrderService(seller.engine, bank_id=SELLER, transfers=seller.transfers, clock=lambda: clock[0],
                              keys=keys, rules=ReservationRules(hold_s=hold_s, per_buyer_bank_max=per_buyer_bank_max,
                                                                units_per_buyer_bank_max=units_max))


def test_reservation_problem__counts_and_units_each_bound():
    rules = ReservationRules(hold_s=1, per_buyer_bank_max=2, units_per_buyer_bank_max=10)
    assert reservation_problem(open_count=1, open_units=8, units=2, rules=rules) is None
    assert reservation_problem(open_count=2, open_units=0, units=1, rules=rules) is not None
    assert reservation_problem(open_count=0, open_units=9, units=2, rules=rules) is not None


def test_place__past_the_buyer_banks_bound_is_refused_and_other_banks_are_not_held_up(seller):
    orders = bounded(seller, per_buyer_bank_max=1)
    first = seller.order("c-1", quantity=1)
    assert orders.place(buyer_bank_id=BUYER_BANK, order=first).result == rc.RESULT_CODE_OK
    second = seller.order("c-2", quantity=1)
    before = seller.snapshot(second.order_id)
    assert outcome(lambda: orders.place(buyer_bank_id=BUYER_BANK, order=second)) == \
        rc.RESULT_CODE_RESERVATION_LIMIT_REACHED
    assert_nothing_moved(seller, second.order_id, before)
    # A replay of the order it holds is still answered; another bank, and this bank's own buyers, still place.
    assert orders.place(buyer_bank_id=BUYER_BANK, order=first).result == rc.RESULT_CODE_EXISTS
    assert orders.place(buyer_bank_id=OTHER_BANK, order=seller.order("c-3", buyer_bank=OTHER_BANK, quantity=1)
                        ).result == rc.RESULT_CODE_OK
    assert orders.place(buyer_bank_id=SELLER, order=seller.order("c-4", buyer_bank=SELLER, quantity=1)
                        ).result == rc.RESULT_CODE_OK
    # Once the first ships, the bank may reserve again.
    orders.ship(merchant_id="beta", order_id=first.order_id, tracking_reference="T1")
    assert orders.place(buyer_bank_id=BUYER_BANK, order=second).result == rc.RESULT_CODE_OK


def test_place__past_the_buyer_banks_units_is_refused(seller):
    orders = bounded(seller, units_max=3)
    assert orders.place(buyer_bank_id=BUYER_BANK, order=seller.order("c-1", quantity=2)).result == rc.RESULT_CODE_OK
    over = seller.order("c-2", quantity=2)
    before = seller.snapshot(over.order_id)
    assert outcome(lambda: orders.place(buyer_bank_id=BUYER_BANK, order=over)) == \
        rc.RESULT_CODE_RESERVATION_LIMIT_REACHED
    assert_nothing_moved(seller, over.order_id, before)
    assert orders.place(buyer_bank_id=BUYER_BANK, order=seller.order("c-3", quantity=1)).result == rc.RESULT_CODE_OK


def expired_events(seller: Seller) -> list[tuple[str, int, str]]:
    events = tables.order_events
    with seller.engine.connect() as connection:
        return connection.execute(sa.select(events.c.order_id, events.c.kind, events.c.recipient_bank_id).where(
            events.c.kind == order_events.RESERVATION_EXPIRED)).all()


def test_expire__a_reservation_not_shipped_in_time_frees_its_stock_once(seller):
    now_s = [100.0]
    orders = bounded(seller, hold_s=60, now_s=now_s)
    late = seller.order("c-1", quantity=2)
    assert orders.place(buyer_bank_id=BUYER_BANK, order=late).result == rc.RESULT_CODE_OK
    now_s[0] = 130.0
    shipped = seller.order("c-2", quantity=1)
    assert orders.place(buyer_bank_id=BUYER_BANK, order=shipped).result == rc.RESULT_CODE_OK
    orders.ship(merchant_id="beta", order_id=shipped.order_id, tracking_reference="T1")
    assert orders.expire_step() is False and seller.snapshot(late.order_id)[:2] == (("RESERVED", 0, ""), (4, 2))
    now_s[0] = 160.0   # The first is 60 s old now; the second shipped in time.
    assert orders.expire_step() is False
    assert seller.snapshot(late.order_id)[:2] == (("CANCELLED", 0, ""), (4, 0))
    assert seller.snapshot(shipped.order_id)[0] == ("SHIPPED", 0, "T1")
    assert expired_events(seller) == [(late.order_id, order_events.RESERVATION_EXPIRED, BUYER_BANK)]
    # Again (a retry, a second worker), or a cancel, decline or ship coming late: nothing moves twice.
    before = seller.snapshot(late.order_id)
    now_s[0] = 1_000.0
    assert orders.expire_step() is False
    assert seller.event(late.order_id, CANCELLED) == rc.RESULT_CODE_EXISTS
    assert outcome(lambda: orders.ship(merchant_id="beta", order_id=late.order_id, tracking_reference="T2")) == \
        rc.RESULT_CODE_ORDER_STATE_INVALID
    assert outcome(lambda: orders.decline(merchant_id="beta", order_id=late.order_id, reason="late")) == \
        rc.RESULT_CODE_ORDER_STATE_INVALID
    assert_nothing_moved(seller, late.order_id, before)
    assert len(expired_events(seller)) == 1


# Completion follows the money (seller's bank) ------------------------------------------------------

def shipped(seller: Seller, *, buyer_bank: str = BUYER_BANK) -> str:
    return seller.order_in("SHIPPED", buyer_bank=buyer_bank)


@pytest.mark.parametrize("terms", [
    None,                                           # Nothing came.
    dict(amount_minor=PAID_MINOR - 1),              # Less than the order's total.
    dict(payer_bank_id=OTHER_BANK),                 # From another bank.
    dict(payee_account_id="settle-gamma"),          # To another merchant.
    dict(reference="acceptance"),                   # An unrelated payment.
    dict(status="ABORTED"),
])
def test_complete__without_the_release_committed_here_is_not_paid_and_stays_shipped(seller, terms):
    order_id = shipped(seller)
    if terms is not None:
        received(seller.engine, **dict(transfer_id=release_of(order_id), payer_bank_id=BUYER_BANK,
                                       payee_account_id=SETTLE, amount_minor=PAID_MINOR,
                                       reference=release_reference(order_id)) | terms)
    before = seller.snapshot(order_id)
    assert outcome(lambda: seller.event(order_id, COMPLETED)) == rc.RESULT_CODE_ORDER_NOT_PAID
    assert_nothing_moved(seller, order_id, before)
    assert before[0][0] == "SHIPPED"


def test_complete__a_release_on_its_way_is_asked_again_then_completes(seller):
    order_id = shipped(seller)
    received(seller.engine, transfer_id=release_of(order_id), payer_bank_id=BUYER_BANK, payee_account_id=SETTLE,
             amount_minor=PAID_MINOR, reference=release_reference(order_id), status="ACCEPTED")
    before = seller.snapshot(order_id)
    assert outcome(lambda: seller.event(order_id, COMPLETED)) == rc.RESULT_CODE_UNAVAILABLE
    assert_nothing_moved(seller, order_id, before)
    with seller.engine.begin() as connection:
        connection.execute(sa.text("UPDATE incoming_transfers SET status = 'COMMITTED'"))
    assert seller.event(order_id, COMPLETED) == rc.RESULT_CODE_OK
    with seller.engine.connect() as connection:
        assert connection.execute(sa.select(tables.seller_orders.c.state, tables.seller_orders.c.payment_transfer_id)
                                  .where(tables.seller_orders.c.order_id == order_id)).one() == (
            "COMPLETED", release_of(order_id))


def test_complete__a_transfer_that_paid_another_order_does_not_pay_this_one(seller):
    paid = seller.order_in("COMPLETED")
    order = seller.order("c-2", quantity=2)
    assert seller.orders.place(buyer_bank_id=BUYER_BANK, order=order).result == rc.RESULT_CODE_OK
    seller.orders.ship(merchant_id="beta", order_id=order.order_id, tracking_reference="T1")
    # The books say the transfer that paid the first order paid this one too (a repaired database, an
    # older node): it is counted once.
    with seller.engine.begin() as connection:
        connection.execute(sa.update(tables.seller_orders).where(tables.seller_orders.c.order_id == paid)
                           .values(payment_transfer_id=release_of(order.order_id)))
    seller.pay(order.order_id)
    before = seller.snapshot(order.order_id)
    assert outcome(lambda: seller.event(order.order_id, COMPLETED)) == rc.RESULT_CODE_TRANSFER_ALREADY_COUNTED
    assert_nothing_moved(seller, order.order_id, before)


def test_complete__a_buyer_of_this_bank_completes_only_on_the_book_release(seller):
    order_id = shipped(seller, buyer_bank=SELLER)
    before = seller.snapshot(order_id)
    assert outcome(lambda: seller.event(order_id, COMPLETED, sender=SELLER)) == rc.RESULT_CODE_ORDER_NOT_PAID
    assert_nothing_moved(seller, order_id, before)
    seller.pay(order_id, buyer_bank=SELLER)
    assert seller.event(order_id, COMPLETED, sender=SELLER) == rc.RESULT_CODE_OK


# Refunds follow the money (buyer's bank) -----------------------------------------------------------

def refund_event(order_id: str, transfer_id: str, amount_minor: int = 40, *,
                 event_id: str = "") -> mp.NotifyOrderEventRequest:
    return mp.NotifyOrderEventRequest(event_id=uuid_of(event_id or f"e-{transfer_id}"), order_id=order_id,
                                      kind=order_events.REFUNDED, transfer_id=transfer_id,
                                      amount=money_pb2.Money(amount_minor=amount_minor, currency="EUR"))


def returned(engine, transfer_id: str, order_id: str, amount_minor: int = 40, **terms) -> None:
    received(engine, **dict(transfer_id=transfer_id, payer_bank_id=UP, payee_account_id="buyer",
                            amount_minor=amount_minor, reference=refund_reference(order_id)) | terms)


def counted(engine) -> list[tuple[str, str, int]]:
    refunds = tables.buyer_refunds
    with engine.connect() as connection:
        return connection.execute(sa.select(refunds.c.transfer_id, refunds.c.order_id, refunds.c.amount_minor)
                                  .order_by(refunds.c.transfer_id)).all()


@pytest.mark.parametrize("terms, code", [
    (None, rc.RESULT_CODE_REFUND_NOT_PAID),                                # No such transfer here.
    (dict(reference="acceptance"), rc.RESULT_CODE_REFUND_NOT_PAID),        # An unrelated payment.
    (dict(amount_minor=39), rc.RESULT_CODE_REFUND_NOT_PAID),               # Less than the refund claims.
    (dict(payer_bank_id="bank-other"), rc.RESULT_CODE_REFUND_NOT_PAID),    # Paid by another bank.
    (dict(payee_account_id="someone"), rc.RESULT_CODE_REFUND_NOT_PAID),    # Paid to someone else.
    (dict(status="REJECTED"), rc.RESULT_CODE_REFUND_NOT_PAID),
    (dict(status="ACCEPTED"), rc.RESULT_CODE_UNAVAILABLE),                 # On its way: asked again.
])
def test_refund__without_its_return_transfer_committed_here_counts_nothing(node_engine, buyer_orders, terms, code):
    order_id = buyer_order_in(node_engine, "COMPLETED")
    if terms is not None:
        returned(node_engine, uuid_of("t-1"), order_id, **terms)
    before = buyer_snapshot(node_engine, order_id)
    assert refused(lambda: buyer_orders.apply_event(sender_bank_id=UP, event=refund_event(order_id, uuid_of("t-1")))) == code
    assert buyer_snapshot(node_engine, order_id) == before and counted(node_engine) == []


def test_refund__a_transfer_counts_once_and_never_past_what_was_paid(node_engine, buyer_orders):
    order_id = buyer_order_in(node_engine, "COMPLETED")   # 1.00 paid.
    returned(node_engine, uuid_of("t-1"), order_id, 40)
    assert buyer_orders.apply_event(sender_bank_id=UP, event=refund_event(order_id, uuid_of("t-1"))) == rc.RESULT_CODE_OK
    after = buyer_snapshot(node_engine, order_id)
    assert after[:2] == ("REFUNDED", 40)
    # The same event again is a safe repeat; the same transfer under another event id is refused.
    assert buyer_orders.apply_event(sender_bank_id=UP, event=refund_event(order_id, uuid_of("t-1"))) == rc.RESULT_CODE_EXISTS
    assert refused(lambda: buyer_orders.apply_event(sender_bank_id=UP, event=refund_event(
        order_id, uuid_of("t-1"), event_id="e-again"))) == rc.RESULT_CODE_TRANSFER_ALREADY_COUNTED
    # Real money, but more than is left of the payment: not counted (it stays the buyer's).
    returned(node_engine, uuid_of("t-2"), order_id, 61)
    assert refused(lambda: buyer_orders.apply_event(sender_bank_id=UP, event=refund_event(
        order_id, uuid_of("t-2"), 61))) == rc.RESULT_CODE_REFUND_EXCEEDS_PAID
    assert buyer_snapshot(node_engine, order_id) == after and counted(node_engine) == [(uuid_of("t-1"), order_id, 40)]
    returned(node_engine, uuid_of("t-3"), order_id, 60)
    assert buyer_orders.apply_event(sender_bank_id=UP, event=refund_event(order_id, uuid_of("t-3"), 60)) == rc.RESULT_CODE_OK
    assert buyer_snapshot(node_engine, order_id)[:2] == ("REFUNDED", 100)
    assert books_problems(node_engine) == []
