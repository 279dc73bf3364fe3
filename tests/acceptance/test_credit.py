"""Merchant credit through real nodes over mTLS: a merchant at bank B, scored on the sales B's
node saw, borrows; sales to buyers at A (interbank, through the clearing, over several settled
windows) and at B (book releases) repay it; a refund, a payoff; nobody else sees the loan."""
from __future__ import annotations

import time
import uuid

import pytest

from fedmall.v1 import credit_pb2 as cr, marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from tests.acceptance.credit_world import (
    ANN, BOB, MERCHANT, PRICE, SELLER, assert_loan_book_agrees, credit, loan_of, provision, sell, settle_window,
    settlement_balance)
from tests.node.market.world import eur, world_market  # noqa: F401
from tests.support.credit import permissive_policy
from tests.support.federation import wait_until

@pytest.fixture
def market(world_market, tmp_path):  # noqa: F811
    return provision(world_market(credit_policy_path=permissive_policy(tmp_path)))


def test_a_merchant_borrows_on_its_trade_and_repays_from_interbank_and_book_sales(market):
    for buyer in (ANN, ANN, BOB, BOB):
        sell(market, buyer, paid_minor=PRICE)

    # Scored on what bank B's node saw: 4 sales of 300.00, half the buyers at another bank.
    offer = credit(market).GetCreditOffer(cr.GetCreditOfferRequest(merchant_id=MERCHANT))
    assert offer.result == rc.RESULT_CODE_OK, offer
    points = {line.feature: line.points for line in offer.offer.scores}
    assert offer.offer.features["gross_sales_minor_90d"] == 120_000
    assert offer.offer.features["cross_bank_buyer_share_bp"] == 5_000
    assert offer.offer.features["on_time_shipping_rate_bp"] == 10_000
    assert (points["refund_rate_bp"], points["on_time_shipping_rate_bp"], points["cross_bank_buyer_share_bp"]) == (
        15, 10, 10)
    assert (offer.offer.total_points, offer.offer.grade, list(offer.offer.knockouts)) == (55, "C", [])
    assert (offer.offer.limit.amount_minor, offer.offer.fee_bp) == (40_000, 400)   # 120 000 / 3 x 1.0.

    over = credit(market).ApplyForLoan(cr.ApplyForLoanRequest(
        application_id=str(uuid.uuid4()), merchant_id=MERCHANT, amount=eur(40_001)))
    assert over.result == rc.RESULT_CODE_CREDIT_LIMIT_EXCEEDED and "above the 400.00 EUR available" in over.detail
    application_id = str(uuid.uuid4())
    approved = credit(market).ApplyForLoan(cr.ApplyForLoanRequest(
        application_id=application_id, merchant_id=MERCHANT, amount=eur(40_000)))
    assert approved.result == rc.RESULT_CODE_OK, approved
    assert (approved.loan.principal.amount_minor, approved.loan.fee.amount_minor,
            approved.loan.outstanding.amount_minor) == (40_000, 1_600, 41_600)
    assert settlement_balance(market) == 4 * PRICE + 40_000

    # Sales repay 20 %: inside bank B (a book release), and across banks (the clearing's commit),
    # one interbank sale per settlement window, each window reconciled and settled.
    at_home = sell(market, BOB, paid_minor=PRICE - 6_000)
    for _ in range(3):
        across = sell(market, ANN, paid_minor=PRICE - 6_000)
        settle_window(market)
    loan = loan_of(market, application_id)
    assert (loan.loan.repaid.amount_minor, loan.loan.outstanding.amount_minor) == (24_000, 17_600)
    assert [(line.kind, line.entry_id.split(":")[0], line.credit.amount_minor, line.amount.amount_minor)
            for line in loan.statement] == [("DISBURSED", "disburse", 0, 41_600), ("SALES", "release", PRICE, 6_000)] \
        + [("SALES", "receive", PRICE, 6_000)] * 3
    assert_loan_book_agrees(market)

    # A full refund of a sale that partly repaid the loan: the repayment stands, the merchant's
    # account pays the whole refund, the loan record is unchanged.
    before = settlement_balance(market)
    refund = market.market(SELLER).RefundOrder(mp.RefundOrderRequest(
        refund_id=str(uuid.uuid4()), merchant_id=MERCHANT, order_id=across, amount=eur(PRICE), reason="stale"))
    assert refund.result == rc.RESULT_CODE_OK, refund
    market.wait_buyer_state(*ANN, across, mp.ORDER_STATE_REFUNDED)
    assert settlement_balance(market) == before - PRICE
    assert loan_of(market, application_id).loan.outstanding.amount_minor == 17_600
    # The same inside bank B (a book refund), in part.
    refund = market.market(SELLER).RefundOrder(mp.RefundOrderRequest(
        refund_id=str(uuid.uuid4()), merchant_id=MERCHANT, order_id=at_home, amount=eur(10_000), reason="crushed"))
    assert refund.result == rc.RESULT_CODE_OK, refund
    assert settlement_balance(market) == before - PRICE - 10_000
    assert loan_of(market, application_id).loan.outstanding.amount_minor == 17_600
    assert_loan_book_agrees(market)

    # Nobody else sees it: another merchant, or another bank's node.
    assert loan_of(market, application_id, "florist").result == rc.RESULT_CODE_LOAN_UNKNOWN
    assert list(credit(market).ListLoans(cr.ListLoansRequest(merchant_id="florist")).loans) == []
    intruder = credit(market, as_bank="bank-a")
    assert intruder.GetCreditOffer(cr.GetCreditOfferRequest(merchant_id=MERCHANT)).result == rc.RESULT_CODE_FORBIDDEN
    assert intruder.GetLoanBook(cr.GetLoanBookRequest()).result == rc.RESULT_CODE_FORBIDDEN
    assert intruder.GetLoan(cr.GetLoanRequest(merchant_id=MERCHANT, loan_id=application_id)).result == \
        rc.RESULT_CODE_FORBIDDEN

    # Early payoff, then sales reach the merchant whole.
    before = settlement_balance(market)
    paid = credit(market).PayOffLoan(cr.PayOffLoanRequest(merchant_id=MERCHANT, loan_id=application_id))
    assert (paid.result, paid.loan.status, paid.loan.outstanding.amount_minor) == (
        rc.RESULT_CODE_OK, cr.LOAN_STATUS_REPAID, 0)
    assert settlement_balance(market) == before - 17_600
    sell(market, BOB, paid_minor=PRICE)
    assert [line.kind for line in loan_of(market, application_id).statement] == [
        "DISBURSED"] + ["SALES"] * 4 + ["PAYOFF"]
    assert_loan_book_agrees(market)
    market.assert_invariants()


def test_the_review_worker_marks_a_quiet_loan_overdue_when_the_node_starts_later(market, tmp_path):
    """No repayment for 31 days: the node's loan-review worker, first run at start, marks the
    loan OVERDUE and the merchant's limit drops to zero."""
    for buyer in (ANN, BOB, BOB):
        sell(market, buyer, paid_minor=PRICE)
    loan_id = str(uuid.uuid4())
    assert credit(market).ApplyForLoan(cr.ApplyForLoanRequest(
        application_id=loan_id, merchant_id=MERCHANT, amount=eur(10_000))).result == rc.RESULT_CODE_OK

    market.stop_node(SELLER)
    market.start_node(SELLER, clock=lambda: time.time() + 31 * 86_400,
                      credit_policy_path=permissive_policy(tmp_path))
    wait_until(lambda: loan_of(market, loan_id).loan.status == cr.LOAN_STATUS_OVERDUE)
    offer = credit(market).GetCreditOffer(cr.GetCreditOfferRequest(merchant_id=MERCHANT)).offer
    assert [knockout.rule for knockout in offer.knockouts] == ["overdue_loan"]
    assert (offer.limit.amount_minor, offer.available.amount_minor) == (0, 0)
    book = credit(market).GetLoanBook(cr.GetLoanBookRequest()).totals[0]
    assert book.overdue.amount_minor == book.outstanding.amount_minor == 10_400
