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


# Consumer instalment plans (node.credit.instalments), at the buyer's bank: one plan per financed
# order (plan_id = the order id), written in the checkout's transaction.
#
#     instalment_plans     the plan, the policy terms it was opened with (frozen), what it owes
#     instalment_schedule  one row per monthly instalment: due date, amount, what was collected
#     instalment_payments  every movement of the buyer's debt, keyed by the journal entry that
#                          carried it; a collection also by (plan, instalment number), so no
#                          instalment is ever collected twice
#
# outstanding_minor = principal + fee + late fees - repaid - waived, always; across the open plans
# of a currency (ACTIVE, LATE, DEFAULTED) it equals minus the balance of @consumer-lending/<currency>.
PLAN_ACTIVE, PLAN_LATE, PLAN_DEFAULTED = "ACTIVE", "LATE", "DEFAULTED"
PLAN_REPAID, PLAN_CANCELLED = "REPAID", "CANCELLED"
PLAN_OPEN_STATUSES = (PLAN_ACTIVE, PLAN_LATE, PLAN_DEFAULTED)
PLAN_COLLECTING_STATUSES = (PLAN_ACTIVE, PLAN_LATE)     # Collection stops at DEFAULTED.
# Instalment statuses.
SCHEDULED, COLLECTED, LATE, WAIVED = "SCHEDULED", "COLLECTED", "LATE", "WAIVED"
DUE_STATUSES = (SCHEDULED, LATE)
# How the debt moved.
COLLECTION, REFUND_PAYDOWN, UNWOUND = "COLLECTION", "REFUND", "UNWOUND"

instalment_plans = sa.Table(
    "instalment_plans", metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("buyer_account_id", sa.String(80), sa.ForeignKey("accounts.account_id"), nullable=False, index=True),
    sa.Column("checkout_id", sa.String(64), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("instalments", sa.Integer, nullable=False),
    sa.Column("policy_name", sa.String(100), nullable=False),
    sa.Column("principal_minor", sa.BigInteger, nullable=False),   # The order's total, paid into escrow.
    sa.Column("fee_minor", sa.BigInteger, nullable=False),
    sa.Column("late_fees_minor", sa.BigInteger, nullable=False),
    sa.Column("repaid_minor", sa.BigInteger, nullable=False),
    sa.Column("waived_minor", sa.BigInteger, nullable=False),      # Fees given up when the order was cancelled.
    sa.Column("outstanding_minor", sa.BigInteger, nullable=False),
    # The policy's collection terms on the day the plan opened.
    sa.Column("late_fee_minor", sa.BigInteger, nullable=False),
    sa.Column("retry_after_ms", sa.BigInteger, nullable=False),
    sa.Column("late_after_days", sa.Integer, nullable=False),
    sa.Column("default_after_days", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("opened_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("status_changed_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("closed_at_unix_ms", sa.BigInteger, nullable=True),
    sa.CheckConstraint(
        "principal_minor > 0 AND fee_minor >= 0 AND late_fees_minor >= 0 AND repaid_minor >= 0 AND waived_minor >= 0 "
        "AND outstanding_minor >= 0 "
        "AND outstanding_minor = principal_minor + fee_minor + late_fees_minor - repaid_minor - waived_minor",
        name="ck_instalment_plans_amounts"),
)

instalment_schedule = sa.Table(
    "instalment_schedule", metadata,
    sa.Column("plan_id", sa.String(64), sa.ForeignKey("instalment_plans.plan_id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("due_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),      # A late fee included.
    sa.Column("collected_minor", sa.BigInteger, nullable=False),
    sa.Column("late_fee_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at_unix_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_instalment_schedule_due", "status", "next_attempt_at_unix_ms"),
    sa.CheckConstraint("amount_minor >= 0 AND collected_minor >= 0 AND collected_minor <= amount_minor",
                       name="ck_instalment_schedule_amounts"),
)

instalment_payments = sa.Table(
    "instalment_payments", metadata,
    sa.Column("entry_id", sa.String(120), sa.ForeignKey("journal_entries.entry_id"), primary_key=True),
    sa.Column("plan_id", sa.String(64), sa.ForeignKey("instalment_plans.plan_id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("number", sa.Integer, nullable=True),                 # The instalment a COLLECTION collected.
    sa.Column("amount_minor", sa.BigInteger, nullable=False),       # What it repaid.
    sa.Column("outstanding_after_minor", sa.BigInteger, nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("plan_id", "number", name="uq_instalment_payments_collection"),
    sa.Index("ix_instalment_payments_plan", "plan_id", "created_at_unix_ms"),
)
