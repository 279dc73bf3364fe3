"""Merchant credit's tables (SQLAlchemy 2 Core), on node.store.metadata.

    loan_applications   every application and its instant decision, approved or declined,
                        keyed by the merchant's application id (a retry finds it)
    loans               one row per approved application (loan_id = application_id): the
                        terms it was written with, frozen, and what is still owed
    loan_schedule       the dates by which so much should have been repaid
    loan_repayments     each repayment, keyed by the journal entry that carried it
                        ("receive:<transfer>", "release:<order>", "payoff:<loan>")

A loan's outstanding_minor always equals principal + fee - repaid, and across the open
loans of a currency it equals minus the balance of @lending/<currency> (node.bank.ledger).
"""
from __future__ import annotations

import sqlalchemy as sa

from node.store import metadata

# Application outcomes.
APPROVED, DECLINED = "APPROVED", "DECLINED"
# Loan statuses: CURRENT <-> OVERDUE -> NON_PERFORMING, and any of them -> REPAID.
CURRENT, OVERDUE, NON_PERFORMING, REPAID = "CURRENT", "OVERDUE", "NON_PERFORMING", "REPAID"
OPEN_STATUSES = (CURRENT, OVERDUE, NON_PERFORMING)
# How a repayment came.
FROM_SALES, PAYOFF = "SALES", "PAYOFF"

loan_applications = sa.Table(
    "loan_applications", metadata,
    sa.Column("application_id", sa.String(64), primary_key=True),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.merchant_id"), nullable=False, index=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("result", sa.Integer, nullable=False),            # A ResultCode: OK when approved.
    sa.Column("reason", sa.String(400), nullable=False),
    sa.Column("policy_name", sa.String(100), nullable=False),
    sa.Column("total_points", sa.Integer, nullable=False),
    sa.Column("grade", sa.String(20), nullable=False),
    sa.Column("limit_minor", sa.BigInteger, nullable=False),
    sa.Column("decided_at_unix_ms", sa.BigInteger, nullable=False),
)

loans = sa.Table(
    "loans", metadata,
    sa.Column("loan_id", sa.String(64), sa.ForeignKey("loan_applications.application_id"), primary_key=True),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.merchant_id"), nullable=False, index=True),
    # Disbursed into, and repaid from the credits to, this account (the merchant's settlement account).
    sa.Column("account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False, index=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("principal_minor", sa.BigInteger, nullable=False),
    sa.Column("fee_minor", sa.BigInteger, nullable=False),
    sa.Column("repaid_minor", sa.BigInteger, nullable=False),
    sa.Column("outstanding_minor", sa.BigInteger, nullable=False),
    sa.Column("repayment_share_bp", sa.Integer, nullable=False),
    sa.Column("overdue_after_days", sa.Integer, nullable=False),
    sa.Column("non_performing_after_days", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("ever_overdue", sa.Boolean, nullable=False),
    sa.Column("disbursed_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("maturity_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("last_repaid_at_unix_ms", sa.BigInteger, nullable=True),
    sa.Column("status_changed_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("closed_at_unix_ms", sa.BigInteger, nullable=True),
    sa.CheckConstraint("principal_minor > 0 AND fee_minor >= 0 AND repaid_minor >= 0 AND outstanding_minor >= 0 "
                       "AND repaid_minor + outstanding_minor = principal_minor + fee_minor",
                       name="ck_loans_amounts"),
)

loan_schedule = sa.Table(
    "loan_schedule", metadata,
    sa.Column("loan_id", sa.String(64), sa.ForeignKey("loans.loan_id"), primary_key=True),
    sa.Column("installment", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("due_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("cumulative_due_minor", sa.BigInteger, nullable=False),
)

loan_repayments = sa.Table(
    "loan_repayments", metadata,
    sa.Column("entry_id", sa.String(120), sa.ForeignKey("journal_entries.entry_id"), primary_key=True),
    sa.Column("loan_id", sa.String(64), sa.ForeignKey("loans.loan_id"), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("credit_minor", sa.BigInteger, nullable=False),   # The whole incoming credit (the payoff itself).
    sa.Column("amount_minor", sa.BigInteger, nullable=False),   # What went to the loan.
    sa.Column("outstanding_after_minor", sa.BigInteger, nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_loan_repayments_loan", "loan_id", "created_at_unix_ms"),
)
