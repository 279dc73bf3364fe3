"""Repayment from sales (node/credit/repayments.py) at its edges: a credit too small to repay a
minor unit, exactly one minor unit, the last minor unit owed, a share of the whole credit,
and when a loan's closing and status times move."""
from __future__ import annotations

import sqlalchemy as sa

from node.credit import store as credit_store
from tests.node.books import balance
from tests.node.credit.test_lending import (  # noqa: F401
    assert_loan_books, clock, lending, node_engine, sale_credit)

ACCOUNT = "acct-m-good"   # The policy's repayment share is 20 %.


def loan_row(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(credit_store.loans).where(credit_store.loans.c.loan_id == "loan-1")).one()


def repayments(engine) -> list[tuple[int, int]]:
    table = credit_store.loan_repayments
    with engine.connect() as connection:
        return connection.execute(sa.select(table.c.credit_minor, table.c.amount_minor)
                                  .order_by(table.c.created_at_unix_ms)).all()


def borrow(lending, engine) -> int:
    lending.apply(application_id="loan-1", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    return loan_row(engine).outstanding_minor


def set_loan(engine, **values) -> None:
    with engine.begin() as connection:
        connection.execute(credit_store.loans.update().where(credit_store.loans.c.loan_id == "loan-1").values(**values))


def test_a_credit_too_small_to_repay_a_minor_unit_reaches_the_merchant_whole(lending, node_engine, clock):
    owed = borrow(lending, node_engine)
    sale_credit(node_engine, "release:small", ACCOUNT, 4, now_ms=clock.now_ms)    # 20 % of 4 is 0.8: nothing.
    assert repayments(node_engine) == [] and loan_row(node_engine).outstanding_minor == owed
    sale_credit(node_engine, "release:five", ACCOUNT, 5, now_ms=clock.now_ms)     # 20 % of 5 is one minor unit.
    assert repayments(node_engine) == [(5, 1)] and loan_row(node_engine).outstanding_minor == owed - 1
    assert_loan_books(node_engine)


def test_a_partial_repayment_leaves_the_loan_open(lending, node_engine, clock):
    borrow(lending, node_engine)
    clock.advance(days=1)
    sale_credit(node_engine, "release:sale", ACCOUNT, 10_000, now_ms=clock.now_ms)
    row = loan_row(node_engine)
    assert (row.status, row.closed_at_unix_ms, row.last_repaid_at_unix_ms) == ("CURRENT", None, clock.now_ms)


def test_the_last_minor_unit_owed_is_repaid_and_closes_the_loan(lending, node_engine, clock):
    borrow(lending, node_engine)
    # As if repaid down to one minor unit (the loan's row only: this is about the repayment rule).
    set_loan(node_engine, outstanding_minor=1,
             repaid_minor=credit_store.loans.c.principal_minor + credit_store.loans.c.fee_minor - 1)
    clock.advance(days=1)
    sale_credit(node_engine, "release:last", ACCOUNT, 10_000, now_ms=clock.now_ms)
    row = loan_row(node_engine)
    assert (row.status, row.outstanding_minor, row.closed_at_unix_ms) == ("REPAID", 0, clock.now_ms)
    assert repayments(node_engine) == [(10_000, 1)]


def test_a_share_of_the_whole_credit_repays_a_credit_of_one_minor_unit(lending, node_engine, clock):
    owed = borrow(lending, node_engine)
    set_loan(node_engine, repayment_share_bp=10_000)
    before = balance(node_engine, ACCOUNT)
    sale_credit(node_engine, "release:one", ACCOUNT, 1, now_ms=clock.now_ms)
    assert repayments(node_engine) == [(1, 1)] and loan_row(node_engine).outstanding_minor == owed - 1
    assert balance(node_engine, ACCOUNT) == before


def test_a_repayment_that_cures_an_overdue_loan_moves_its_status_time(lending, node_engine, clock):
    borrow(lending, node_engine)
    set_loan(node_engine, status="OVERDUE", ever_overdue=True)   # As the review worker left it.
    clock.advance(days=1)
    sale_credit(node_engine, "release:cure", ACCOUNT, 10_000, now_ms=clock.now_ms)
    row = loan_row(node_engine)
    assert (row.status, row.status_changed_at_unix_ms, row.ever_overdue) == ("CURRENT", clock.now_ms, True)
