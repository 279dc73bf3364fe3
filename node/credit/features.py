"""A merchant's trade features, the inputs of the credit scorecard (node.credit.scorecard).

trade_features() is pure: plain records in, TradeFeatures out. read_trade_record() is the
only part that touches the database; it reads what trade_features() needs and nothing else.

Definitions (all money in integer minor units of one currency; rates in basis points,
10 000 = 100 %; a day is 86 400 000 ms; "the last N days" are the orders whose
placed_at is in (now - N days, now]; orders placed after now, or in another currency,
are left out):

    sale                      an order that shipped: SHIPPED, COMPLETED or REFUNDED. A RESERVED
                              order is not a sale yet; a CANCELLED one never is.
    tenure_days               whole days since the merchant was onboarded.
    gross_sales_minor_<N>d    sum of sale totals placed in the last N days (before refunds).
    net_sales_minor_90d       gross_sales_minor_90d minus what was refunded on those sales.
    sales_trend_bp            gross of the last 90 days over gross of the 90 before, rounded
                              down and capped at sales_trend_bp_max; 10 000 (flat) when the
                              90 before had no sales (nothing to compare with).
    order_count_<N>d          sales placed in the last N days.
    average_order_value_minor gross_sales_minor_180d // order_count_180d (0 without sales).
    refund_rate_bp            by value: refunded on the last 180 days' sales over their gross.
    cancellation_rate_bp      by count: cancelled orders (by the buyer, or declined by the
                              merchant) over cancelled + sales, last 180 days.
    on_time_shipping_rate_bp  sales of the last 180 days shipped within ship_within_ms of being
                              placed, over those sales plus the RESERVED orders already older
                              than ship_within_ms (late and still unshipped) plus the orders the
                              merchant declined (never shipped). A sale whose ship time is
                              unknown counts in neither.
    cross_bank_buyer_share_bp distinct buyers (bank, account) at another bank over all distinct
                              buyers of the last 180 days' sales.
    days_since_last_sale      whole days since the newest sale was placed; tenure_days if none.
    current_loan_balance_minor, loans_*   copied from LoanHistory.
    rating_count              verified reviews of the merchant's orders at this bank, all time
                              (node.market.reviews: one per completed order, signed by the buyer's bank).
    rating_average_centi      their mean rating (1 to 5) x 100, rounded down; 0 without reviews.

Rates round against the merchant: adverse rates (refund, cancellation) up, favourable ones
(on-time, cross-bank) down. A rate with nothing to divide by is 0; the scorecard's minimum
sales knockout declines such a merchant anyway.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import sqlalchemy as sa

from fedmall.v1 import result_pb2

from node import limits
from node.errors import Refused
from node.market import order_events, store as tables
from node.market.orders import CANCELLED, COMPLETED, REFUNDED, RESERVED, SHIPPED, derived_id
from node.market.reviews import merchant_ratings

DAY_MS = 86_400_000
BASIS_POINTS = 10_000                   # One, in basis points.
SALE_STATES = (SHIPPED, COMPLETED, REFUNDED)
RATE_WINDOW_DAYS = 180                  # Rates, averages and the oldest order read.
TREND_WINDOW_DAYS = 90
sales_trend_bp_max = 100 * BASIS_POINTS


@dataclass(frozen=True, slots=True)
class MerchantRecord:
    merchant_id: str
    bank_id: str                # The merchant's bank: this node.
    status: str                 # ACTIVE or SUSPENDED.
    created_at_unix_ms: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    order_id: str
    buyer_bank_id: str
    buyer_account_id: str
    total_minor: int
    refunded_minor: int
    currency: str
    state: str                  # A seller order state (node.market.seller_orders).
    placed_at_unix_ms: int
    shipped_at_unix_ms: int | None   # None: not shipped, or the ship time is not known.
    declined: bool = False           # CANCELLED because the merchant declined it.


@dataclass(frozen=True, slots=True)
class LoanHistory:
    """The merchant's loans at this bank (node.credit.lending.read_loan_history reads them)."""
    outstanding_minor: int
    repaid_on_time_count: int   # Repaid in full, never overdue.
    repaid_late_count: int      # Repaid in full after being overdue.
    overdue_count: int          # Loans overdue now.
    non_performing_count: int   # Loans non-performing now.


NO_LOANS = LoanHistory(outstanding_minor=0, repaid_on_time_count=0, repaid_late_count=0, overdue_count=0,
                       non_performing_count=0)


@dataclass(frozen=True, slots=True)
class Ratings:
    """The verified reviews of the merchant's orders (node.market.reviews.merchant_ratings)."""
    count: int
    total: int      # The sum of their ratings.


NO_RATINGS = Ratings(count=0, total=0)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    merchant: MerchantRecord
    orders: tuple[OrderRecord, ...]
    ratings: Ratings = NO_RATINGS


@dataclass(frozen=True, slots=True)
class TradeFeatures:
    merchant_id: str
    currency: str
    computed_at_unix_ms: int
    suspended: bool
    tenure_days: int
    gross_sales_minor_30d: int
    gross_sales_minor_90d: int
    gross_sales_minor_180d: int
    net_sales_minor_90d: int
    sales_trend_bp: int
    order_count_30d: int
    order_count_90d: int
    order_count_180d: int
    average_order_value_minor: int
    refund_rate_bp: int
    cancellation_rate_bp: int
    on_time_shipping_rate_bp: int
    cross_bank_buyer_share_bp: int
    days_since_last_sale: int
    current_loan_balance_minor: int
    loans_repaid_on_time: int
    loans_repaid_late: int
    loans_overdue: int
    loans_non_performing: int
    rating_count: int = 0
    rating_average_centi: int = 0


# The integer features a policy may score (every int field but the timestamp).
SCORABLE_FEATURES = tuple(field.name for field in fields(TradeFeatures) if field.type == "int"
                          and field.name != "computed_at_unix_ms")


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _rate_down_bp(part: int, whole: int) -> int:
    return part * BASIS_POINTS // whole if whole else 0


def _rate_up_bp(part: int, whole: int) -> int:
    return _ceil_div(part * BASIS_POINTS, whole) if whole else 0


def _within(order: OrderRecord, *, now_ms: int, days: int) -> bool:
    age_ms = now_ms - order.placed_at_unix_ms
    return 0 <= age_ms < days * DAY_MS


def trade_features(*, merchant: MerchantRecord, orders: Sequence[OrderRecord], loans: LoanHistory, now_ms: int,
                   currency: str, ship_within_ms: int, ratings: Ratings = NO_RATINGS) -> TradeFeatures:
    """The features of one merchant's trade as of now_ms, in currency (see the module docstring)."""
    assert ship_within_ms > 0
    assert loans.outstanding_minor >= 0
    mine = [order for order in orders if order.currency == currency and order.placed_at_unix_ms <= now_ms]
    sales = [order for order in mine if order.state in SALE_STATES]

    def sales_within(days: int) -> list[OrderRecord]:
        return [order for order in sales if _within(order, now_ms=now_ms, days=days)]

    sales_30, sales_90, sales_180 = sales_within(30), sales_within(90), sales_within(RATE_WINDOW_DAYS)
    gross_30, gross_90, gross_180 = (sum(order.total_minor for order in window)
                                     for window in (sales_30, sales_90, sales_180))
    gross_prior_90 = gross_180 - gross_90
    if gross_prior_90:
        trend_bp = min(gross_90 * BASIS_POINTS // gross_prior_90, sales_trend_bp_max)
    else:
        trend_bp = BASIS_POINTS
    refunded_90 = sum(order.refunded_minor for order in sales_90)
    refunded_180 = sum(order.refunded_minor for order in sales_180)

    recent = [order for order in mine if _within(order, now_ms=now_ms, days=RATE_WINDOW_DAYS)]
    cancelled_180 = sum(1 for order in recent if order.state == CANCELLED)
    shipped = [order for order in sales_180 if order.shipped_at_unix_ms is not None]
    on_time = sum(1 for order in shipped if order.shipped_at_unix_ms - order.placed_at_unix_ms <= ship_within_ms)
    late_unshipped = sum(1 for order in recent
                         if (order.state == RESERVED and now_ms - order.placed_at_unix_ms > ship_within_ms)
                         or order.declined)
    buyers = {(order.buyer_bank_id, order.buyer_account_id) for order in sales_180}
    cross_bank_buyers = sum(1 for bank_id, _ in buyers if bank_id != merchant.bank_id)

    tenure_days = max(0, now_ms - merchant.created_at_unix_ms) // DAY_MS
    last_sale_ms = max((order.placed_at_unix_ms for order in sales), default=None)
    return TradeFeatures(
        merchant_id=merchant.merchant_id,
        currency=currency,
        computed_at_unix_ms=now_ms,
        suspended=merchant.status != tables.ACTIVE,
        tenure_days=tenure_days,
        gross_sales_minor_30d=gross_30,
        gross_sales_minor_90d=gross_90,
        gross_sales_minor_180d=gross_180,
        net_sales_minor_90d=gross_90 - refunded_90,
        sales_trend_bp=trend_bp,
        order_count_30d=len(sales_30),
        order_count_90d=len(sales_90),
        order_count_180d=len(sales_180),
        average_order_value_minor=gross_180 // len(sales_180) if sales_180 else 0,
        refund_rate_bp=_rate_up_bp(refunded_180, gross_180),
        cancellation_rate_bp=_rate_up_bp(cancelled_180, cancelled_180 + len(sales_180)),
        on_time_shipping_rate_bp=_rate_down_bp(on_time, len(shipped) + late_unshipped),
        cross_bank_buyer_share_bp=_rate_down_bp(cross_bank_buyers, len(buyers)),
        days_since_last_sale=tenure_days if last_sale_ms is None else (now_ms - last_sale_ms) // DAY_MS,
        current_loan_balance_minor=loans.outstanding_minor,
        loans_repaid_on_time=loans.repaid_on_time_count,
        loans_repaid_late=loans.repaid_late_count,
        loans_overdue=loans.overdue_count,
        loans_non_performing=loans.non_performing_count,
        rating_count=ratings.count,
        rating_average_centi=ratings.total * 100 // ratings.count if ratings.count else 0,
    )


# Reading from the node's database ------------------------------------------------------------

def read_trade_record(connection: sa.Connection, merchant_id: str, *, bank_id: str, now_ms: int) -> TradeRecord:
    """The merchant and its orders placed in the last 180 days, plus its newest older sale.

    Ship times: seller_orders has no shipped_at column; the SHIPPED order event that
    ShipOrder writes in the same transaction (order_events.created_at_unix_ms) is the
    ship time (found by its derived id, the table's key). Without that event a SHIPPED order's updated_at is used (nothing else
    updates a SHIPPED row); a COMPLETED or REFUNDED order without it has no known ship time.
    """
    merchants, orders = tables.merchants, tables.seller_orders
    merchant = connection.execute(sa.select(merchants).where(merchants.c.merchant_id == merchant_id)).first()
    if merchant is None:
        raise Refused(result_pb2.RESULT_CODE_MERCHANT_UNKNOWN, f"no merchant {merchant_id!r}")
    columns = (orders.c.order_id, orders.c.buyer_bank_id, orders.c.buyer_account_id, orders.c.total_minor,
               orders.c.refunded_minor, orders.c.currency, orders.c.state, orders.c.placed_at_unix_ms,
               orders.c.updated_at_unix_ms)
    oldest_ms = now_ms - RATE_WINDOW_DAYS * DAY_MS
    rows = connection.execute(
        sa.select(*columns).where(orders.c.merchant_id == merchant_id, orders.c.placed_at_unix_ms > oldest_ms)
        .order_by(orders.c.placed_at_unix_ms.desc(), orders.c.order_id).limit(limits.trade_orders_read_max + 1)).all()
    if len(rows) > limits.trade_orders_read_max:
        raise Refused(result_pb2.RESULT_CODE_BATCH_TOO_LARGE,
                      f"more than {limits.trade_orders_read_max} orders in {RATE_WINDOW_DAYS} days")
    older_sale = connection.execute(
        sa.select(*columns).where(orders.c.merchant_id == merchant_id, orders.c.placed_at_unix_ms <= oldest_ms,
                                  orders.c.state.in_(SALE_STATES))
        .order_by(orders.c.placed_at_unix_ms.desc(), orders.c.order_id).limit(1)).first()
    if older_sale is not None:
        rows.append(older_sale)
    shipped_at = _event_times(connection, [row.order_id for row in rows if row.state in SALE_STATES],
                              cause="shipped", kind=order_events.SHIPPED)
    declined = _event_times(connection, [row.order_id for row in rows if row.state == CANCELLED],
                            cause="declined", kind=order_events.DECLINED)
    return TradeRecord(
        merchant=MerchantRecord(merchant_id=merchant.merchant_id, bank_id=bank_id, status=merchant.status,
                                created_at_unix_ms=merchant.created_at_unix_ms),
        orders=tuple(_order_record(row, shipped_at.get(row.order_id), declined=row.order_id in declined)
                     for row in rows),
        ratings=Ratings(*merchant_ratings(connection, merchant_id)))


def _event_times(connection: sa.Connection, order_ids: Sequence[str], *, cause: str, kind: int) -> dict[str, int]:
    """order id -> when the merchant's event of that kind (SHIPPED, DECLINED) was written, looked
    up by the event's derived id (the key)."""
    events = tables.order_events
    event_order = {derived_id(order_id, cause): order_id for order_id in order_ids}
    event_ids = list(event_order)
    written_at: dict[str, int] = {}
    for start in range(0, len(event_ids), limits.ids_per_query_max):
        for event_id, created_at_ms in connection.execute(
                sa.select(events.c.event_id, events.c.created_at_unix_ms).where(
                    events.c.event_id.in_(event_ids[start:start + limits.ids_per_query_max]),
                    events.c.kind == kind)):
            written_at[event_order[event_id]] = created_at_ms
    return written_at


def _order_record(row, event_shipped_at_ms: int | None, *, declined: bool) -> OrderRecord:
    shipped_at_ms = event_shipped_at_ms
    if shipped_at_ms is None and row.state == SHIPPED:
        shipped_at_ms = row.updated_at_unix_ms
    return OrderRecord(order_id=row.order_id, buyer_bank_id=row.buyer_bank_id,
                       buyer_account_id=row.buyer_account_id, total_minor=row.total_minor,
                       refunded_minor=row.refunded_minor, currency=row.currency, state=row.state,
                       placed_at_unix_ms=row.placed_at_unix_ms, shipped_at_unix_ms=shipped_at_ms, declined=declined)
