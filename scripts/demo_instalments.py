"""The demo's instalment and review act, after the shopping rounds.

    refuse     a buyer at the first bank asks for 5 instalments: the bank offers 3, 6 and 12
               (INSTALMENTS_TERM_NOT_OFFERED), and nothing changes
    finance    the buyer checks out a product of another bank's merchant in 6 monthly instalments:
               the buyer's bank funds the escrow from @consumer-lending (the 2.5 % fee is the
               bank's), the buyer's balance does not move; the schedule is shown
    complete   the merchant ships, the buyer confirms: the merchant is paid in full, across banks
    review     the buyer rates the order 5 of 5; the buyer's bank signs it and the seller's bank
               takes it; a second review of the same order is refused (REVIEW_ALREADY_GIVEN); the
               product shows its rating in search
    collect    the bank's collection pass as of 30 and 60 days later (what the node's worker does
               on those days): run by the demo against the bank's database with the clock driven
               forward; two instalments are collected from the buyer's account
    read back  the plan and the bank's instalment book: the buyer's debt is what the open
               instalments add up to, and minus @consumer-lending

Only the outcomes are printed by the caller: lines() gives its story, instalment_document() the
JSON, instalment_checks() the invariants.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from demo_market import FINAL_WAIT_S, POLL_INTERVAL_S, GOODS, MarketResult, _ok
from federation import Books, Federation
from invariants import Check

from fedmall.database import make_engine
from fedmall.money import format_money
from fedmall.results import name_of
from fedmall.v1 import credit_pb2 as cr, marketplace_pb2 as mp, node_pb2

from node.credit.instalments import InstalmentService

CONSUMER_POLICY_FILE = Path(__file__).resolve().with_name("demo_consumer_policy.toml")
CONSUMER_POLICY_IN_BUNDLE = "consumer_policy.toml"     # Each bank's copy, next to its fedmall.toml.
INSTALMENTS, REFUSED_INSTALMENTS = 6, 5
COLLECTION_DAYS = (30, 60)
DAY_S = 86_400
RATING, REVIEW_TEXT = 5, "Arrived well packed"


@dataclass
class Instalments:
    bank_id: str
    buyer: str
    currency: str
    title: str                          # The product bought.
    refused: str                        # The result of the refused checkout.
    balance_unchanged_on_refusal: bool
    balance_before_minor: int
    balance_after_minor: int
    order: mp.Order                     # The financed order, final (the buyer's view).
    opened: cr.InstalmentPlan
    collected: cr.InstalmentPlan        # After the collections.
    review: str
    review_delivered: bool
    second_review: str
    product_rating: tuple[int, int]     # (count, average x 100) as search shows it.
    book: cr.GetInstalmentBookResponse

    def as_market(self) -> MarketResult:
        """The financed order as one of the marketplace's orders (it moved money between banks)."""
        return MarketResult(orders={self.order.order_id: self.order})


def run_instalments(federation: Federation, buyer: tuple[str, str], *, currency: str) -> Instalments:
    bank_id, account = buyer
    market, credit = federation.market_stub(bank_id), federation.credit_stub(bank_id)
    product = _product_elsewhere(federation, bank_id)
    item = mp.CartItem(seller_bank_id=product.bank_id, merchant_id=product.merchant_id, sku=product.sku, quantity=1,
                       unit_price=product.price)
    balance_before = _balance(federation, bank_id, account)
    refused = market.Checkout(mp.CheckoutRequest(checkout_id=str(uuid.uuid4()), buyer_account_id=account,
                                                 items=[item], instalments=REFUSED_INSTALMENTS))
    unchanged = _balance(federation, bank_id, account) == balance_before
    checkout = market.Checkout(mp.CheckoutRequest(checkout_id=str(uuid.uuid4()), buyer_account_id=account,
                                                  items=[item], instalments=INSTALMENTS))
    _ok(checkout)
    order = checkout.orders[0]
    opened = _plan(credit, account, order.order_id)
    order = _complete(federation, order)
    review = market.ReviewOrder(mp.ReviewOrderRequest(buyer_account_id=account, order_id=order.order_id,
                                                      rating=RATING, text=REVIEW_TEXT))
    second = market.ReviewOrder(mp.ReviewOrderRequest(buyer_account_id=account, order_id=order.order_id,
                                                      rating=1, text="changed my mind"))
    rated = _product_elsewhere(federation, bank_id, sku=product.sku, merchant_id=product.merchant_id)
    for days in COLLECTION_DAYS:
        collect_as_of(federation, bank_id, days=days)
    return Instalments(
        bank_id=bank_id, buyer=account, currency=currency, title=product.title, refused=name_of(refused.result),
        balance_unchanged_on_refusal=unchanged, balance_before_minor=balance_before,
        balance_after_minor=_balance(federation, bank_id, account), order=order, opened=opened,
        collected=_plan(credit, account, order.order_id), review=name_of(review.result),
        review_delivered=review.delivered, second_review=name_of(second.result),
        product_rating=(rated.rating_count, rated.rating_average_centi),
        book=credit.GetInstalmentBook(cr.GetInstalmentBookRequest()))


def collect_as_of(federation: Federation, bank_id: str, *, days: int) -> None:
    """One collection pass of the bank's instalments as of `days` from now, on its database: what its
    node's worker does that day (collection is idempotent and takes the same row locks)."""
    engine = make_engine(federation.node_url(bank_id))
    try:
        service = InstalmentService(engine, policy=None, clock=lambda: time.time() + days * DAY_S)
        while service.collect_step():
            pass
    finally:
        engine.dispose()


def _product_elsewhere(federation: Federation, bank_id: str, *, sku: str = "", merchant_id: str = "") -> mp.Product:
    """A product of another bank's merchant, as bank_id's search shows it (that one, if named)."""
    market = federation.market_stub(bank_id)
    for word, *_ in GOODS:
        for product in market.Search(mp.SearchRequest(query=word, page_size=20)).products:
            if product.bank_id != bank_id and (not sku or (product.sku, product.merchant_id) == (sku, merchant_id)):
                return product
    raise RuntimeError(f"no product of another bank found from {bank_id}")


def _balance(federation: Federation, bank_id: str, account: str) -> int:
    return federation.node_stub(bank_id).GetAccount(node_pb2.GetAccountRequest(account_id=account)).balance.amount_minor


def _plan(credit, account: str, plan_id: str) -> cr.InstalmentPlan:
    response = credit.GetInstalmentPlan(cr.GetInstalmentPlanRequest(buyer_account_id=account, plan_id=plan_id))
    _ok(response)
    return response.plan


def _complete(federation: Federation, order: mp.Order) -> mp.Order:
    """Ship, confirm, and wait until both banks see the order completed."""
    buyer, seller = federation.market_stub(order.buyer_bank_id), federation.market_stub(order.seller_bank_id)
    _ok(seller.ShipOrder(mp.ShipOrderRequest(merchant_id=order.merchant_id, order_id=order.order_id,
                                             tracking_reference=f"TRK-{order.order_id[:8]}")))
    _wait(lambda: buyer.GetOrder(mp.GetOrderRequest(order_id=order.order_id, buyer_account_id=order.buyer_account_id))
          .order.state == mp.ORDER_STATE_SHIPPED)
    _ok(buyer.ConfirmReceipt(mp.ConfirmReceiptRequest(buyer_account_id=order.buyer_account_id,
                                                      order_id=order.order_id)))
    _wait(lambda: seller.GetOrder(mp.GetOrderRequest(order_id=order.order_id, merchant_id=order.merchant_id))
          .order.state == mp.ORDER_STATE_COMPLETED)
    return buyer.GetOrder(mp.GetOrderRequest(order_id=order.order_id, buyer_account_id=order.buyer_account_id)).order


def _wait(done) -> None:
    deadline = time.monotonic() + FINAL_WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("the financed order did not complete in time")
        time.sleep(POLL_INTERVAL_S)


# Telling and checking ---------------------------------------------------------------------------


def _collected_minor(plan: cr.InstalmentPlan) -> int:
    return sum(item.collected.amount_minor for item in plan.schedule)


def _open_minor(plan: cr.InstalmentPlan) -> int:
    return sum(item.amount.amount_minor - item.collected.amount_minor for item in plan.schedule
               if item.status in (cr.INSTALMENT_STATUS_SCHEDULED, cr.INSTALMENT_STATUS_LATE))


def lines(result: Instalments) -> list[tuple[bool, str]]:
    money = lambda minor: format_money(minor, result.currency)  # noqa: E731
    plan, after = result.opened, result.collected
    schedule = ", ".join(f"{money(item.amount.amount_minor)} on day {(item.due_at_unix_ms - plan.opened_at_unix_ms) // 86_400_000}"
                         for item in plan.schedule)
    return [
        (result.refused == "INSTALMENTS_TERM_NOT_OFFERED" and result.balance_unchanged_on_refusal,
         f"{result.buyer} at {result.bank_id} asked for {REFUSED_INSTALMENTS} instalments: {result.refused}, "
         "nothing changed"),
        (plan.status == cr.PLAN_STATUS_ACTIVE,
         f"{result.buyer} bought a {result.title} from {result.order.merchant_id} at "
         f"{result.order.seller_bank_id} in {plan.instalments} instalments: {result.bank_id} funded the escrow of "
         f"{money(plan.principal.amount_minor)} (fee {money(plan.fee.amount_minor)}); schedule {schedule}"),
        (result.order.state == mp.ORDER_STATE_COMPLETED,
         f"the merchant shipped, the buyer confirmed: paid {money(result.order.total.amount_minor)} in full"),
        (result.review == "OK" and result.review_delivered and result.second_review == "REVIEW_ALREADY_GIVEN",
         f"the buyer rated the order {RATING} of 5, signed by {result.bank_id} and taken by "
         f"{result.order.seller_bank_id}; a second review: {result.second_review}; the product shows "
         f"{result.product_rating[1] / 100:.2f} of 5 from {result.product_rating[0]} review(s)"),
        (_collected_minor(after) == result.balance_before_minor - result.balance_after_minor,
         f"collections as of days {' and '.join(map(str, COLLECTION_DAYS))}: {money(_collected_minor(after))} "
         f"collected from {result.buyer}'s account, {money(after.outstanding.amount_minor)} still owed"),
    ]


def instalment_checks(result: Instalments, books: Books) -> list[Check]:
    after, currency = result.collected, result.currency
    lending_minor = -books.ledgers[result.bank_id]["internal_balances_minor"].get(f"@consumer-lending/{currency}", 0)
    owed = [totals for totals in result.book.totals if totals.currency == currency]
    book_outstanding = owed[0].outstanding.amount_minor if owed else 0
    book_lending = owed[0].lending_account.amount_minor if owed else 0
    debt_ok = after.outstanding.amount_minor == _open_minor(after) == book_outstanding == book_lending == lending_minor
    collected = [item.number for item in after.schedule if item.status == cr.INSTALMENT_STATUS_COLLECTED]
    as_expected = (result.refused == "INSTALMENTS_TERM_NOT_OFFERED" and result.balance_unchanged_on_refusal
                   and collected == list(range(1, len(COLLECTION_DAYS) + 1))
                   and _collected_minor(after) == result.balance_before_minor - result.balance_after_minor
                   and result.order.state == mp.ORDER_STATE_COMPLETED and result.review_delivered
                   and result.second_review == "REVIEW_ALREADY_GIVEN" and result.product_rating[0] >= 1)
    return [
        Check("instalment_books_agree", "the buyer's debt and the bank's lending books balance", debt_ok,
              f"{result.bank_id}: plan outstanding {format_money(after.outstanding.amount_minor, currency)}, open "
              f"instalments {format_money(_open_minor(after), currency)}, book {format_money(book_outstanding, currency)}"
              f", -@consumer-lending {format_money(lending_minor, currency)}"),
        Check("instalments_as_expected", "instalments and reviews ended as expected", as_expected,
              f"refusal {result.refused}; instalments collected {collected}; review {result.review} "
              f"(delivered {result.review_delivered}), again {result.second_review}; rating {result.product_rating}"),
    ]


def instalment_document(result: Instalments) -> dict:
    return dict(
        bank_id=result.bank_id, buyer=result.buyer, order_id=result.order.order_id, refused=result.refused,
        instalments=result.opened.instalments, financed_minor=result.opened.principal.amount_minor,
        fee_minor=result.opened.fee.amount_minor,
        schedule=[dict(number=item.number, due_at_unix_ms=item.due_at_unix_ms, amount_minor=item.amount.amount_minor,
                       status=cr.InstalmentStatus.Name(item.status).removeprefix("INSTALMENT_STATUS_"))
                  for item in result.collected.schedule],
        collected_minor=_collected_minor(result.collected), outstanding_minor=result.collected.outstanding.amount_minor,
        review=result.review, second_review=result.second_review,
        product_rating=dict(count=result.product_rating[0], average_centi=result.product_rating[1]))
