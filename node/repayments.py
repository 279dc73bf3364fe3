"""Repayment from sales: a share of every incoming settlement credit repays the open loans
of the account it arrives in, inside the very journal entry that brings the credit.

    receive:<transfer> (interbank)  @clearing -x, merchant +(x - r), @lending +r
    release:<order>    (book)       @escrow   -x, merchant +(x - r), @lending +r

Because the split is part of the credit's own entry, and that entry's id names its cause,
there is no moment where the credit is booked and the repayment not: a crash before the
commit loses both (the delivery or the confirmation is replayed), and a replay finds the
entry written and skips both. Callers pass only entries not written yet.

Each open loan on the account (oldest first) takes its repayment_share_bp of what is left of
the credit, never more than it is owed (node.loans.repayment_of). A refund later drawn from
the merchant's account does not undo a repayment: the repayment is final, the refund is
paid from the merchant's balance in full (node.seller_orders refuses it if that is short).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import sqlalchemy as sa

from node import credit_store as tables, ledger, loans, store

# The entry kinds that carry money a merchant earned: interbank payments and book releases.
SETTLEMENT_CREDIT_KINDS = ("receive", "release")


@dataclass(slots=True)
class _OpenLoan:
    row: sa.Row
    outstanding_minor: int
    repaid_minor: int
    status: str
    last_repaid_at_ms: int | None
    ever_overdue: bool
    touched: bool = False


def _credit_of(entry: ledger.Entry) -> ledger.Posting | None:
    """The one customer account an entry credits, when it is a settlement credit."""
    if entry.kind not in SETTLEMENT_CREDIT_KINDS:
        return None
    credits = [posting for posting in entry.postings
               if posting.amount_minor > 0 and ledger.is_valid_account_id(posting.account_id)]
    assert len(credits) <= 1, f"{entry.entry_id} credits more than one customer account"
    return credits[0] if credits else None


def write_entries_repaying_loans(connection: sa.Connection, entries: Sequence[ledger.Entry], *,
                                 now_ms: int) -> None:
    """store.write_entries, with the repayment share split off every settlement credit."""
    credits = [_credit_of(entry) for entry in entries]
    open_loans = _open_loans(connection, {credit.account_id for credit in credits if credit is not None})
    if not open_loans:
        store.write_entries(connection, list(entries), now_ms=now_ms)
        return
    written, repayments = [], []
    for entry, credit in zip(entries, credits):
        account_loans = [] if credit is None else [
            loan for loan in open_loans.get(credit.account_id, ()) if loan.row.currency == credit.currency]
        left_minor, taken_minor = credit.amount_minor if credit else 0, 0
        for loan in account_loans:
            if loan.outstanding_minor == 0 or left_minor == 0:
                continue
            amount = loans.repayment_of(left_minor, share_bp=loan.row.repayment_share_bp,
                                        outstanding_minor=loan.outstanding_minor)
            if amount == 0:
                continue
            left_minor -= amount
            taken_minor += amount
            _repay(loan, amount, now_ms=now_ms)
            repayments.append(dict(entry_id=entry.entry_id, loan_id=loan.row.loan_id, source=tables.FROM_SALES,
                                   credit_minor=credit.amount_minor, amount_minor=amount,
                                   outstanding_after_minor=loan.outstanding_minor, created_at_unix_ms=now_ms))
        written.append(_split(entry, credit, taken_minor) if taken_minor else entry)
    store.write_entries(connection, written, now_ms=now_ms)
    if repayments:
        connection.execute(tables.loan_repayments.insert(), repayments)
        _write_loans(connection, [loan for account in open_loans.values() for loan in account if loan.touched],
                    now_ms=now_ms)


def _split(entry: ledger.Entry, credit: ledger.Posting, taken_minor: int) -> ledger.Entry:
    postings = [posting for posting in entry.postings if posting is not credit]
    if credit.amount_minor > taken_minor:
        postings.append(replace(credit, amount_minor=credit.amount_minor - taken_minor))
    postings.append(ledger.Posting(account_id=ledger.internal_account_id(ledger.LENDING, credit.currency),
                                   amount_minor=taken_minor, currency=credit.currency))
    return replace(entry, postings=tuple(postings))


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
