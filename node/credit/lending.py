"""Merchant loans at the merchant's bank: offer, instant decision, disbursement, payoff,
the loan's status over time, and the views (read by node.credit.loan_views).

    offer     features from this node's own records (node.credit.features) scored by the
              bank's policy (node.credit.scorecard): grade, limit, every line explained
    apply     decided at once, in one transaction: the decision is recorded whatever it is;
              an approval also writes the loan, its schedule and the disbursement
                  disburse:<loan>   @lending -(principal + fee), merchant +principal,
                                    @credit-fees +fee
              Refusals, in this order: MERCHANT_UNKNOWN, MERCHANT_SUSPENDED, CREDIT_DECLINED
              (the knockouts), LOAN_OPEN (one loan at a time), CREDIT_LIMIT_EXCEEDED.
    repay     from sales: node.credit.repayments, inside each credit's own entry
    pay off   payoff:<loan>     merchant -outstanding, @lending +outstanding
    review    a worker moves loans to OVERDUE and NON_PERFORMING as days pass (node.credit.loans)

The loan is written with the policy's terms of that day (fee, repayment share, term,
overdue and non-performing days); a later policy change applies to new loans only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall.database import read_connection, sum_of
from fedmall.money import format_money
from fedmall.v1 import result_pb2

from node import fields, limits
from node.bank import ledger, store
from node.credit import loans, store as tables
from node.credit.features import (
    DAY_MS, LoanHistory, TradeFeatures, read_trade_record, trade_features)
from node.credit.loan_views import (
    LoanBook, LoanView, StatementLine, loan_row, loan_view, read_book, read_merchant_loans, read_statement)
from node.credit.policy import CreditPolicy
from node.credit.scorecard import CreditDecision, score
from node.errors import Refused
from node.market.store import ACTIVE, merchants as merchant_table

OK = result_pb2.RESULT_CODE_OK
EXISTS = result_pb2.RESULT_CODE_EXISTS


@dataclass(frozen=True, slots=True)
class Offer:
    features: TradeFeatures
    decision: CreditDecision
    policy: CreditPolicy


@dataclass(frozen=True, slots=True)
class Application:
    result: int                 # OK or EXISTS; refusals raise.
    loan: LoanView
    offer: Offer | None         # None for a repeated application.


class CreditDisabled(Refused):
    def __init__(self) -> None:
        super().__init__(result_pb2.RESULT_CODE_CREDIT_DISABLED,
                         "this bank has no credit policy ([node].credit_policy in fedmall.toml)")


def read_loan_history(connection: sa.Connection, merchant_id: str) -> LoanHistory:
    table = tables.loans
    counts = dict(connection.execute(
        sa.select(sa.case((sa.and_(table.c.status == tables.REPAID, table.c.ever_overdue), "late"),
                          else_=table.c.status).label("kind"), sa.func.count())
        .where(table.c.merchant_id == merchant_id).group_by(sa.text("kind"))).all())
    outstanding = connection.scalar(sa.select(sa.func.coalesce(sum_of(table.c.outstanding_minor), 0)).where(
        table.c.merchant_id == merchant_id, table.c.status.in_(tables.OPEN_STATUSES)))
    return LoanHistory(outstanding_minor=outstanding, repaid_on_time_count=counts.get(tables.REPAID, 0),
                       repaid_late_count=counts.get("late", 0), overdue_count=counts.get(tables.OVERDUE, 0),
                       non_performing_count=counts.get(tables.NON_PERFORMING, 0))


class LendingService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, policy: CreditPolicy | None,
                 clock: Callable[[], float]) -> None:
        self._engine = engine
        self._bank_id = bank_id
        self._policy = policy
        self._clock = clock
        self._review_after = ""     # Keyset cursor of the review worker.

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _require_policy(self) -> CreditPolicy:
        if self._policy is None:
            raise CreditDisabled()
        return self._policy

    # The merchant ---------------------------------------------------------------------------

    def _offer(self, connection: sa.Connection, merchant_id: str, *, now_ms: int) -> Offer:
        policy = self._require_policy()
        record = read_trade_record(connection, merchant_id, bank_id=self._bank_id, now_ms=now_ms)
        features = trade_features(merchant=record.merchant, orders=record.orders,
                                  loans=read_loan_history(connection, merchant_id), now_ms=now_ms,
                                  currency=policy.currency, ship_within_ms=policy.ship_within_ms,
                                  ratings=record.ratings)
        return Offer(features=features, decision=score(features, policy), policy=policy)

    def offer(self, merchant_id: str) -> Offer:
        fields.check_id(merchant_id, "merchant id")
        with read_connection(self._engine) as connection:
            return self._offer(connection, merchant_id, now_ms=self._now_ms())

    def apply(self, *, application_id: str, merchant_id: str, amount_minor: int, currency: str) -> Application:
        """Decide at once; disburse when approved. Refusals raise Refused and post nothing."""
        fields.check_id(application_id, "application id")
        fields.check_id(merchant_id, "merchant id")
        fields.check_amount(amount_minor)
        fields.check_currency(currency)
        policy = self._require_policy()
        now_ms = self._now_ms()
        request = (merchant_id, amount_minor, currency)
        try:
            with self._engine.begin() as connection:
                # The merchant's row lock orders its applications (one open loan at a time).
                # FOR NO KEY UPDATE on PostgreSQL: orders and products may still reference the row.
                merchant = connection.execute(sa.select(merchant_table).where(
                    merchant_table.c.merchant_id == merchant_id).with_for_update(key_share=True)).first()
                earlier = self._earlier_application(connection, application_id, request)
                if earlier is not None:
                    return earlier
                if merchant is None:
                    raise Refused(result_pb2.RESULT_CODE_MERCHANT_UNKNOWN, f"no merchant {merchant_id!r}")
                if currency != policy.currency:
                    raise Refused(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED,
                                  f"this bank lends in {policy.currency}")
                offer = self._offer(connection, merchant_id, now_ms=now_ms)
                code, reason = self._refusal(connection, merchant, offer, amount_minor)
                self._record_application(connection, application_id, request, offer, code=code, reason=reason,
                                         now_ms=now_ms)
                if code == OK:
                    self._disburse(connection, application_id, merchant, amount_minor, offer, now_ms=now_ms)
        except sa.exc.IntegrityError:  # The same id, for another merchant, won a race: answer as a repeat.
            with read_connection(self._engine) as connection:
                earlier = self._earlier_application(connection, application_id, request)
            assert earlier is not None, "an application insert failed with no application written"
            return earlier
        if code != OK:
            raise Refused(code, reason)
        return Application(result=OK, loan=self.loan(merchant_id=merchant_id, loan_id=application_id), offer=offer)

    def _earlier_application(self, connection, application_id: str, request: tuple) -> Application | None:
        """The answer to a repeated application: EXISTS with its loan, or its refusal again."""
        table = tables.loan_applications
        row = connection.execute(sa.select(table).where(table.c.application_id == application_id)).first()
        if row is None:
            return None
        if (row.merchant_id, row.amount_minor, row.currency) != request:
            raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST,
                          f"application {application_id!r} was made with other content")
        if row.outcome == tables.DECLINED:
            raise Refused(row.result, f"application {application_id!r} was declined: {row.reason}")
        return Application(result=EXISTS, loan=loan_view(connection, loan_row(connection, application_id),
                                                          now_ms=self._now_ms()), offer=None)

    def _refusal(self, connection, merchant, offer: Offer, amount_minor: int) -> tuple[int, str]:
        decision = offer.decision
        if merchant.status != ACTIVE:
            return result_pb2.RESULT_CODE_MERCHANT_SUSPENDED, "the merchant is suspended"
        if decision.knockouts:
            return result_pb2.RESULT_CODE_CREDIT_DECLINED, "; ".join(
                f"{knockout.rule}: {knockout.reason}" for knockout in decision.knockouts)
        # One open loan per merchant, and per settlement account (its credits repay the loans in it).
        open_loan = connection.scalar(sa.select(tables.loans.c.loan_id).where(
            sa.or_(tables.loans.c.merchant_id == merchant.merchant_id,
                   tables.loans.c.account_id == merchant.settlement_account_id),
            tables.loans.c.status.in_(tables.OPEN_STATUSES)).limit(1))
        if open_loan is not None:
            return result_pb2.RESULT_CODE_LOAN_OPEN, f"loan {open_loan!r} is open; one loan at a time"
        if amount_minor > decision.available_minor:
            return (result_pb2.RESULT_CODE_CREDIT_LIMIT_EXCEEDED,
                    f"{format_money(amount_minor, decision.currency)} is above the "
                    f"{format_money(decision.available_minor, decision.currency)} available (limit "
                    f"{format_money(decision.limit_minor, decision.currency)}, grade {decision.grade})")
        account = connection.execute(sa.select(store.accounts).where(
            store.accounts.c.account_id == merchant.settlement_account_id)).one()
        if account.closed:
            return result_pb2.RESULT_CODE_ACCOUNT_CLOSED, f"account {account.account_id!r} is closed"
        if account.currency != decision.currency:
            return (result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED,
                    f"the settlement account holds {account.currency}, the loan would be {decision.currency}")
        return OK, ""

    def _record_application(self, connection, application_id: str, request: tuple, offer: Offer, *,
                            code: int, reason: str, now_ms: int) -> None:
        decision = offer.decision
        merchant_id, amount_minor, currency = request
        connection.execute(tables.loan_applications.insert().values(
            application_id=application_id, merchant_id=merchant_id, amount_minor=amount_minor, currency=currency,
            outcome=tables.APPROVED if code == OK else tables.DECLINED, result=code, reason=reason[:400],
            policy_name=decision.policy_name[:100], total_points=decision.total_points, grade=decision.grade[:20],
            limit_minor=decision.limit_minor, decided_at_unix_ms=now_ms))

    def _disburse(self, connection, loan_id: str, merchant, principal_minor: int, offer: Offer, *,
                  now_ms: int) -> None:
        terms, currency = offer.policy.loans, offer.decision.currency
        fee_minor = loans.fee_of(principal_minor, offer.decision.fee_bp)
        owed_minor = principal_minor + fee_minor
        maturity_ms = now_ms + terms.term_days * DAY_MS
        connection.execute(tables.loans.insert().values(
            loan_id=loan_id, merchant_id=merchant.merchant_id, account_id=merchant.settlement_account_id,
            currency=currency, principal_minor=principal_minor, fee_minor=fee_minor, repaid_minor=0,
            outstanding_minor=owed_minor, repayment_share_bp=terms.repayment_share_bp,
            overdue_after_days=terms.overdue_after_days, non_performing_after_days=terms.non_performing_after_days,
            status=tables.CURRENT, ever_overdue=False, disbursed_at_unix_ms=now_ms, maturity_at_unix_ms=maturity_ms,
            last_repaid_at_unix_ms=None, status_changed_at_unix_ms=now_ms, closed_at_unix_ms=None))
        connection.execute(tables.loan_schedule.insert(), [
            dict(loan_id=loan_id, installment=item.installment, due_at_unix_ms=item.due_at_unix_ms,
                 cumulative_due_minor=item.cumulative_due_minor)
            for item in loans.schedule(owed_minor=owed_minor, disbursed_at_ms=now_ms, term_days=terms.term_days)])
        postings = [ledger.Posting(ledger.internal_account_id(ledger.LENDING, currency), -owed_minor, currency),
                    ledger.Posting(merchant.settlement_account_id, principal_minor, currency)]
        if fee_minor:
            postings.append(ledger.Posting(ledger.internal_account_id(ledger.CREDIT_FEES, currency), fee_minor,
                                           currency))
        store.write_entries(connection, [ledger.Entry(f"disburse:{loan_id}", "disburse", tuple(postings))],
                            now_ms=now_ms)

    def pay_off(self, *, merchant_id: str, loan_id: str) -> tuple[int, LoanView]:
        """Repay what is left from the settlement account: OK, or EXISTS when already repaid."""
        fields.check_id(merchant_id, "merchant id")
        fields.check_id(loan_id, "loan id")
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            row = loan_row(connection, loan_id, merchant_id=merchant_id, for_update=True)
            if row.status == tables.REPAID:
                return EXISTS, loan_view(connection, row, now_ms=now_ms)
            owed = row.outstanding_minor
            balance = connection.scalar(sa.select(store.accounts.c.balance_minor).where(
                store.accounts.c.account_id == row.account_id).with_for_update())
            if balance < owed:
                raise Refused(result_pb2.RESULT_CODE_INSUFFICIENT_FUNDS,
                              f"the settlement account holds {format_money(balance, row.currency)}, the loan needs "
                              f"{format_money(owed, row.currency)}")
            entry_id = f"payoff:{loan_id}"
            store.write_entries(connection, [ledger.move(
                entry_id, "payoff", source=row.account_id,
                destination=ledger.internal_account_id(ledger.LENDING, row.currency), amount_minor=owed,
                currency=row.currency)], now_ms=now_ms)
            connection.execute(tables.loan_repayments.insert().values(
                entry_id=entry_id, loan_id=loan_id, source=tables.PAYOFF, credit_minor=owed, amount_minor=owed,
                outstanding_after_minor=0, created_at_unix_ms=now_ms))
            before = loans.clock_of(row, status=row.status, outstanding_minor=owed,
                                    last_repaid_at_ms=row.last_repaid_at_unix_ms)
            status, was_overdue = loans.after_repayment(before, outstanding_after_minor=0, now_ms=now_ms)
            connection.execute(tables.loans.update().where(tables.loans.c.loan_id == loan_id).values(
                outstanding_minor=0, repaid_minor=tables.loans.c.repaid_minor + owed, status=status,
                ever_overdue=row.ever_overdue or was_overdue, last_repaid_at_unix_ms=now_ms,
                status_changed_at_unix_ms=now_ms, closed_at_unix_ms=now_ms))
            return OK, loan_view(connection, loan_row(connection, loan_id), now_ms=now_ms)

    def loan(self, *, merchant_id: str, loan_id: str) -> LoanView:
        fields.check_id(merchant_id, "merchant id")
        fields.check_id(loan_id, "loan id")
        with read_connection(self._engine) as connection:
            return loan_view(connection, loan_row(connection, loan_id, merchant_id=merchant_id),
                              now_ms=self._now_ms())

    def statement(self, *, merchant_id: str, loan_id: str) -> tuple[LoanView, list[StatementLine], bool]:
        """The loan, its disbursement and every repayment, oldest first, read together; True when
        older lines were left out."""
        fields.check_id(merchant_id, "merchant id")
        fields.check_id(loan_id, "loan id")
        with read_connection(self._engine) as connection:
            row = loan_row(connection, loan_id, merchant_id=merchant_id)
            return (loan_view(connection, row, now_ms=self._now_ms()), *read_statement(connection, row))

    def loans_of(self, merchant_id: str) -> list[LoanView]:
        fields.check_id(merchant_id, "merchant id")
        with read_connection(self._engine) as connection:
            return read_merchant_loans(connection, merchant_id, now_ms=self._now_ms())

    # The bank -------------------------------------------------------------------------------

    def book(self) -> LoanBook:
        with read_connection(self._engine) as connection:
            return read_book(connection, now_ms=self._now_ms())

    def review_step(self) -> bool:
        """Move open loans to the status their days give them (node.credit.loans); True when more are waiting."""
        table = tables.loans
        now_ms = self._now_ms()
        with self._engine.begin() as connection:
            rows = connection.execute(
                sa.select(table).where(table.c.status.in_(tables.OPEN_STATUSES), table.c.loan_id > self._review_after)
                .order_by(table.c.loan_id).limit(limits.loans_reviewed_per_step_max)
                .with_for_update(skip_locked=True)).all()  # A loan being repaid now is judged next pass.
            for row in rows:
                clock = loans.clock_of(row, status=row.status, outstanding_minor=row.outstanding_minor,
                                       last_repaid_at_ms=row.last_repaid_at_unix_ms)
                status = loans.status_at(clock, now_ms)
                if status != row.status:
                    connection.execute(table.update().where(table.c.loan_id == row.loan_id).values(
                        status=status, status_changed_at_unix_ms=now_ms,
                        ever_overdue=row.ever_overdue or status in (tables.OVERDUE, tables.NON_PERFORMING)))
        more = len(rows) == limits.loans_reviewed_per_step_max
        self._review_after = rows[-1].loan_id if more else ""
        return more
