"""Trade features, score, grade and limit for hand-made merchant histories (example policy).

Every number below is worked out by hand in the comments; the code must agree.
"""
from __future__ import annotations


import pytest

from node.credit.features import (
    DAY_MS, NO_LOANS, LoanHistory, MerchantRecord, OrderRecord, TradeFeatures, trade_features)
from node.credit.policy import load_policy
from node.credit.scorecard import (
    NON_PERFORMING_LOAN, REFUND_RATE_TOO_HIGH, SALES_TOO_LOW, SUSPENDED, TOO_NEW, score)
from tests.support.credit import EXAMPLE_POLICY

POLICY = load_policy(EXAMPLE_POLICY)
NOW_MS = 2_000 * DAY_MS
HOUR_MS = 3_600_000
BANK = "bank-a"
# Six buyers, two at this bank and four elsewhere: 4/6 cross-bank = 6666 bp (rounded down).
BUYERS = [("bank-a", "a-1"), ("bank-a", "a-2"), ("bank-b", "b-1"), ("bank-b", "b-2"), ("bank-c", "c-1"),
          ("bank-c", "c-2")]


def merchant(*, tenure_days: int, status: str = "ACTIVE") -> MerchantRecord:
    return MerchantRecord(merchant_id="m-1", bank_id=BANK, status=status,
                          created_at_unix_ms=NOW_MS - tenure_days * DAY_MS - 5 * HOUR_MS)


def order(index: int, *, age_days: int, total_minor: int, state: str = "COMPLETED", refunded_minor: int = 0,
          ship_after_hours: int | None = 24, currency: str = "EUR",
          buyer: tuple[str, str] | None = None) -> OrderRecord:
    bank_id, account_id = buyer or BUYERS[index % len(BUYERS)]
    placed_ms = NOW_MS - age_days * DAY_MS
    shipped = state in ("SHIPPED", "COMPLETED", "REFUNDED") and ship_after_hours is not None
    return OrderRecord(order_id=f"o-{index}", buyer_bank_id=bank_id, buyer_account_id=account_id,
                       total_minor=total_minor, refunded_minor=refunded_minor, currency=currency, state=state,
                       placed_at_unix_ms=placed_ms,
                       shipped_at_unix_ms=placed_ms + ship_after_hours * HOUR_MS if shipped else None)


def steady(*, recent_minor: int, prior_minor: int) -> list[OrderRecord]:
    """18 sales, one every 10 days: ages 5..85 (the last 90 days) and 95..175 (the 90 before)."""
    return [order(i, age_days=5 + 10 * i, total_minor=recent_minor if i < 9 else prior_minor) for i in range(18)]


def features_of(merchant_record: MerchantRecord, orders: list[OrderRecord],
                loans: LoanHistory = NO_LOANS) -> TradeFeatures:
    return trade_features(merchant=merchant_record, orders=orders, loans=loans, now_ms=NOW_MS, currency="EUR",
                          ship_within_ms=POLICY.ship_within_ms)


def points(decision) -> dict[str, int]:
    return {line.feature: line.contribution for line in decision.lines}


def good_history() -> list[OrderRecord]:
    orders = steady(recent_minor=200_000, prior_minor=160_000)
    orders[2] = order(2, age_days=25, total_minor=200_000, ship_after_hours=96)       # Shipped late.
    orders[1] = order(1, age_days=15, total_minor=200_000, state="REFUNDED", refunded_minor=20_000)
    return orders + [
        order(50, age_days=50, total_minor=100_000, state="CANCELLED"),              # Not a sale.
        order(51, age_days=1, total_minor=100_000, state="RESERVED"),                # Not shipped yet, not late.
        order(52, age_days=3, total_minor=999_000, currency="USD"),                  # Other currency: ignored.
        order(53, age_days=400, total_minor=500_000),                                # Older than 180 days.
        order(54, age_days=-1, total_minor=500_000),                                 # After now: ignored.
    ]


def test_good_merchant__features_points_grade_a_and_limit():
    loans = LoanHistory(outstanding_minor=200_000, repaid_on_time_count=2, repaid_late_count=0,
                        overdue_count=0, non_performing_count=0)
    features = features_of(merchant(tenure_days=800), good_history(), loans)
    assert features == TradeFeatures(
        merchant_id="m-1", currency="EUR", computed_at_unix_ms=NOW_MS, suspended=False,
        tenure_days=800,
        gross_sales_minor_30d=600_000,             # Ages 5, 15, 25 at 200 000.
        gross_sales_minor_90d=1_800_000,           # 9 x 200 000.
        gross_sales_minor_180d=3_240_000,          # + 9 x 160 000.
        net_sales_minor_90d=1_780_000,             # Less the 20 000 refunded.
        sales_trend_bp=12_500,                     # 1 800 000 / 1 440 000.
        order_count_30d=3, order_count_90d=9, order_count_180d=18,
        average_order_value_minor=180_000,         # 3 240 000 / 18.
        refund_rate_bp=62,                         # 20 000 / 3 240 000 = 61.7 bp, rounded up.
        cancellation_rate_bp=527,                  # 1 / 19 = 526.3 bp, rounded up.
        on_time_shipping_rate_bp=9_444,            # 17 / 18 = 9444.4 bp, rounded down.
        cross_bank_buyer_share_bp=6_666,           # 4 / 6 buyers.
        days_since_last_sale=5,
        current_loan_balance_minor=200_000, loans_repaid_on_time=2, loans_repaid_late=0, loans_overdue=0,
        loans_non_performing=0)
    decision = score(features, POLICY)
    assert points(decision) == {
        "tenure_days": 25, "sales_trend_bp": 15, "gross_sales_minor_90d": 20, "refund_rate_bp": 15,
        "cancellation_rate_bp": 0, "on_time_shipping_rate_bp": 5, "cross_bank_buyer_share_bp": 10,
        "days_since_last_sale": 5, "loans_repaid_late": 0, "rating_average_centi": 0, "rating_count": 0}
    assert decision.total_points == 95
    assert (decision.grade, decision.knockouts, decision.declined) == ("A", (), False)
    assert decision.monthly_sales_minor == 593_333                # 1 780 000 // 3.
    assert decision.limit_minor == 1_186_000                      # x 2.0 = 1 186 666, down to a 1 000.
    assert decision.available_minor == 986_000                    # Less the 200 000 outstanding.
    assert decision.fee_bp == 150


def test_new_merchant__declined_as_too_new_with_a_grade_still_shown():
    orders = [order(i, age_days=5 + 10 * i, total_minor=200_000, buyer=("bank-b", f"b-{i % 2}")) for i in range(4)]
    features = features_of(merchant(tenure_days=40), orders)
    assert (features.tenure_days, features.gross_sales_minor_90d, features.gross_sales_minor_180d) == (
        40, 800_000, 800_000)
    assert features.sales_trend_bp == 10_000                     # Nothing before: flat.
    assert (features.on_time_shipping_rate_bp, features.cross_bank_buyer_share_bp) == (10_000, 10_000)
    decision = score(features, POLICY)
    # 0 + 10 + 10 + 15 + 5 + 10 + 10 + 5 + 0.
    assert decision.total_points == 65 and decision.grade == "B"
    assert [knockout.rule for knockout in decision.knockouts] == [TOO_NEW]
    assert decision.knockouts[0].reason == "onboarded 40 days ago; the minimum is 90"
    assert (decision.limit_minor, decision.available_minor, decision.declined) == (0, 0, True)


def test_high_refund_merchant__declined_for_its_refund_rate():
    orders = good_history()
    for i in (0, 3, 4):                                          # Three recent sales refunded in full.
        orders[i] = order(i, age_days=5 + 10 * i, total_minor=200_000, state="REFUNDED", refunded_minor=200_000)
    features = features_of(merchant(tenure_days=800), orders)
    assert features.refund_rate_bp == 1_914        # 620 000 / 3 240 000 = 1913.6 bp, rounded up.
    assert features.net_sales_minor_90d == 1_180_000
    decision = score(features, POLICY)
    assert points(decision)["refund_rate_bp"] == -15
    assert decision.total_points == 65 and decision.grade == "B"  # 95 - 15 - 15.
    assert [knockout.rule for knockout in decision.knockouts] == [REFUND_RATE_TOO_HIGH]
    assert decision.knockouts[0].reason == "refund rate 1914 bp over the cut-off 1500 bp"
    assert decision.limit_minor == 0 and decision.declined


def test_declining_merchant__lower_grade_and_limit():
    features = features_of(merchant(tenure_days=800), steady(recent_minor=120_000, prior_minor=200_000))
    assert (features.gross_sales_minor_30d, features.gross_sales_minor_90d, features.gross_sales_minor_180d) == (
        360_000, 1_080_000, 2_880_000)
    assert features.sales_trend_bp == 6_000                      # 1 080 000 / 1 800 000.
    assert (features.refund_rate_bp, features.cancellation_rate_bp, features.on_time_shipping_rate_bp) == (
        0, 0, 10_000)
    assert features.average_order_value_minor == 160_000
    decision = score(features, POLICY)
    assert points(decision) == {
        "tenure_days": 25, "sales_trend_bp": -10, "gross_sales_minor_90d": 20, "refund_rate_bp": 15,
        "cancellation_rate_bp": 5, "on_time_shipping_rate_bp": 10, "cross_bank_buyer_share_bp": 10,
        "days_since_last_sale": 5, "loans_repaid_late": 0, "rating_average_centi": 0, "rating_count": 0}
    assert decision.total_points == 80 and decision.grade == "B"
    assert decision.monthly_sales_minor == 360_000
    assert decision.limit_minor == 540_000                       # x 1.5, under the B cap.
    assert decision.fee_bp == 250 and not decision.declined


def test_dormant_suspended_merchant_with_a_bad_loan__every_knockout_named():
    orders = [order(0, age_days=400, total_minor=500_000)]
    loans = LoanHistory(outstanding_minor=50_000, repaid_on_time_count=0, repaid_late_count=1,
                        overdue_count=0, non_performing_count=1)
    features = features_of(merchant(tenure_days=800, status="SUSPENDED"), orders, loans)
    assert features.days_since_last_sale == 400                  # The older sale still counts here.
    assert (features.gross_sales_minor_180d, features.order_count_180d, features.average_order_value_minor) == (
        0, 0, 0)
    decision = score(features, POLICY)
    assert [knockout.rule for knockout in decision.knockouts] == [SUSPENDED, SALES_TOO_LOW, NON_PERFORMING_LOAN]
    assert points(decision)["loans_repaid_late"] == -10          # weight 2 x -5.
    assert decision.limit_minor == 0 and decision.available_minor == 0


def test_features__late_unshipped_order_counts_against_on_time_and_no_sale_means_tenure():
    orders = [order(0, age_days=4, total_minor=100_000, state="RESERVED"),           # 96 h > 72 h: late.
              order(1, age_days=10, total_minor=100_000, state="SHIPPED", ship_after_hours=72),  # On time.
              order(2, age_days=20, total_minor=100_000, state="COMPLETED", ship_after_hours=None)]  # Unknown.
    features = features_of(merchant(tenure_days=100), orders)
    assert features.on_time_shipping_rate_bp == 5_000            # 1 on time / (1 shipped with a time + 1 late).
    assert features.days_since_last_sale == 10
    assert features_of(merchant(tenure_days=100), orders[:1]).days_since_last_sale == 100


def test_features__a_declined_order_is_a_cancellation_and_a_shipment_missed():
    import dataclasses

    orders = [order(0, age_days=10, total_minor=100_000, state="SHIPPED", ship_after_hours=24),      # On time.
              order(1, age_days=12, total_minor=100_000, state="CANCELLED"),                         # By the buyer.
              dataclasses.replace(order(2, age_days=1, total_minor=100_000, state="CANCELLED"), declined=True)]
    features = features_of(merchant(tenure_days=100), orders)
    assert features.cancellation_rate_bp == 6_667               # 2 / (2 + 1 sale), rounded up.
    assert features.on_time_shipping_rate_bp == 5_000           # 1 on time / (1 shipped + 1 declined).


def test_features__trend_is_capped():
    orders = [order(0, age_days=10, total_minor=10_000_000), order(1, age_days=100, total_minor=1_000)]
    assert features_of(merchant(tenure_days=400), orders).sales_trend_bp == 100 * 10_000


def test_score__features_in_another_currency_are_our_bug():
    features = trade_features(merchant=merchant(tenure_days=400), orders=[], loans=NO_LOANS, now_ms=NOW_MS,
                              currency="USD", ship_within_ms=POLICY.ship_within_ms)
    with pytest.raises(AssertionError):
        score(features, POLICY)
