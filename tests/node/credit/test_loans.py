"""node.credit.loans: fee, repayment share, schedule and status, on hand-checked numbers."""
from __future__ import annotations

import pytest

from node.credit.features import DAY_MS
from node.credit.loans import (
    Installment, LoanClock, after_repayment, due_by, fee_of, repayment_of, schedule, status_at)
from node.credit.store import CURRENT, NON_PERFORMING, OVERDUE, REPAID

T0 = 3 * DAY_MS + 1_234   # Not a whole day, and small: now - T0 is neither now % T0 nor now ^ T0.


def test_fee_and_repayment__rounded_down_and_never_more_than_owed():
    assert fee_of(500_000, 250) == 12_500
    assert fee_of(333, 250) == 8                       # 8.325, down.
    assert repayment_of(10_000, share_bp=2_000, outstanding_minor=50_000) == 2_000
    assert repayment_of(999, share_bp=2_000, outstanding_minor=50_000) == 199      # 199.8, down.
    assert repayment_of(10_000, share_bp=2_000, outstanding_minor=1_234) == 1_234  # Capped at what is owed.
    assert repayment_of(4, share_bp=2_000, outstanding_minor=1_234) == 0
    assert repayment_of(10_000, share_bp=10_000, outstanding_minor=50_000) == 10_000


def test_schedule__one_date_a_month_cumulative_amounts_rounded_up_to_the_whole():
    assert schedule(owed_minor=512_500, disbursed_at_ms=T0, term_days=180) == tuple(
        Installment(k, T0 + 30 * k * DAY_MS, due) for k, due in
        enumerate((85_417, 170_834, 256_250, 341_667, 427_084, 512_500), start=1))
    # A term that is not a whole number of months: the last date is the term's end.
    short = schedule(owed_minor=100, disbursed_at_ms=T0, term_days=45)
    assert short == (Installment(1, T0 + 30 * DAY_MS, 50), Installment(2, T0 + 45 * DAY_MS, 100))
    assert due_by(short, T0) == 0
    assert due_by(short, T0 + 30 * DAY_MS) == 50
    assert due_by(short, T0 + 400 * DAY_MS) == 100


def clock(*, status=CURRENT, outstanding=1_000, last_repaid_days=None, term_days=180) -> LoanClock:
    return LoanClock(status=status, outstanding_minor=outstanding, disbursed_at_ms=T0,
                     last_repaid_at_ms=None if last_repaid_days is None else T0 + last_repaid_days * DAY_MS,
                     maturity_at_ms=T0 + term_days * DAY_MS, overdue_after_days=30, non_performing_after_days=90)


@pytest.mark.parametrize("loan, day, expected", [
    (clock(), 29, CURRENT),
    (clock(), 30, OVERDUE),                                     # 30 quiet days since disbursement.
    (clock(last_repaid_days=20), 49, CURRENT),                  # Counted from the last repayment.
    (clock(last_repaid_days=20), 50, OVERDUE),
    (clock(), 90, NON_PERFORMING),
    (clock(last_repaid_days=170), 181, OVERDUE),                # Repaying, but past the term.
    (clock(last_repaid_days=240), 240, NON_PERFORMING),         # 60 days past the term (90 - 30).
    (clock(last_repaid_days=250), 250, NON_PERFORMING),         # 70 days past it.
    (clock(last_repaid_days=215), 220, OVERDUE),                # 40 days past it: not yet 60.
    (clock(), 45, OVERDUE),                                     # Well past 30 quiet days, not yet 90.
    (clock(), 120, NON_PERFORMING),                             # Well past 90.
    (clock(last_repaid_days=170), 180, CURRENT),                # At the term's very end: not past it yet.
    (clock(last_repaid_days=395), 400, NON_PERFORMING),         # Repaying, but 220 days past the term.
    (clock(status=NON_PERFORMING, last_repaid_days=100), 101, NON_PERFORMING),   # Stays until repaid.
    (clock(status=NON_PERFORMING, outstanding=0), 101, REPAID),
    (clock(outstanding=0), 500, REPAID),
])
def test_status_at(loan, day, expected):
    assert status_at(loan, T0 + day * DAY_MS) == expected


def test_schedule__an_odd_number_of_months():
    assert schedule(owed_minor=100, disbursed_at_ms=T0, term_days=90) == (
        Installment(1, T0 + 30 * DAY_MS, 34), Installment(2, T0 + 60 * DAY_MS, 67), Installment(3, T0 + 90 * DAY_MS, 100))


@pytest.mark.parametrize("loan, day, outstanding_after, expected", [
    (clock(), 10, 500, (CURRENT, False)),                       # A part repaid on time.
    (clock(), 10, 0, (REPAID, False)),                          # The rest repaid.
    (clock(), 40, 500, (CURRENT, True)),                        # Cures an overdue loan, which was overdue.
    (clock(), 100, 500, (NON_PERFORMING, True)),                # Non-performing stays so...
    (clock(), 100, 0, (REPAID, True)),                          # ...unless repaid in full.
    (clock(last_repaid_days=170), 185, 500, (OVERDUE, True)),   # Past the term, still owed: overdue.
])
def test_after_repayment(loan, day, outstanding_after, expected):
    assert after_repayment(loan, outstanding_after_minor=outstanding_after, now_ms=T0 + day * DAY_MS) == expected


@pytest.mark.parametrize("credit, share_bp, outstanding", [
    (0, 2_000, 100), (-1, 2_000, 100), (100, 0, 100), (100, -1, 100), (100, 10_001, 100), (100, 2_000, -1)])
def test_repayment_of__arguments_outside_its_domain_are_our_bug(credit, share_bp, outstanding):
    with pytest.raises(AssertionError):
        repayment_of(credit, share_bp=share_bp, outstanding_minor=outstanding)


def test_repayment_of__at_the_edges_of_its_domain():
    assert repayment_of(1, share_bp=10_000, outstanding_minor=5) == 1
    assert repayment_of(10_000, share_bp=1, outstanding_minor=5) == 1
    assert repayment_of(10_000, share_bp=2_000, outstanding_minor=0) == 0


def test_rounding__a_half_minor_unit_goes_to_the_merchant_in_fee_and_repayment():
    assert fee_of(50, 1_000) == 5 and fee_of(55, 1_000) == 5       # 5.5 minor units of fee: 5.
    assert repayment_of(15, share_bp=1_000, outstanding_minor=100) == 1   # 1.5 of a sale repays 1.
    assert repayment_of(5, share_bp=1_000, outstanding_minor=100) == 0    # 0.5: nothing yet.
