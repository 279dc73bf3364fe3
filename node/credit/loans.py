"""A merchant loan's arithmetic and life, as pure functions (node.credit.lending does the writing).

    fee          principal x fee_bp / 10 000, rounded down (the bank's policy sets fee_bp)
    owed         principal + fee; the merchant receives the principal
    repayment    of an incoming credit: credit x repayment_share_bp / 10 000, rounded down,
                 never more than is owed (so a loan never repays more than it is owed)
    schedule     one date a month (30 days) up to the term, each with the cumulative
                 amount that should be repaid by then (owed x k / n, rounded up)
    status       CURRENT -> OVERDUE when no repayment came for overdue_after_days or the
                 term has passed; -> NON_PERFORMING after non_performing_after_days without
                 a repayment, or that many days past the term less overdue_after_days.
                 A repayment cures an OVERDUE loan (within the term); NON_PERFORMING stays
                 until the loan is repaid in full. REPAID is final. A repayment is judged
                 after the days before it (after_repayment): a quiet spell nobody marked yet
                 still counts.

The days are counted from the later of the disbursement and the last repayment.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from node.credit.features import BASIS_POINTS, DAY_MS
from node.credit.store import CURRENT, NON_PERFORMING, OVERDUE, REPAID

SCHEDULE_STEP_DAYS = 30


def fee_of(principal_minor: int, fee_bp: int) -> int:
    return principal_minor * fee_bp // BASIS_POINTS


def repayment_of(credit_minor: int, *, share_bp: int, outstanding_minor: int) -> int:
    """What an incoming credit repays: the share, capped at what is still owed."""
    assert credit_minor > 0 and 0 < share_bp <= BASIS_POINTS and outstanding_minor >= 0
    return min(credit_minor * share_bp // BASIS_POINTS, outstanding_minor)


@dataclass(frozen=True, slots=True)
class Installment:
    installment: int            # 1..n
    due_at_unix_ms: int
    cumulative_due_minor: int   # Repaid by then, in all.


def schedule(*, owed_minor: int, disbursed_at_ms: int, term_days: int) -> tuple[Installment, ...]:
    count = -(-term_days // SCHEDULE_STEP_DAYS)
    installments = []
    for k in range(1, count + 1):
        days = min(k * SCHEDULE_STEP_DAYS, term_days)
        installments.append(Installment(installment=k, due_at_unix_ms=disbursed_at_ms + days * DAY_MS,
                                        cumulative_due_minor=-(-owed_minor * k // count)))
    assert installments[-1].cumulative_due_minor == owed_minor
    return tuple(installments)


def due_by(installments: tuple[Installment, ...] | list[Installment], now_ms: int) -> int:
    """What the schedule expects to have been repaid by now_ms."""
    return max((item.cumulative_due_minor for item in installments if item.due_at_unix_ms <= now_ms), default=0)


@dataclass(frozen=True, slots=True)
class LoanClock:
    """What status_at needs to know about one loan."""
    status: str
    outstanding_minor: int
    disbursed_at_ms: int
    last_repaid_at_ms: int | None
    maturity_at_ms: int
    overdue_after_days: int
    non_performing_after_days: int


def status_at(loan: LoanClock, now_ms: int) -> str:
    """The loan's status at now_ms (see the module docstring)."""
    if loan.outstanding_minor == 0:
        return REPAID
    if loan.status in (NON_PERFORMING, REPAID):
        return loan.status
    quiet_days = (now_ms - max(loan.disbursed_at_ms, loan.last_repaid_at_ms or 0)) // DAY_MS
    days_past_term = (now_ms - loan.maturity_at_ms) // DAY_MS if now_ms > loan.maturity_at_ms else None
    grace_after_term_days = loan.non_performing_after_days - loan.overdue_after_days
    if quiet_days >= loan.non_performing_after_days or (
            days_past_term is not None and days_past_term >= grace_after_term_days):
        return NON_PERFORMING
    if quiet_days >= loan.overdue_after_days or days_past_term is not None:
        return OVERDUE
    return CURRENT


def after_repayment(before: LoanClock, *, outstanding_after_minor: int, now_ms: int) -> tuple[str, bool]:
    """The status once a repayment lands at now_ms, and whether the loan was overdue by then.

    The days before the repayment are judged first (the review worker may not have seen
    them yet): a loan already non-performing stays so unless this repays it in full, and a
    loan already overdue is marked as having been overdue even when this cures it.
    """
    status_before = status_at(before, now_ms)
    if outstanding_after_minor == 0:
        status = REPAID
    elif status_before == NON_PERFORMING:
        status = NON_PERFORMING
    else:
        status = status_at(replace(before, status=CURRENT, outstanding_minor=outstanding_after_minor,
                                   last_repaid_at_ms=now_ms), now_ms)
    return status, OVERDUE in (status_before, status) or NON_PERFORMING in (status_before, status)


def clock_of(row, *, status: str, outstanding_minor: int, last_repaid_at_ms: int | None) -> LoanClock:
    """A loan row's clock, with what may have changed since the row was read."""
    return LoanClock(
        status=status, outstanding_minor=outstanding_minor,
        disbursed_at_ms=row.disbursed_at_unix_ms, last_repaid_at_ms=last_repaid_at_ms,
        maturity_at_ms=row.maturity_at_unix_ms, overdue_after_days=row.overdue_after_days,
        non_performing_after_days=row.non_performing_after_days)
