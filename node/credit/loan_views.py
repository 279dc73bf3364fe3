"""Reading merchant loans (node.credit.store): one loan with its schedule, its statement, a
merchant's loans, the bank's loan book, and whether the loans agree with the ledger."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from fedmall.database import sum_of
from fedmall.v1 import result_pb2

from node import limits
from node.bank import ledger, store
from node.credit import loans, store as tables
from node.errors import Refused

DISBURSED = "DISBURSED"


@dataclass(frozen=True, slots=True)
class LoanView:
    loan_id: str
    merchant_id: str
    account_id: str
    currency: str
    principal_minor: int
    fee_minor: int
    repaid_minor: int
    outstanding_minor: int
    status: str
    grade: str
    repayment_share_bp: int
    disbursed_at_unix_ms: int
    maturity_at_unix_ms: int
    last_repaid_at_unix_ms: int | None
    closed_at_unix_ms: int | None
    ever_overdue: bool
    schedule: tuple[loans.Installment, ...]
    due_by_now_minor: int


@dataclass(frozen=True, slots=True)
class StatementLine:
    at_unix_ms: int
    kind: str                   # DISBURSED, SALES or PAYOFF.
    entry_id: str
    credit_minor: int
    amount_minor: int
    outstanding_after_minor: int


@dataclass(frozen=True, slots=True)
class BookTotals:
    currency: str
    loans: int
    loans_open: int
    disbursed_minor: int
    fees_minor: int
    repaid_minor: int
    outstanding_minor: int
    overdue_minor: int
    non_performing_minor: int
    lending_account_minor: int  # Minus the @lending balance: equals outstanding_minor when the books agree.

    @property
    def non_performing_ratio_bp(self) -> int:
        return self.non_performing_minor * 10_000 // self.outstanding_minor if self.outstanding_minor else 0


@dataclass(frozen=True, slots=True)
class LoanBook:
    totals: tuple[BookTotals, ...]
    loans: tuple[LoanView, ...]     # Newest first, at most limits.loan_book_listed_max.
    truncated: bool


def loans_query() -> sa.Select:
    """Loans with the grade their application was approved at."""
    applications = tables.loan_applications
    return sa.select(tables.loans, applications.c.grade).join(
        applications, applications.c.application_id == tables.loans.c.loan_id)


def loan_row(connection: sa.Connection, loan_id: str, *, merchant_id: str | None = None, for_update: bool = False):
    """The loan; LOAN_UNKNOWN also when it belongs to another merchant (a merchant sees only its own)."""
    query = loans_query().where(tables.loans.c.loan_id == loan_id)
    if merchant_id is not None:
        query = query.where(tables.loans.c.merchant_id == merchant_id)
    row = connection.execute(query.with_for_update(of=tables.loans) if for_update else query).first()
    if row is None:
        raise Refused(result_pb2.RESULT_CODE_LOAN_UNKNOWN, f"no loan {loan_id!r}"
                      + (f" of merchant {merchant_id!r}" if merchant_id else ""))
    return row


def loan_view(connection: sa.Connection, row, *, now_ms: int, with_schedule: bool = True) -> LoanView:
    installments: tuple[loans.Installment, ...] = ()
    if with_schedule:
        installments = tuple(loans.Installment(item.installment, item.due_at_unix_ms, item.cumulative_due_minor)
                             for item in connection.execute(
                                 sa.select(tables.loan_schedule).where(tables.loan_schedule.c.loan_id == row.loan_id)
                                 .order_by(tables.loan_schedule.c.installment)))
    return LoanView(
        loan_id=row.loan_id, merchant_id=row.merchant_id, account_id=row.account_id, currency=row.currency,
        principal_minor=row.principal_minor, fee_minor=row.fee_minor, repaid_minor=row.repaid_minor,
        outstanding_minor=row.outstanding_minor, status=row.status, grade=row.grade,
        repayment_share_bp=row.repayment_share_bp, disbursed_at_unix_ms=row.disbursed_at_unix_ms,
        maturity_at_unix_ms=row.maturity_at_unix_ms, last_repaid_at_unix_ms=row.last_repaid_at_unix_ms,
        closed_at_unix_ms=row.closed_at_unix_ms, ever_overdue=row.ever_overdue, schedule=installments,
        due_by_now_minor=loans.due_by(installments, now_ms) if installments else 0)


def total_where(column, condition=sa.true()):
    """SUM(column) over the rows where condition holds, 0 when none: one column of a book's totals."""
    return sa.func.coalesce(sum_of(sa.case((condition, column), else_=0)), 0)


def _book_totals(connection: sa.Connection, currency: str) -> BookTotals:
    table = tables.loans
    open_ = table.c.status.in_(tables.OPEN_STATUSES)
    total = total_where
    row = connection.execute(sa.select(
        sa.func.count().label("loans"), total(1, open_).label("loans_open"),
        total(table.c.principal_minor).label("disbursed"), total(table.c.fee_minor).label("fees"),
        total(table.c.repaid_minor).label("repaid"), total(table.c.outstanding_minor, open_).label("outstanding"),
        total(table.c.outstanding_minor, table.c.status == tables.OVERDUE).label("overdue"),
        total(table.c.outstanding_minor, table.c.status == tables.NON_PERFORMING).label("non_performing"),
    ).where(table.c.currency == currency)).one()
    lending = connection.scalar(sa.select(store.accounts.c.balance_minor).where(
        store.accounts.c.account_id == ledger.internal_account_id(ledger.LENDING, currency))) or 0
    return BookTotals(currency=currency, loans=row.loans, loans_open=row.loans_open, disbursed_minor=row.disbursed,
                      fees_minor=row.fees, repaid_minor=row.repaid, outstanding_minor=row.outstanding,
                      overdue_minor=row.overdue, non_performing_minor=row.non_performing,
                      lending_account_minor=-lending)


def read_statement(connection: sa.Connection, row) -> tuple[list[StatementLine], bool]:
    """The loan's disbursement and repayments, oldest first; True when older lines were left out."""
    table = tables.loan_repayments
    repayments = connection.execute(
        sa.select(table).where(table.c.loan_id == row.loan_id)
        # Newest first; within one millisecond by what was left owed (it only falls).
        .order_by(table.c.created_at_unix_ms.desc(), table.c.outstanding_after_minor, table.c.entry_id.desc())
        .limit(limits.loan_statement_lines_max + 1)).all()
    truncated = len(repayments) > limits.loan_statement_lines_max
    owed_minor = row.principal_minor + row.fee_minor
    lines = [] if truncated else [StatementLine(
        at_unix_ms=row.disbursed_at_unix_ms, kind=DISBURSED, entry_id=f"disburse:{row.loan_id}", credit_minor=0,
        amount_minor=owed_minor, outstanding_after_minor=owed_minor)]
    lines += [StatementLine(at_unix_ms=item.created_at_unix_ms, kind=item.source, entry_id=item.entry_id,
                            credit_minor=item.credit_minor, amount_minor=item.amount_minor,
                            outstanding_after_minor=item.outstanding_after_minor)
              for item in reversed(repayments[:limits.loan_statement_lines_max])]
    return lines, truncated


def read_merchant_loans(connection: sa.Connection, merchant_id: str, *, now_ms: int) -> list[LoanView]:
    """The merchant's loans, newest first."""
    table = tables.loans
    rows = connection.execute(loans_query().where(table.c.merchant_id == merchant_id)
                              .order_by(table.c.disbursed_at_unix_ms.desc(), table.c.loan_id)
                              .limit(limits.loans_listed_max)).all()
    return [loan_view(connection, row, now_ms=now_ms) for row in rows]


def read_book(connection: sa.Connection, *, now_ms: int) -> LoanBook:
    table = tables.loans
    currencies = connection.scalars(sa.select(table.c.currency).distinct().order_by(table.c.currency)).all()
    totals = tuple(_book_totals(connection, currency) for currency in currencies)
    rows = connection.execute(loans_query().order_by(table.c.disbursed_at_unix_ms.desc(), table.c.loan_id)
                              .limit(limits.loan_book_listed_max + 1)).all()
    views = tuple(loan_view(connection, row, now_ms=now_ms, with_schedule=False)
                  for row in rows[:limits.loan_book_listed_max])
    return LoanBook(totals=totals, loans=views, truncated=len(rows) > limits.loan_book_listed_max)


def loan_book_problems(connection: sa.Connection) -> list[str]:
    """Every way the loan records disagree with themselves or with the ledger; [] when they agree.

    Per currency, minus the @lending balance is what the open loans are owed; per loan, the
    repayments add up to what was repaid, and only a loan owed nothing is REPAID.
    """
    table, repayments = tables.loans, tables.loan_repayments
    problems = []
    owed = dict(connection.execute(
        sa.select(table.c.currency, sum_of(table.c.outstanding_minor))
        .where(table.c.status.in_(tables.OPEN_STATUSES)).group_by(table.c.currency)).all())
    lending = {currency: -minor for currency, minor in
               store.internal_balances_by_currency(connection, ledger.LENDING).items()}
    for currency in sorted(set(owed) | {c for c, minor in lending.items() if minor}):
        if owed.get(currency, 0) != lending.get(currency, 0):
            problems.append(f"loans in {currency} are owed {owed.get(currency, 0)}, but @lending/{currency} "
                            f"shows {lending.get(currency, 0)}")
    repaid = sa.select(repayments.c.loan_id, sum_of(repayments.c.amount_minor).label("total")) \
        .group_by(repayments.c.loan_id).subquery()
    for row in connection.execute(
            sa.select(table.c.loan_id, table.c.status, table.c.outstanding_minor, table.c.repaid_minor,
                      sa.func.coalesce(repaid.c.total, 0).label("repayments"))
            .outerjoin(repaid, repaid.c.loan_id == table.c.loan_id)
            .where(sa.or_(table.c.repaid_minor != sa.func.coalesce(repaid.c.total, 0),
                          (table.c.status == tables.REPAID) != (table.c.outstanding_minor == 0)))):
        problems.append(f"loan {row.loan_id}: {row.status} with {row.outstanding_minor} outstanding, repaid "
                        f"{row.repaid_minor} but its repayments sum to {row.repayments}")
    return problems
