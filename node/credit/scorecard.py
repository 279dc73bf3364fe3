"""The credit decision for one merchant: a transparent points scorecard. Pure.

    features (node.credit.features) + policy (node.credit.policy)
      -> each scored feature: value, its band, weight x band points = contribution
      -> total = sum of contributions -> grade (the first whose points_min the total reaches)
      -> knockouts (each with its reason): any one declines; the policy's rules, and always a
         suspended merchant and an overdue or non-performing loan
      -> limit = min(monthly sales x grade multiple, grade cap), rounded down; 0 when declined

Monthly sales are net_sales_minor_90d // 3 (90 days counted as three months).
"""
from __future__ import annotations

from dataclasses import dataclass

from fedmall.money import format_money

from node.credit.features import BASIS_POINTS, TradeFeatures
from node.credit.policy import Band, CreditPolicy, Grade

# Knockout rules: stable names for commands and tests.
SUSPENDED = "suspended"
TOO_NEW = "too_new"
SALES_TOO_LOW = "sales_too_low"
REFUND_RATE_TOO_HIGH = "refund_rate_too_high"
OVERDUE_LOAN = "overdue_loan"
NON_PERFORMING_LOAN = "non_performing_loan"
MONTHS_PER_90_DAYS = 3


@dataclass(frozen=True, slots=True)
class ScoreLine:
    feature: str
    value: int
    band: Band
    weight: int
    contribution: int       # weight x band.points.


@dataclass(frozen=True, slots=True)
class Knockout:
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class CreditDecision:
    merchant_id: str
    currency: str
    policy_name: str
    lines: tuple[ScoreLine, ...]
    total_points: int
    grade: str
    knockouts: tuple[Knockout, ...]
    monthly_sales_minor: int
    limit_minor: int        # 0 when declined.
    available_minor: int    # limit_minor less the loan balance, never below 0.
    fee_bp: int

    @property
    def declined(self) -> bool:
        return bool(self.knockouts) or self.limit_minor == 0


def band_of(bands: tuple[Band, ...], value: int) -> Band:
    """The one band holding value; validated bands cover 0 and up."""
    for band in bands:
        if band.holds(value):
            return band
    raise AssertionError(f"no band holds {value}: the policy was not validated")


def grade_of(grades: tuple[Grade, ...], total_points: int) -> Grade:
    for grade in grades:
        if grade.points_min is None or total_points >= grade.points_min:
            return grade
    raise AssertionError("the last grade has no points_min: the policy was not validated")


def knockouts_of(features: TradeFeatures, policy: CreditPolicy) -> tuple[Knockout, ...]:
    rules = policy.knockouts
    found = []
    if features.suspended:
        found.append(Knockout(SUSPENDED, "the merchant is suspended"))
    if features.tenure_days < rules.tenure_days_min:
        found.append(Knockout(TOO_NEW, f"onboarded {features.tenure_days} days ago; the minimum is "
                                       f"{rules.tenure_days_min}"))
    if features.gross_sales_minor_90d < rules.gross_sales_minor_90d_min:
        found.append(Knockout(SALES_TOO_LOW, f"sales of {format_money(features.gross_sales_minor_90d, features.currency)} "
                                             f"in 90 days; the minimum is "
                                             f"{format_money(rules.gross_sales_minor_90d_min, features.currency)}"))
    if features.refund_rate_bp > rules.refund_rate_bp_max:
        found.append(Knockout(REFUND_RATE_TOO_HIGH, f"refund rate {features.refund_rate_bp} bp over the cut-off "
                                                    f"{rules.refund_rate_bp_max} bp"))
    if features.loans_overdue > 0:
        found.append(Knockout(OVERDUE_LOAN, f"{features.loans_overdue} loan(s) overdue"))
    if features.loans_non_performing > 0:
        found.append(Knockout(NON_PERFORMING_LOAN, f"{features.loans_non_performing} loan(s) non-performing"))
    return tuple(found)


def score(features: TradeFeatures, policy: CreditPolicy) -> CreditDecision:
    assert features.currency == policy.currency, "features must be computed in the policy's currency"
    lines = []
    for entry in policy.scorecard:
        value = getattr(features, entry.feature)
        band = band_of(entry.bands, value)
        lines.append(ScoreLine(feature=entry.feature, value=value, band=band, weight=entry.weight,
                               contribution=entry.weight * band.points))
    total_points = sum(line.contribution for line in lines)
    grade = grade_of(policy.grades, total_points)
    knockouts = knockouts_of(features, policy)
    monthly_sales_minor = max(0, features.net_sales_minor_90d) // MONTHS_PER_90_DAYS
    limit_minor = 0
    if not knockouts:
        multiple_minor = monthly_sales_minor * grade.sales_multiple_bp // BASIS_POINTS
        capped_minor = min(multiple_minor, grade.limit_max_minor)
        limit_minor = capped_minor - capped_minor % policy.limit_round_down_to_minor
    assert 0 <= limit_minor <= grade.limit_max_minor
    return CreditDecision(
        merchant_id=features.merchant_id, currency=features.currency, policy_name=policy.name, lines=tuple(lines),
        total_points=total_points, grade=grade.name, knockouts=knockouts, monthly_sales_minor=monthly_sales_minor,
        limit_minor=limit_minor, available_minor=max(0, limit_minor - features.current_loan_balance_minor),
        fee_bp=grade.fee_bp)
