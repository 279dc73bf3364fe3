"""A consumer instalment plan's arithmetic and rules, as pure functions (node.credit.instalments
does the reading and writing).

    fee          financed total x the term's fee_bp / 10 000, rounded down
    owed         total + fee
    schedule     N instalments, one every 30 days from checkout; instalment k is
                 owed x k // N - owed x (k - 1) // N, so they add up to owed exactly
    decision     a checkout with N instalments is refused, in this order: the term is not
                 offered (INSTALMENTS_TERM_NOT_OFFERED); the account is too young, its inflows
                 of the last 90 days too small, or a plan of the buyer is LATE or DEFAULTED
                 (INSTALMENTS_NOT_ELIGIBLE); what the buyer's open plans owe plus this cart's
                 owed would pass the limit (INSTALMENTS_LIMIT_EXCEEDED)
    short        an instalment due and not collected (the balance is short): tried again
                 retry_after_hours later; late_after_days after its due date it is LATE and
                 the late fee is added to it (once); default_after_days after its due date the
                 plan DEFAULTS
    pay down     a refund of a financed order pays the debt down from the last instalment
                 backwards (shrink), so the next ones stay as they were
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fedmall.money import format_money
from fedmall.v1 import result_pb2

from node.credit.consumer_policy import HOUR_MS, ConsumerPolicy
from node.credit.features import BASIS_POINTS, DAY_MS

INSTALMENT_STEP_DAYS = 30


def fee_of(total_minor: int, fee_bp: int) -> int:
    return total_minor * fee_bp // BASIS_POINTS


@dataclass(frozen=True, slots=True)
class Due:
    number: int             # 1..N
    due_at_unix_ms: int
    amount_minor: int


def schedule(*, owed_minor: int, opened_at_ms: int, instalments: int) -> tuple[Due, ...]:
    assert owed_minor > 0 and instalments > 0
    dues = tuple(Due(number=k, due_at_unix_ms=opened_at_ms + k * INSTALMENT_STEP_DAYS * DAY_MS,
                     amount_minor=owed_minor * k // instalments - owed_minor * (k - 1) // instalments)
                 for k in range(1, instalments + 1))
    assert sum(due.amount_minor for due in dues) == owed_minor
    return dues


@dataclass(frozen=True, slots=True)
class BuyerHistory:
    """What the policy judges a buyer on, read from this bank's own books."""
    account_age_days: int
    inflows_minor_90d: int
    owed_minor: int             # What the buyer's open plans owe now.
    plans_in_arrears: int       # Plans LATE or DEFAULTED.


@dataclass(frozen=True, slots=True)
class Refusal:
    code: int
    reason: str


def refusal(policy: ConsumerPolicy | None, history: BuyerHistory, *, instalments: int,
            owed_minor: int) -> Refusal | None:
    """Why a checkout owing owed_minor (totals plus fees) in instalments is refused; None: it is not."""
    if policy is None or policy.term(instalments) is None:
        offered = ", ".join(str(term.instalments) for term in policy.terms) if policy else "none"
        return Refusal(result_pb2.RESULT_CODE_INSTALMENTS_TERM_NOT_OFFERED,
                       f"{instalments} instalments are not offered (offered: {offered})")
    reasons = []
    if history.account_age_days < policy.account_age_days_min:
        reasons.append(f"the account is {history.account_age_days} days old, under "
                       f"{policy.account_age_days_min}")
    if history.inflows_minor_90d < policy.inflows_minor_90d_min:
        reasons.append(f"{format_money(history.inflows_minor_90d, policy.currency)} came in over 90 days, under "
                       f"{format_money(policy.inflows_minor_90d_min, policy.currency)}")
    if history.plans_in_arrears:
        reasons.append(f"{history.plans_in_arrears} plan(s) in arrears")
    if reasons:
        return Refusal(result_pb2.RESULT_CODE_INSTALMENTS_NOT_ELIGIBLE, "; ".join(reasons))
    limit_minor = policy.limit_minor(history.inflows_minor_90d)
    if history.owed_minor + owed_minor > limit_minor:
        available = max(limit_minor - history.owed_minor, 0)
        return Refusal(result_pb2.RESULT_CODE_INSTALMENTS_LIMIT_EXCEEDED,
                       f"{format_money(owed_minor, policy.currency)} is above the "
                       f"{format_money(available, policy.currency)} available (limit "
                       f"{format_money(limit_minor, policy.currency)})")
    return None


@dataclass(frozen=True, slots=True)
class ShortBalance:
    """What a failed collection attempt leads to."""
    next_attempt_at_unix_ms: int
    late: bool                  # The instalment is (now) LATE.
    add_late_fee_minor: int     # Added to the instalment now (0: none, or added before).
    defaulted: bool             # The plan defaults now.


def after_short_balance(*, due_at_ms: int, was_late: bool, now_ms: int, retry_after_ms: int, late_after_days: int,
                        late_fee_minor: int, default_after_days: int) -> ShortBalance:
    overdue_days = (now_ms - due_at_ms) // DAY_MS
    late = was_late or overdue_days >= late_after_days
    return ShortBalance(next_attempt_at_unix_ms=now_ms + retry_after_ms, late=late,
                        add_late_fee_minor=late_fee_minor if late and not was_late else 0,
                        defaulted=overdue_days >= default_after_days)


def retry_after_ms(policy: ConsumerPolicy) -> int:
    return policy.retry_after_hours * HOUR_MS


def shrink(amounts_minor: Sequence[int], by_minor: int) -> list[int]:
    """The open instalments' amounts once by_minor is paid down, from the last one backwards."""
    assert 0 <= by_minor <= sum(amounts_minor)
    left, shrunk = by_minor, list(amounts_minor)
    for index in reversed(range(len(shrunk))):
        cut = min(shrunk[index], left)
        shrunk[index] -= cut
        left -= cut
    return shrunk
