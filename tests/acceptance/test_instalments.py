"""Instalments at checkout through real nodes over mTLS, on SQLite and on PostgreSQL: buyers at
bank A pay a merchant at bank B in monthly instalments financed by bank A. The merchant is paid in
full; bank A funds the escrow from @consumer-lending, collects each instalment on its due date (a
clock the test drives), handles a short balance (retry, late with a fee, default), a refund (the
debt first) and a cancellation (the plan unwound). Every refusal changes nothing; the books, the
instalment book and every federation invariant hold at the end."""
from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from fedmall.v1 import credit_pb2 as cr, marketplace_pb2 as mp, node_pb2
from fedmall.v1 import result_pb2 as rc

from node.bank import store as bank_store
from node.credit import store as credit_tables
from node.credit.features import DAY_MS
from node.market import store as market_tables
from tests.acceptance.conftest import closed_at_rest
from tests.acceptance.credit_world import credit
from tests.node.market.world import Market, eur
from tests.support.credit import consumer_policy
from tests.support.federation import wait_until

BUYER_BANK, SELLER, MERCHANT, PRICE = "bank-a", "bank-b", "bakery", 12_000


class DrivenClock:
    """Wall time plus an offset the test moves forward (seconds, as a node's clock)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s

    def advance(self, *, days: float) -> None:
        self.offset_s += days * DAY_MS / 1000


@pytest.fixture
def clock():
    return DrivenClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def market(request, world, tmp_path, clock):
    """Bank A (the buyers' bank, on the driven clock) with a consumer credit policy; the bakery at B."""
    market = Market(world)
    policy = consumer_policy(tmp_path)
    for bank_id in world.banks:
        overrides = dict(consumer_credit_policy_path=policy)
        if request.param == "postgresql":
            overrides["database_url"] = request.getfixturevalue("postgres_cluster").new_database()
        market.start_node(bank_id, clock=clock if bank_id == BUYER_BANK else time.time, **overrides)
    market.merchant(SELLER, MERCHANT)
    market.product(SELLER, MERCHANT, "loaf", title="Sourdough crate", price_minor=PRICE, stock=100)
    yield market
    closed_at_rest(request, market)


def buy(market: Market, buyer: str, *, quantity: int = 1, instalments: int) -> mp.CheckoutResponse:
    return market.market(BUYER_BANK).Checkout(mp.CheckoutRequest(
        checkout_id=str(uuid.uuid4()), buyer_account_id=buyer, instalments=instalments,
        items=[mp.CartItem(seller_bank_id=SELLER, merchant_id=MERCHANT, sku="loaf", quantity=quantity,
                           unit_price=eur(PRICE))]))


def deposit(market: Market, account_id: str, amount_minor: int) -> None:
    response = market.teller(BUYER_BANK).Deposit(node_pb2.DepositRequest(
        deposit_id=str(uuid.uuid4()), account_id=account_id, amount=eur(amount_minor)))
    assert response.result == rc.RESULT_CODE_OK, response


def plan_of(market: Market, buyer: str, plan_id: str) -> cr.InstalmentPlan:
    response = credit(market, BUYER_BANK).GetInstalmentPlan(cr.GetInstalmentPlanRequest(
        buyer_account_id=buyer, plan_id=plan_id))
    assert response.result == rc.RESULT_CODE_OK, response
    return response.plan


def collect(market: Market) -> None:
    """One pass of bank A's collection worker, as its thread would run it."""
    while market.nodes[BUYER_BANK].instalments.collect_step():
        pass


def snapshot(market: Market) -> dict:
    """What a refusal must leave alone at bank A: every balance, entry, order, checkout and plan."""
    with market.nodes[BUYER_BANK].engine.connect() as connection:
        counts = {table.name: connection.scalar(sa.select(sa.func.count()).select_from(table)) for table in (
            bank_store.journal_entries, market_tables.buyer_orders, market_tables.checkouts,
            credit_tables.instalment_plans, credit_tables.instalment_schedule)}
        balances = dict(connection.execute(sa.select(bank_store.accounts.c.account_id,
                                                     bank_store.accounts.c.balance_minor)).all())
    return dict(counts=counts, balances=balances, stock=market.products(SELLER, MERCHANT)["loaf"].stock_available)


def assert_instalment_book_agrees(market: Market) -> cr.GetInstalmentBookResponse:
    book = credit(market, BUYER_BANK).GetInstalmentBook(cr.GetInstalmentBookRequest())
    assert book.result == rc.RESULT_CODE_OK
    for totals in book.totals:
        assert totals.outstanding.amount_minor == totals.lending_account.amount_minor, totals
    assert market.books_problems(BUYER_BANK) == []
    return book


def test_refusals__term_not_offered_above_the_limit_and_an_ineligible_buyer_change_nothing(market):
    market.open_account(BUYER_BANK, "ann", deposit_minor=50_000)    # Inflows 500.00: a limit of 250.00.
    market.open_account(BUYER_BANK, "cleo", deposit_minor=5_000)    # 50.00 in: under the 100.00 asked.
    before = snapshot(market)

    refused = buy(market, "ann", instalments=4)
    assert refused.result == rc.RESULT_CODE_INSTALMENTS_TERM_NOT_OFFERED, refused
    assert "offered: 3, 6, 12" in refused.detail
    refused = buy(market, "ann", quantity=3, instalments=3)          # 360.00 > 250.00.
    assert refused.result == rc.RESULT_CODE_INSTALMENTS_LIMIT_EXCEEDED, refused
    assert "above the 250.00 EUR available" in refused.detail
    refused = buy(market, "cleo", instalments=3)
    assert refused.result == rc.RESULT_CODE_INSTALMENTS_NOT_ELIGIBLE, refused
    assert "50.00 EUR came in over 90 days, under 100.00 EUR" in refused.detail
    assert snapshot(market) == before

    # The limit counts what open plans owe: two loaves in 6 (246.00 with the fee) fit, a third does not.
    assert buy(market, "ann", quantity=2, instalments=6).result == rc.RESULT_CODE_OK
    before = snapshot(market)
    refused = buy(market, "ann", instalments=3)
    assert refused.result == rc.RESULT_CODE_INSTALMENTS_LIMIT_EXCEEDED, refused
    assert "above the 4.00 EUR available" in refused.detail
    assert snapshot(market) == before
    assert_instalment_book_agrees(market)


def test_a_financed_purchase__merchant_paid_in_full_instalments_collected_and_a_refund_pays_the_debt_first(
        market, clock):
    market.open_account(BUYER_BANK, "ann", deposit_minor=50_000)
    merchant_before = market.balance(SELLER, f"settle-{MERCHANT}")
    checkout = buy(market, "ann", instalments=6)
    assert checkout.result == rc.RESULT_CODE_OK, checkout
    order = checkout.orders[0]
    assert (order.state, order.instalments) == (mp.ORDER_STATE_PAID, 6)
    # The bank funded the escrow: the buyer's balance is untouched, the debt is total + 2.5 %.
    assert market.balance(BUYER_BANK, "ann") == 50_000
    assert market.escrow(BUYER_BANK) == PRICE
    assert market.internal(BUYER_BANK, "consumer-lending") == -12_300
    assert market.internal(BUYER_BANK, "consumer-fees") == 300
    plan = plan_of(market, "ann", order.order_id)
    assert (plan.status, plan.principal.amount_minor, plan.fee.amount_minor, plan.outstanding.amount_minor) == (
        cr.PLAN_STATUS_ACTIVE, PRICE, 300, 12_300)
    assert [item.amount.amount_minor for item in plan.schedule] == [2_050] * 6
    assert [(item.due_at_unix_ms - plan.opened_at_unix_ms) // DAY_MS for item in plan.schedule] == [
        30, 60, 90, 120, 150, 180]

    # Shipped, received: the merchant is paid in full, exactly as for an order paid now.
    assert market.market(SELLER).ShipOrder(mp.ShipOrderRequest(
        merchant_id=MERCHANT, order_id=order.order_id, tracking_reference="T1")).result == rc.RESULT_CODE_OK
    market.wait_buyer_state(BUYER_BANK, "ann", order.order_id, mp.ORDER_STATE_SHIPPED)
    assert market.market(BUYER_BANK).ConfirmReceipt(mp.ConfirmReceiptRequest(
        buyer_account_id="ann", order_id=order.order_id)).result == rc.RESULT_CODE_OK
    market.wait_seller_state(SELLER, MERCHANT, order.order_id, mp.ORDER_STATE_COMPLETED)
    wait_until(lambda: market.balance(SELLER, f"settle-{MERCHANT}") == merchant_before + PRICE)

    collect(market)  # Nothing is due yet.
    assert market.balance(BUYER_BANK, "ann") == 50_000
    clock.advance(days=30)
    collect(market)
    collect(market)  # A second pass collects nothing twice.
    plan = plan_of(market, "ann", order.order_id)
    assert [item.status for item in plan.schedule] == [cr.INSTALMENT_STATUS_COLLECTED] + [
        cr.INSTALMENT_STATUS_SCHEDULED] * 5
    assert (plan.repaid.amount_minor, plan.outstanding.amount_minor) == (2_050, 10_250)
    assert market.balance(BUYER_BANK, "ann") == 50_000 - 2_050
    assert market.internal(BUYER_BANK, "consumer-lending") == -10_250

    # A full refund (a return transfer from bank B): the debt is paid down first, the rest is the buyer's.
    refund = market.market(SELLER).RefundOrder(mp.RefundOrderRequest(
        refund_id=str(uuid.uuid4()), merchant_id=MERCHANT, order_id=order.order_id, amount=eur(PRICE),
        reason="stale"))
    assert refund.result == rc.RESULT_CODE_OK, refund
    market.wait_buyer_state(BUYER_BANK, "ann", order.order_id, mp.ORDER_STATE_REFUNDED)
    plan = wait_until(lambda: (p := plan_of(market, "ann", order.order_id)).status == cr.PLAN_STATUS_REPAID and p)
    assert (plan.repaid.amount_minor, plan.outstanding.amount_minor) == (12_300, 0)
    assert [item.status for item in plan.schedule] == [cr.INSTALMENT_STATUS_COLLECTED] + [
        cr.INSTALMENT_STATUS_WAIVED] * 5
    assert market.balance(BUYER_BANK, "ann") == 50_000 - 2_050 + PRICE - 10_250
    assert market.internal(BUYER_BANK, "consumer-lending") == 0
    book = assert_instalment_book_agrees(market)
    assert (book.totals[0].plans, book.totals[0].plans_open, book.totals[0].financed.amount_minor) == (1, 0, PRICE)


def test_a_short_balance__retried_then_late_with_its_fee_collected_then_a_default(market, clock):
    market.open_account(BUYER_BANK, "eve", deposit_minor=15_000)    # A limit of 75.00.
    market.product(SELLER, MERCHANT, "roll", title="Rye rolls", price_minor=6_000, stock=10)
    checkout = market.market(BUYER_BANK).Checkout(mp.CheckoutRequest(
        checkout_id=str(uuid.uuid4()), buyer_account_id="eve", instalments=3,
        items=[mp.CartItem(seller_bank_id=SELLER, merchant_id=MERCHANT, sku="roll", quantity=1,
                           unit_price=eur(6_000))]))
    assert checkout.result == rc.RESULT_CODE_OK, checkout
    plan_id = checkout.orders[0].order_id
    market.open_account(SELLER, "bob")
    transfer_id, sent = market.send(BUYER_BANK, "eve", SELLER, "bob", 14_000)   # Eve spends nearly all of it.
    assert sent.result == rc.RESULT_CODE_OK, sent
    assert market.wait_final(BUYER_BANK, transfer_id).status == "COMMITTED"

    clock.advance(days=30)
    collect(market)
    first = plan_of(market, "eve", plan_id).schedule[0]
    assert (first.status, first.attempts, first.amount.amount_minor) == (cr.INSTALMENT_STATUS_SCHEDULED, 1, 2_000)
    assert market.balance(BUYER_BANK, "eve") == 1_000
    collect(market)  # Not before the retry time.
    assert plan_of(market, "eve", plan_id).schedule[0].attempts == 1

    clock.advance(days=5)
    collect(market)
    plan = plan_of(market, "eve", plan_id)
    assert (plan.status, plan.late_fees.amount_minor, plan.outstanding.amount_minor) == (
        cr.PLAN_STATUS_LATE, 1_000, 7_000)
    assert (plan.schedule[0].status, plan.schedule[0].amount.amount_minor) == (cr.INSTALMENT_STATUS_LATE, 3_000)
    assert market.internal(BUYER_BANK, "consumer-fees") == 1_000
    # A plan in arrears: no new plan for this buyer.
    before = snapshot(market)
    refused = market.market(BUYER_BANK).Checkout(mp.CheckoutRequest(
        checkout_id=str(uuid.uuid4()), buyer_account_id="eve", instalments=3,
        items=[mp.CartItem(seller_bank_id=SELLER, merchant_id=MERCHANT, sku="roll", quantity=1,
                           unit_price=eur(6_000))]))
    assert refused.result == rc.RESULT_CODE_INSTALMENTS_NOT_ELIGIBLE and "1 plan(s) in arrears" in refused.detail
    assert snapshot(market) == before

    deposit(market, "eve", 3_000)  # Money comes in; the next attempt collects the late instalment with its fee.
    clock.advance(days=1)
    collect(market)
    plan = plan_of(market, "eve", plan_id)
    assert (plan.status, plan.repaid.amount_minor, plan.outstanding.amount_minor) == (
        cr.PLAN_STATUS_ACTIVE, 3_000, 4_000)
    assert market.balance(BUYER_BANK, "eve") == 1_000

    # The second instalment (day 60) is never paid: late after 5 days, defaulted after 60.
    clock.advance(days=60 - 36)
    collect(market)
    clock.advance(days=5)
    collect(market)
    assert plan_of(market, "eve", plan_id).status == cr.PLAN_STATUS_LATE
    clock.advance(days=55)
    collect(market)
    plan = plan_of(market, "eve", plan_id)
    assert (plan.status, plan.outstanding.amount_minor) == (cr.PLAN_STATUS_DEFAULTED, 5_000)
    attempts = [item.attempts for item in plan.schedule]
    clock.advance(days=40)
    collect(market)  # Collection stopped; the debt stays on the book.
    assert [item.attempts for item in plan_of(market, "eve", plan_id).schedule] == attempts
    book = assert_instalment_book_agrees(market)
    assert (book.totals[0].defaulted.amount_minor, book.totals[0].outstanding.amount_minor) == (5_000, 5_000)
    assert market.internal(BUYER_BANK, "consumer-lending") == -5_000


def test_a_cancelled_financed_order__the_plan_is_unwound_and_the_buyer_gets_back_what_it_paid(market, clock):
    market.open_account(BUYER_BANK, "ann", deposit_minor=50_000)
    checkout = buy(market, "ann", instalments=12)
    assert checkout.result == rc.RESULT_CODE_OK, checkout
    order_id = checkout.orders[0].order_id
    assert market.internal(BUYER_BANK, "consumer-fees") == 720   # 6 % of 120.00.
    clock.advance(days=30)   # The merchant has not shipped yet; the first instalment is collected.
    collect(market)
    assert market.balance(BUYER_BANK, "ann") == 50_000 - 1_060   # 127.20 over 12 instalments.
    cancelled = market.market(BUYER_BANK).CancelOrder(mp.CancelOrderRequest(buyer_account_id="ann",
                                                                            order_id=order_id))
    assert cancelled.order.state == mp.ORDER_STATE_CANCELLED, cancelled
    plan = plan_of(market, "ann", order_id)
    assert (plan.status, plan.outstanding.amount_minor) == (cr.PLAN_STATUS_CANCELLED, 0)
    assert [item.status for item in plan.schedule] == [cr.INSTALMENT_STATUS_COLLECTED] + [
        cr.INSTALMENT_STATUS_WAIVED] * 11
    assert (plan.repaid.amount_minor, market.balance(BUYER_BANK, "ann")) == (PRICE, 50_000)
    assert (market.escrow(BUYER_BANK), market.internal(BUYER_BANK, "consumer-lending"),
            market.internal(BUYER_BANK, "consumer-fees")) == (0, 0, 0)
    assert market.products(SELLER, MERCHANT)["loaf"].stock_available == 100
    assert_instalment_book_agrees(market)
