"""Repayment from sales: a share of every settlement credit repays the open loans of the
account it arrives in, inside the very journal entry that brings the credit.

    receive:<transfer> (interbank)  @clearing -x, merchant +(x - r), @lending +r
    release:<order>    (book)       @escrow   -x, merchant +(x - r), @lending +r

RepaymentFromSales is the bank's settlement credit hook (node.bank.settlement_credits),
registered by node.server: the bank asks it what it claims of each credit, splits the
claims off inside the credit's entry, and then lets it record the repayments and the loans
they changed, all in one transaction (which is why a crash or a replay can never split a
credit twice or not at all).

Each open loan on the account (oldest first) takes its repayment_share_bp of what is left of
the credit, never more than it is owed (node.credit.loans.repayment_of). A refund later drawn from
the merchant's account does not undo a repayment: the repayment is final, the refund is
paid from the merchant's balance in full (node.market.seller_orders refuses it if that is short).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import sqlalchemy as sa

from node.bank import ledger
from node.bank.settlement_credits import NO_CLAIMS, Claim, Claims, SettlementCredit
from node.credit import loans, store as tables


@dataclass(slots=True)
class _OpenLoan:
    row: sa.Row
    outstanding_minor: int
    repaid_minor: int
    status: str
    last_repaid_at_ms: int | None
    ever_overdue: bool
    touched: bool = False


class RepaymentFromSales:
    """Claims the repayment share of every settlement credit into an account with open loans."""

    def claim(self, connection: sa.Connection, credits: Sequence[SettlementCredit], *, now_ms: int) -> Claims:
        open_loans = _open_loans(connection, {credit.account_id for credit in credits})
        if not open_loans:
            return NO_CLAIMS
        claims, repayments = [], []
        for credit in credits:
            left_minor = credit.amount_minor
            for loan in open_loans.get(credit.account_id, ()):
                if loan.row.currency != credit.currency or loan.outstanding_minor == 0 or left_minor == 0:
                    continue
                amount = loans.repayment_of(left_minor, share_bp=loan.row.repayment_share_bp,
                                            outstanding_minor=loan.outstanding_minor)
                if amount == 0:
                    continue
                left_minor -= amount
                _repay(loan, amount, now_ms=now_ms)
                claims.append(Claim(entry_id=credit.entry_id, amount_minor=amount,
                                    to_account_id=ledger.internal_account_id(ledger.LENDING, credit.currency)))
                repayments.append(dict(entry_id=credit.entry_id, loan_id=loan.row.loan_id, source=tables.FROM_SALES,
                                       credit_minor=credit.amount_minor, amount_minor=amount,
                                       outstanding_after_minor=loan.outstanding_minor, created_at_unix_ms=now_ms))
        touched = [loan for account in open_loans.values() for loan in account if loan.touched]

        def record(connection: sa.Connection) -> None:
            if repayments:
                connection.execute(tables.loan_repayments.insert(), repayments)
                _write_loans(connection, touched, now_ms=now_ms)
        return Claims(claims=tuple(claims), record=record)


def _open_loans(connection: sa.Connection, account_ids: set[str]) -> dict[str, list[_OpenLoan]]:
    """Open loans by account, oldest first, locked until the transaction ends.

    Locked in loan id order, the order every writer of loans locks them in (no deadlocks).
    """
    if not account_ids:
        return {}
    table = tables.loans
    rows = connection.execute(
        sa.select(table).where(table.c.account_id.in_(sorted(account_ids)), table.c.status.in_(tables.OPEN_STATUSES))
        .order_by(table.c.loan_id).with_for_update()).all()
    found: dict[str, list[_OpenLoan]] = {}
    for row in sorted(rows, key=lambda row: (row.disbursed_at_unix_ms, row.loan_id)):
        found.setdefault(row.account_id, []).append(_OpenLoan(
            row=row, outstanding_minor=row.outstanding_minor, repaid_minor=row.repaid_minor, status=row.status,
            last_repaid_at_ms=row.last_repaid_at_unix_ms, ever_overdue=row.ever_overdue))
    return found


def _repay(loan: _OpenLoan, amount_minor: int, *, now_ms: int) -> None:
    assert 0 < amount_minor <= loan.outstanding_minor
    before = loans.clock_of(loan.row, status=loan.status, outstanding_minor=loan.outstanding_minor,
                            last_repaid_at_ms=loan.last_repaid_at_ms)
    loan.outstanding_minor -= amount_minor
    loan.repaid_minor += amount_minor
    loan.last_repaid_at_ms = now_ms
    loan.status, was_overdue = loans.after_repayment(before, outstanding_after_minor=loan.outstanding_minor,
                                                     now_ms=now_ms)
    loan.ever_overdue = loan.ever_overdue or was_overdue
    loan.touched = True


def _write_loans(connection: sa.Connection, changed: list[_OpenLoan], *, now_ms: int) -> None:
    """Store what repayments changed on each loan."""
    table = tables.loans
    for loan in changed:
        closed = loan.status == tables.REPAID
        connection.execute(table.update().where(table.c.loan_id == loan.row.loan_id).values(
            outstanding_minor=loan.outstanding_minor, repaid_minor=loan.repaid_minor, status=loan.status,
            last_repaid_at_unix_ms=loan.last_repaid_at_ms, ever_overdue=loan.ever_overdue,
            status_changed_at_unix_ms=now_ms if loan.status != loan.row.status else loan.row.status_changed_at_unix_ms,
            closed_at_unix_ms=now_ms if closed else None))
