"""Consumer instalments at the buyer's bank: a checkout financed by the bank, its plans, the
collection of each instalment on its due date, a short balance, a cancelled or refunded order.

The merchant is paid in full exactly as for any order: the bank funds the escrow, the buyer owes
the bank. Every entry is written in the transaction of its cause (node.market.financing):

    checkout   escrow:<order>       @consumer-lending -(x + fee), @escrow +x, @consumer-fees +fee
               (refusals first, node.credit.instalment_plans.refusal: nothing is written)
    collect    collect:<plan>:<n>   buyer -amount, @consumer-lending +amount   (due date reached)
    late fee   late-fee:<plan>:<n>  @consumer-lending -fee, @consumer-fees +fee   (once per instalment)
    unwind     unescrow:<order>     @escrow -x, @consumer-fees -(fee + late fees), buyer +collected,
                                    @consumer-lending +outstanding: the order did not complete, the
                                    plan is CANCELLED, the buyer owes nothing and gets back what it paid
    refund     paydown:<cause>      buyer -p, @consumer-lending +p, p = min(refund, outstanding,
                                    the buyer's balance): the refund (already in the buyer's account)
                                    pays the debt down first; what is left of it stays with the buyer

The collection worker (collect_step) tries each instalment due (SCHEDULED or LATE, due date and
next attempt reached, plan ACTIVE or LATE) in its own transaction, under the buyer's account lock:
with the balance there, the whole instalment is collected, once: instalment_payments is unique by
(plan, number) and the entry id by cause, so a retry or a second worker after a crash collects
nothing twice. Short: node.credit.instalment_plans.after_short_balance says when to retry, when
the instalment is LATE (with its fee) and when the plan DEFAULTS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import sqlalchemy as sa

from fedmall.database import read_connection, sum_of
from fedmall.v1 import result_pb2

from node import fields, limits
from node.bank import ledger, store
from node.credit import instalment_plans as plans, store as tables
from node.credit.consumer_policy import ConsumerPolicy
from node.credit.features import DAY_MS
from node.credit.loan_views import total_where
from node.errors import Refused
from node.market.financing import FinancedOrder

INFLOW_KINDS = ("deposit", "receive")     # What counts as money into a buyer's account.
INFLOW_WINDOW_DAYS = 90


def lending_account(currency: str) -> str:
    return ledger.internal_account_id(ledger.CONSUMER_LENDING, currency)


def fees_account(currency: str) -> str:
    return ledger.internal_account_id(ledger.CONSUMER_FEES, currency)


@dataclass(frozen=True, slots=True)
class InstalmentView:
    number: int
    due_at_unix_ms: int
    amount_minor: int
    collected_minor: int
    status: str
    attempts: int
    next_attempt_at_unix_ms: int


@dataclass(frozen=True, slots=True)
class PlanView:
    plan_id: str
    buyer_account_id: str
    policy_name: str
    currency: str
    instalments: int
    principal_minor: int
    fee_minor: int
    late_fees_minor: int
    repaid_minor: int
    outstanding_minor: int
    status: str
    opened_at_unix_ms: int
    schedule: tuple[InstalmentView, ...]


@dataclass(frozen=True, slots=True)
class BookTotals:
    currency: str
    plans: int
    plans_open: int
    financed_minor: int
    fees_minor: int
    late_fees_minor: int
    repaid_minor: int
    outstanding_minor: int
    late_minor: int
    defaulted_minor: int
    lending_account_minor: int  # Minus the @consumer-lending balance: equals outstanding_minor when the books agree.


@dataclass(frozen=True, slots=True)
class InstalmentBook:
    totals: tuple[BookTotals, ...]
    plans: tuple[PlanView, ...]     # Newest first, without schedules.
    truncated: bool


def read_buyer_history(connection: sa.Connection, buyer_account_id: str, *, now_ms: int) -> plans.BuyerHistory:
    """What the policy judges the buyer on, from this bank's own books."""
    opened_ms = connection.scalar(sa.select(store.accounts.c.created_at_unix_ms).where(
        store.accounts.c.account_id == buyer_account_id))
    postings, entries = store.postings, store.journal_entries
    inflows = connection.scalar(
        sa.select(sa.func.coalesce(sum_of(postings.c.amount_minor), 0))
        .select_from(postings.join(entries, entries.c.entry_id == postings.c.entry_id))
        .where(postings.c.account_id == buyer_account_id, postings.c.amount_minor > 0,
               entries.c.kind.in_(INFLOW_KINDS),
               entries.c.created_at_unix_ms > now_ms - INFLOW_WINDOW_DAYS * DAY_MS))
    table = tables.instalment_plans
    owed, arrears = connection.execute(sa.select(
        sa.func.coalesce(sum_of(table.c.outstanding_minor), 0),
        sa.func.coalesce(sum_of(sa.case((table.c.status.in_([tables.PLAN_LATE, tables.PLAN_DEFAULTED]), 1),
                                        else_=0)), 0))
        .where(table.c.buyer_account_id == buyer_account_id, table.c.status.in_(tables.PLAN_OPEN_STATUSES))).one()
    return plans.BuyerHistory(account_age_days=max(now_ms - opened_ms, 0) // DAY_MS, inflows_minor_90d=inflows,
                              owed_minor=owed, plans_in_arrears=arrears)


class InstalmentService:
    """node.market.financing's Financing, the collection worker, and the plans' views."""

    def __init__(self, engine: sa.Engine, *, policy: ConsumerPolicy | None, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._policy = policy
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # Financing (in the market's transactions) -----------------------------------------------

    def finance(self, connection: sa.Connection, *, checkout_id: str, buyer_account_id: str, currency: str,
                instalments: int, orders: Sequence[FinancedOrder], now_ms: int) -> list[ledger.Entry]:
        """Refuse, or open one plan per order and return the entries funding their escrows."""
        policy = self._policy
        term = policy.term(instalments) if policy is not None else None
        fees = {order.order_id: plans.fee_of(order.total_minor, term.fee_bp) if term else 0 for order in orders}
        owed_minor = sum(order.total_minor + fees[order.order_id] for order in orders)
        refusal = plans.refusal(policy, read_buyer_history(connection, buyer_account_id, now_ms=now_ms),
                                instalments=instalments, owed_minor=owed_minor)
        if refusal is None and currency != policy.currency:
            refusal = plans.Refusal(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED,
                                    f"this bank finances instalments in {policy.currency}")
        if refusal is not None:
            raise Refused(refusal.code, refusal.reason)
        entries = []
        for order in orders:
            fee_minor = fees[order.order_id]
            self._open_plan(connection, order, policy=policy, checkout_id=checkout_id,
                            buyer_account_id=buyer_account_id, currency=currency, instalments=instalments,
                            fee_minor=fee_minor, now_ms=now_ms)
            postings = [ledger.Posting(lending_account(currency), -(order.total_minor + fee_minor), currency),
                        ledger.Posting(ledger.internal_account_id(ledger.ESCROW, currency), order.total_minor,
                                       currency)]
            if fee_minor:
                postings.append(ledger.Posting(fees_account(currency), fee_minor, currency))
            entries.append(ledger.Entry(order.escrow_entry_id, "escrow", tuple(postings)))
        return entries

    @staticmethod
    def _open_plan(connection: sa.Connection, order: FinancedOrder, *, policy: ConsumerPolicy, checkout_id: str,
                   buyer_account_id: str, currency: str, instalments: int, fee_minor: int, now_ms: int) -> None:
        owed_minor = order.total_minor + fee_minor
        connection.execute(tables.instalment_plans.insert().values(
            plan_id=order.order_id, buyer_account_id=buyer_account_id, checkout_id=checkout_id, currency=currency,
            instalments=instalments, policy_name=policy.name[:100], principal_minor=order.total_minor,
            fee_minor=fee_minor, late_fees_minor=0, repaid_minor=0, waived_minor=0, outstanding_minor=owed_minor,
            late_fee_minor=policy.late_fee_minor, retry_after_ms=plans.retry_after_ms(policy),
            late_after_days=policy.late_after_days, default_after_days=policy.default_after_days,
            status=tables.PLAN_ACTIVE, opened_at_unix_ms=now_ms, status_changed_at_unix_ms=now_ms,
            closed_at_unix_ms=None))
        connection.execute(tables.instalment_schedule.insert(), [
            dict(plan_id=order.order_id, number=due.number, due_at_unix_ms=due.due_at_unix_ms,
                 amount_minor=due.amount_minor, collected_minor=0, late_fee_minor=0, status=tables.SCHEDULED,
                 attempts=0, next_attempt_at_unix_ms=due.due_at_unix_ms)
            for due in plans.schedule(owed_minor=owed_minor, opened_at_ms=now_ms, instalments=instalments)])

    @staticmethod
    def _locked_plan(connection: sa.Connection, plan_id: str):
        """The plan, locked with its buyer's account: the account first, then the plan, the order
        every writer of a buyer's plans locks in (checkout, collection, unwind, refund)."""
        table = tables.instalment_plans
        buyer = connection.scalar(sa.select(table.c.buyer_account_id).where(table.c.plan_id == plan_id))
        connection.execute(store.locking_accounts_in_order(connection, sa.select(store.accounts.c.account_id).where(
            store.accounts.c.account_id == buyer)))
        return connection.execute(sa.select(table).where(table.c.plan_id == plan_id).with_for_update()).one()

    def unwind(self, connection: sa.Connection, *, order_id: str, entry_id: str, now_ms: int) -> None:
        """The order ended without completing: the plan is CANCELLED, its fees waived, the escrow back
        into the bank's lending, and what the buyer paid so far back to the buyer."""
        plan = self._locked_plan(connection, order_id)
        # Called once per order, when it ends (the market's state change guards it); a plan repaid
        # in full before that (instalments collected while the order waited) unwinds the same way.
        assert plan.status != tables.PLAN_CANCELLED, f"plan {order_id} was unwound already"
        currency, collected_minor = plan.currency, plan.repaid_minor
        waived_minor = plan.fee_minor + plan.late_fees_minor
        postings = [ledger.Posting(ledger.internal_account_id(ledger.ESCROW, currency), -plan.principal_minor, currency)]
        if plan.outstanding_minor:
            postings.append(ledger.Posting(lending_account(currency), plan.outstanding_minor, currency))
        if waived_minor:
            postings.append(ledger.Posting(fees_account(currency), -waived_minor, currency))
        if collected_minor:
            postings.append(ledger.Posting(plan.buyer_account_id, collected_minor, currency))
        store.write_entries(connection, [ledger.Entry(entry_id, "unescrow", tuple(postings))], now_ms=now_ms)
        # The escrow comes back to the bank (repaid); what the buyer had paid goes back to it.
        repaid_after = plan.repaid_minor + plan.principal_minor - collected_minor
        self._write_plan_change(connection, plan, status=tables.PLAN_CANCELLED, repaid_minor=repaid_after,
                                waived_minor=plan.waived_minor + waived_minor, now_ms=now_ms)
        connection.execute(tables.instalment_payments.insert().values(
            entry_id=entry_id, plan_id=order_id, kind=tables.UNWOUND, number=None,
            amount_minor=plan.principal_minor - collected_minor, outstanding_after_minor=0, created_at_unix_ms=now_ms))
        self._waive_open_instalments(connection, order_id)

    def refunded(self, connection: sa.Connection, *, order_id: str, amount_minor: int, cause_id: str,
                 now_ms: int) -> None:
        """A refund of the financed order reached the buyer's account: pay the debt down with it."""
        plan = self._locked_plan(connection, order_id)
        if plan.status not in tables.PLAN_OPEN_STATUSES:
            return
        balance = connection.scalar(sa.select(store.accounts.c.balance_minor).where(
            store.accounts.c.account_id == plan.buyer_account_id))
        paydown_minor = min(amount_minor, plan.outstanding_minor, balance)
        if paydown_minor <= 0:
            return
        entry_id = f"paydown:{cause_id}"
        store.write_entries(connection, [ledger.move(
            entry_id, "paydown", source=plan.buyer_account_id, destination=lending_account(plan.currency),
            amount_minor=paydown_minor, currency=plan.currency)], now_ms=now_ms)
        outstanding_after = plan.outstanding_minor - paydown_minor
        self._write_plan_change(connection, plan, repaid_minor=plan.repaid_minor + paydown_minor,
                                status=tables.PLAN_REPAID if outstanding_after == 0 else plan.status, now_ms=now_ms)
        connection.execute(tables.instalment_payments.insert().values(
            entry_id=entry_id, plan_id=order_id, kind=tables.REFUND_PAYDOWN, number=None, amount_minor=paydown_minor,
            outstanding_after_minor=outstanding_after, created_at_unix_ms=now_ms))
        self._shrink_open_instalments(connection, order_id, paydown_minor)

    @staticmethod
    def _write_plan_change(connection: sa.Connection, plan, *, status: str, now_ms: int, repaid_minor: int | None = None,
                           waived_minor: int | None = None, late_fees_minor: int | None = None) -> None:
        """The plan's new amounts and status; outstanding follows from them (the table checks it)."""
        repaid = plan.repaid_minor if repaid_minor is None else repaid_minor
        waived = plan.waived_minor if waived_minor is None else waived_minor
        late_fees = plan.late_fees_minor if late_fees_minor is None else late_fees_minor
        outstanding = plan.principal_minor + plan.fee_minor + late_fees - repaid - waived
        assert outstanding >= 0, f"plan {plan.plan_id} would owe {outstanding}"
        closed = status in (tables.PLAN_REPAID, tables.PLAN_CANCELLED)
        connection.execute(tables.instalment_plans.update().where(
            tables.instalment_plans.c.plan_id == plan.plan_id).values(
            repaid_minor=repaid, waived_minor=waived, late_fees_minor=late_fees, outstanding_minor=outstanding,
            status=status, status_changed_at_unix_ms=now_ms if status != plan.status else plan.status_changed_at_unix_ms,
            closed_at_unix_ms=now_ms if closed else None))

    @staticmethod
    def _open_instalments(connection: sa.Connection, plan_id: str) -> list:
        schedule = tables.instalment_schedule
        return connection.execute(sa.select(schedule).where(
            schedule.c.plan_id == plan_id, schedule.c.status.in_(tables.DUE_STATUSES))
            .order_by(schedule.c.number)).all()

    def _waive_open_instalments(self, connection: sa.Connection, plan_id: str) -> None:
        schedule = tables.instalment_schedule
        connection.execute(schedule.update().where(
            schedule.c.plan_id == plan_id, schedule.c.status.in_(tables.DUE_STATUSES)).values(status=tables.WAIVED))

    def _shrink_open_instalments(self, connection: sa.Connection, plan_id: str, by_minor: int) -> None:
        schedule = tables.instalment_schedule
        rows = self._open_instalments(connection, plan_id)
        amounts = plans.shrink([row.amount_minor for row in rows], by_minor)
        for row, amount in zip(rows, amounts):
            if amount != row.amount_minor:
                connection.execute(schedule.update().where(
                    schedule.c.plan_id == plan_id, schedule.c.number == row.number).values(
                    amount_minor=amount, status=tables.WAIVED if amount == 0 else row.status))

    # Collection ---------------------------------------------------------------------------------

    def collect_step(self) -> bool:
        """Try every instalment due now (a bounded batch), each in its own transaction; True when
        more are waiting."""
        schedule, table = tables.instalment_schedule, tables.instalment_plans
        now_ms = self._now_ms()
        with read_connection(self._engine) as connection:
            due = connection.execute(
                sa.select(schedule.c.plan_id, schedule.c.number)
                .join(table, table.c.plan_id == schedule.c.plan_id)
                .where(schedule.c.status.in_(tables.DUE_STATUSES), schedule.c.next_attempt_at_unix_ms <= now_ms,
                       table.c.status.in_(tables.PLAN_COLLECTING_STATUSES))
                .order_by(schedule.c.next_attempt_at_unix_ms, schedule.c.plan_id, schedule.c.number)
                .limit(limits.instalments_collected_per_step_max)).all()
        for row in due:
            self.collect(row.plan_id, row.number, now_ms=now_ms)
        return len(due) == limits.instalments_collected_per_step_max

    def collect(self, plan_id: str, number: int, *, now_ms: int) -> str:
        """One attempt at one instalment; the instalment's status after it (unchanged if not due)."""
        schedule = tables.instalment_schedule
        with self._engine.begin() as connection:
            plan = self._locked_plan(connection, plan_id)
            item = connection.execute(sa.select(schedule).where(
                schedule.c.plan_id == plan_id, schedule.c.number == number)).one()
            if (plan.status not in tables.PLAN_COLLECTING_STATUSES or item.status not in tables.DUE_STATUSES
                    or item.next_attempt_at_unix_ms > now_ms):
                return item.status  # Collected, waived or retried by another pass meanwhile.
            balance = connection.scalar(sa.select(store.accounts.c.balance_minor).where(
                store.accounts.c.account_id == plan.buyer_account_id))
            owed_minor = item.amount_minor - item.collected_minor
            if balance >= owed_minor:
                return self._collected(connection, plan, item, owed_minor, now_ms=now_ms)
            return self._short(connection, plan, item, now_ms=now_ms)

    def _collected(self, connection: sa.Connection, plan, item, amount_minor: int, *, now_ms: int) -> str:
        schedule = tables.instalment_schedule
        entry_id = f"collect:{plan.plan_id}:{item.number}"
        if amount_minor:
            store.write_entries(connection, [ledger.move(
                entry_id, "collect", source=plan.buyer_account_id, destination=lending_account(plan.currency),
                amount_minor=amount_minor, currency=plan.currency)], now_ms=now_ms)
            connection.execute(tables.instalment_payments.insert().values(
                entry_id=entry_id, plan_id=plan.plan_id, kind=tables.COLLECTION, number=item.number,
                amount_minor=amount_minor, outstanding_after_minor=plan.outstanding_minor - amount_minor,
                created_at_unix_ms=now_ms))
        connection.execute(schedule.update().where(
            schedule.c.plan_id == plan.plan_id, schedule.c.number == item.number).values(
            status=tables.COLLECTED, collected_minor=item.amount_minor, attempts=item.attempts + 1))
        still_late = connection.scalar(sa.select(sa.func.count()).select_from(schedule).where(
            schedule.c.plan_id == plan.plan_id, schedule.c.status == tables.LATE))
        if plan.outstanding_minor == amount_minor:
            status = tables.PLAN_REPAID
        else:
            status = tables.PLAN_LATE if still_late else tables.PLAN_ACTIVE
        self._write_plan_change(connection, plan, repaid_minor=plan.repaid_minor + amount_minor, status=status,
                                now_ms=now_ms)
        return tables.COLLECTED

    def _short(self, connection: sa.Connection, plan, item, *, now_ms: int) -> str:
        """The balance is short: retry later, LATE with its fee, or the plan DEFAULTS."""
        schedule = tables.instalment_schedule
        outcome = plans.after_short_balance(
            due_at_ms=item.due_at_unix_ms, was_late=item.status == tables.LATE, now_ms=now_ms,
            retry_after_ms=plan.retry_after_ms, late_after_days=plan.late_after_days,
            late_fee_minor=plan.late_fee_minor, default_after_days=plan.default_after_days)
        fee_minor = outcome.add_late_fee_minor
        if fee_minor:
            store.write_entries(connection, [ledger.move(
                f"late-fee:{plan.plan_id}:{item.number}", "late-fee", source=lending_account(plan.currency),
                destination=fees_account(plan.currency), amount_minor=fee_minor, currency=plan.currency)],
                now_ms=now_ms)
        status = tables.LATE if outcome.late else tables.SCHEDULED
        connection.execute(schedule.update().where(
            schedule.c.plan_id == plan.plan_id, schedule.c.number == item.number).values(
            status=status, amount_minor=item.amount_minor + fee_minor, late_fee_minor=item.late_fee_minor + fee_minor,
            attempts=item.attempts + 1, next_attempt_at_unix_ms=outcome.next_attempt_at_unix_ms))
        plan_status = (tables.PLAN_DEFAULTED if outcome.defaulted
                       else tables.PLAN_LATE if outcome.late else plan.status)
        self._write_plan_change(connection, plan, late_fees_minor=plan.late_fees_minor + fee_minor,
                                status=plan_status, now_ms=now_ms)
        return status

    # Views ----------------------------------------------------------------------------------------

    def plan(self, *, buyer_account_id: str, plan_id: str) -> PlanView:
        fields.check_account_id(buyer_account_id)
        fields.check_uuid(plan_id, "plan id")
        table = tables.instalment_plans
        with read_connection(self._engine) as connection:
            row = connection.execute(sa.select(table).where(table.c.plan_id == plan_id)).first()
            if row is None or row.buyer_account_id != buyer_account_id:  # Another's: as if it did not exist.
                raise Refused(result_pb2.RESULT_CODE_ORDER_UNKNOWN, f"no plan {plan_id!r} for {buyer_account_id!r}")
            return plan_view(connection, row)

    def plans_of(self, buyer_account_id: str) -> list[PlanView]:
        fields.check_account_id(buyer_account_id)
        table = tables.instalment_plans
        with read_connection(self._engine) as connection:
            rows = connection.execute(sa.select(table).where(table.c.buyer_account_id == buyer_account_id)
                                      .order_by(table.c.opened_at_unix_ms.desc(), table.c.plan_id)
                                      .limit(limits.instalment_plans_listed_max)).all()
            return [plan_view(connection, row) for row in rows]

    def book(self) -> InstalmentBook:
        table = tables.instalment_plans
        with read_connection(self._engine) as connection:
            currencies = connection.scalars(sa.select(table.c.currency).distinct().order_by(table.c.currency)).all()
            rows = connection.execute(sa.select(table).order_by(table.c.opened_at_unix_ms.desc(), table.c.plan_id)
                                      .limit(limits.instalment_book_listed_max + 1)).all()
            return InstalmentBook(
                totals=tuple(_book_totals(connection, currency) for currency in currencies),
                plans=tuple(plan_view(connection, row, with_schedule=False)
                            for row in rows[:limits.instalment_book_listed_max]),
                truncated=len(rows) > limits.instalment_book_listed_max)


def plan_view(connection: sa.Connection, row, *, with_schedule: bool = True) -> PlanView:
    schedule = tables.instalment_schedule
    items = connection.execute(sa.select(schedule).where(schedule.c.plan_id == row.plan_id)
                               .order_by(schedule.c.number)).all() if with_schedule else []
    return PlanView(
        plan_id=row.plan_id, buyer_account_id=row.buyer_account_id, policy_name=row.policy_name,
        currency=row.currency, instalments=row.instalments, principal_minor=row.principal_minor,
        fee_minor=row.fee_minor, late_fees_minor=row.late_fees_minor, repaid_minor=row.repaid_minor,
        outstanding_minor=row.outstanding_minor, status=row.status, opened_at_unix_ms=row.opened_at_unix_ms,
        schedule=tuple(InstalmentView(
            number=item.number, due_at_unix_ms=item.due_at_unix_ms, amount_minor=item.amount_minor,
            collected_minor=item.collected_minor, status=item.status, attempts=item.attempts,
            next_attempt_at_unix_ms=item.next_attempt_at_unix_ms) for item in items))


def _book_totals(connection: sa.Connection, currency: str) -> BookTotals:
    table = tables.instalment_plans
    open_ = table.c.status.in_(tables.PLAN_OPEN_STATUSES)
    total = total_where
    row = connection.execute(sa.select(
        sa.func.count().label("plans"), total(1, open_).label("plans_open"),
        total(table.c.principal_minor).label("financed"), total(table.c.fee_minor).label("fees"),
        total(table.c.late_fees_minor).label("late_fees"), total(table.c.repaid_minor).label("repaid"),
        total(table.c.outstanding_minor, open_).label("outstanding"),
        total(table.c.outstanding_minor, table.c.status == tables.PLAN_LATE).label("late"),
        total(table.c.outstanding_minor, table.c.status == tables.PLAN_DEFAULTED).label("defaulted"),
    ).where(table.c.currency == currency)).one()
    lending = connection.scalar(sa.select(store.accounts.c.balance_minor).where(
        store.accounts.c.account_id == lending_account(currency))) or 0
    return BookTotals(currency=currency, plans=row.plans, plans_open=row.plans_open, financed_minor=row.financed,
                      fees_minor=row.fees, late_fees_minor=row.late_fees, repaid_minor=row.repaid,
                      outstanding_minor=row.outstanding, late_minor=row.late, defaulted_minor=row.defaulted,
                      lending_account_minor=-lending)


def instalment_book_problems(connection: sa.Connection) -> list[str]:
    """Every way the plans disagree with themselves or with the ledger; [] when they agree.

    Per currency, minus the @consumer-lending balance is what the open plans owe and the
    @consumer-fees balance the fees charged less those waived; per plan, the
    payments add up to what was repaid, the open instalments to what is still owed (a DEFAULTED
    plan's too: collection stopped, the debt did not), and only a plan owed nothing is closed.
    """
    table, payments, schedule = tables.instalment_plans, tables.instalment_payments, tables.instalment_schedule
    problems = []
    owed = dict(connection.execute(
        sa.select(table.c.currency, sum_of(table.c.outstanding_minor))
        .where(table.c.status.in_(tables.PLAN_OPEN_STATUSES)).group_by(table.c.currency)).all())
    lending = {currency: -minor for currency, minor in
               store.internal_balances_by_currency(connection, ledger.CONSUMER_LENDING).items()}
    for currency in sorted(set(owed) | {c for c, minor in lending.items() if minor}):
        if owed.get(currency, 0) != lending.get(currency, 0):
            problems.append(f"instalment plans in {currency} owe {owed.get(currency, 0)}, but "
                            f"@consumer-lending/{currency} shows {lending.get(currency, 0)}")
    earned = dict(connection.execute(
        sa.select(table.c.currency, sum_of(table.c.fee_minor + table.c.late_fees_minor - table.c.waived_minor))
        .group_by(table.c.currency)).all())
    fees = store.internal_balances_by_currency(connection, ledger.CONSUMER_FEES)
    for currency in sorted(set(earned) | {c for c, minor in fees.items() if minor}):
        if earned.get(currency, 0) != fees.get(currency, 0):
            problems.append(f"instalment plans in {currency} earned {earned.get(currency, 0)} in fees, but "
                            f"@consumer-fees/{currency} shows {fees.get(currency, 0)}")
    paid = sa.select(payments.c.plan_id, sum_of(payments.c.amount_minor).label("total")) \
        .group_by(payments.c.plan_id).subquery()
    left = sa.select(schedule.c.plan_id, sum_of(schedule.c.amount_minor - schedule.c.collected_minor).label("total")) \
        .where(schedule.c.status.in_(tables.DUE_STATUSES)).group_by(schedule.c.plan_id).subquery()
    paid_total, left_total = sa.func.coalesce(paid.c.total, 0), sa.func.coalesce(left.c.total, 0)
    closed = table.c.status.in_([tables.PLAN_REPAID, tables.PLAN_CANCELLED])
    for row in connection.execute(
            sa.select(table.c.plan_id, table.c.status, table.c.outstanding_minor, table.c.repaid_minor,
                      paid_total.label("payments"), left_total.label("instalments_left"))
            .outerjoin(paid, paid.c.plan_id == table.c.plan_id).outerjoin(left, left.c.plan_id == table.c.plan_id)
            .where(sa.or_(table.c.repaid_minor != paid_total, table.c.outstanding_minor != left_total,
                          closed != (table.c.outstanding_minor == 0)))):
        problems.append(f"instalment plan {row.plan_id}: {row.status} with {row.outstanding_minor} outstanding and "
                        f"{row.instalments_left} in open instalments, repaid {row.repaid_minor} but its payments "
                        f"sum to {row.payments}")
    return problems
