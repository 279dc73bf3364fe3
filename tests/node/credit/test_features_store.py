"""read_trade_record on a real (SQLite) node database, rows inserted directly."""
from __future__ import annotations

import pytest

from fedmall.database import make_engine, migrate
from fedmall.v1 import result_pb2

from node.credit.features import (
    DAY_MS, NO_LOANS, MerchantRecord, OrderRecord, TradeRecord, read_trade_record, trade_features)
from node.errors import Refused
from tests.node.credit.history import add_merchant, add_order

NOW_MS = 1_000 * DAY_MS


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    migrate(engine, "node:migrations")
    yield engine
    engine.dispose()


def test_read_trade_record__window_orders_ship_times_and_the_newest_older_sale(engine):
    with engine.begin() as connection:
        add_merchant(connection, "m-1", status="SUSPENDED", created_at_ms=100 * DAY_MS)
        add_merchant(connection, "m-2", created_at_ms=100 * DAY_MS)
        day = NOW_MS - 10 * DAY_MS
        # Shipped, then completed: the ship time is the SHIPPED event's, not updated_at.
        add_order(connection, "o-completed", state="COMPLETED", placed_ms=day, updated_ms=day + 9 * DAY_MS,
                  shipped_event_ms=day + 3_600_000, refunded_minor=2_500, buyer_bank_id="bank-a")
        # SHIPPED without its event (not written by ShipOrder): updated_at stands in.
        add_order(connection, "o-shipped", state="SHIPPED", placed_ms=day + 1, updated_ms=day + 7_200_000)
        # COMPLETED without an event: ship time unknown.
        add_order(connection, "o-unknown", state="COMPLETED", placed_ms=day + 2, updated_ms=day + 5 * DAY_MS)
        add_order(connection, "o-reserved", state="RESERVED", placed_ms=day + 3)
        add_order(connection, "o-cancelled", state="CANCELLED", placed_ms=day + 4, updated_ms=day + DAY_MS)
        # Older than 180 days: only the newest sale among them is read.
        add_order(connection, "o-old-sale", state="COMPLETED", placed_ms=NOW_MS - 300 * DAY_MS,
                  shipped_event_ms=NOW_MS - 300 * DAY_MS + 1)
        add_order(connection, "o-older-sale", state="COMPLETED", placed_ms=NOW_MS - 400 * DAY_MS)
        add_order(connection, "o-old-cancelled", state="CANCELLED", placed_ms=NOW_MS - 200 * DAY_MS)
        add_order(connection, "o-other-merchant", merchant_id="m-2", state="COMPLETED", placed_ms=day)
    with engine.connect() as connection:
        record = read_trade_record(connection, "m-1", bank_id="bank-a", now_ms=NOW_MS)
    assert record.merchant == MerchantRecord(merchant_id="m-1", bank_id="bank-a", status="SUSPENDED",
                                             created_at_unix_ms=100 * DAY_MS)
    by_id = {order.order_id: order for order in record.orders}
    assert sorted(by_id) == ["o-cancelled", "o-completed", "o-old-sale", "o-reserved", "o-shipped", "o-unknown"]
    assert by_id["o-completed"] == OrderRecord(
        order_id="o-completed", buyer_bank_id="bank-a", buyer_account_id="buyer-1", total_minor=10_000,
        refunded_minor=2_500, currency="EUR", state="COMPLETED", placed_at_unix_ms=day,
        shipped_at_unix_ms=day + 3_600_000)
    assert by_id["o-shipped"].shipped_at_unix_ms == day + 7_200_000
    assert by_id["o-unknown"].shipped_at_unix_ms is None
    assert by_id["o-reserved"].shipped_at_unix_ms is None
    assert by_id["o-old-sale"].shipped_at_unix_ms == NOW_MS - 300 * DAY_MS + 1
    features = trade_features(merchant=record.merchant, orders=record.orders, loans=NO_LOANS, now_ms=NOW_MS,
                              currency="EUR", ship_within_ms=72 * 3_600_000)
    assert features.suspended and features.tenure_days == 900
    assert (features.gross_sales_minor_180d, features.order_count_180d) == (30_000, 3)
    assert features.refund_rate_bp == 834               # 2 500 / 30 000 = 833.3 bp, rounded up.
    assert features.cancellation_rate_bp == 2_500       # 1 / (1 + 3).
    assert features.on_time_shipping_rate_bp == 6_666   # 2 on time / (2 with a ship time + 1 late RESERVED).
    assert features.cross_bank_buyer_share_bp == 5_000  # bank-a/buyer-1 and bank-b/buyer-1.
    assert features.days_since_last_sale == 9           # o-unknown: 10 days less 2 ms ago.


def test_read_trade_record__merchant_without_orders(engine):
    with engine.begin() as connection:
        add_merchant(connection, "m-1", created_at_ms=NOW_MS - DAY_MS)
    with engine.connect() as connection:
        record = read_trade_record(connection, "m-1", bank_id="bank-a", now_ms=NOW_MS)
    assert record == TradeRecord(merchant=MerchantRecord("m-1", "bank-a", "ACTIVE", NOW_MS - DAY_MS), orders=())


def test_read_trade_record__unknown_merchant_is_refused(engine):
    with engine.connect() as connection, pytest.raises(Refused) as error:
        read_trade_record(connection, "nobody", bank_id="bank-a", now_ms=NOW_MS)
    assert error.value.code == result_pb2.RESULT_CODE_MERCHANT_UNKNOWN


def test_read_trade_record__a_cancelled_order_with_the_merchants_declined_event_is_declined(engine):
    from node.market import order_events
    from node.market.orders import derived_id

    with engine.begin() as connection:
        add_merchant(connection, "m-1", created_at_ms=NOW_MS - 100 * DAY_MS)
        add_order(connection, "o-declined", state="CANCELLED", placed_ms=NOW_MS - DAY_MS)
        add_order(connection, "o-cancelled", state="CANCELLED", placed_ms=NOW_MS - DAY_MS)
        order_events.enqueue(connection, event_id=derived_id("o-declined", "declined"), order_id="o-declined",
                             recipient_bank_id="bank-b", kind=order_events.DECLINED, reason="sold out",
                             now_ms=NOW_MS - DAY_MS)
    with engine.connect() as connection:
        record = read_trade_record(connection, "m-1", bank_id="bank-a", now_ms=NOW_MS)
    assert {order.order_id: order.declined for order in record.orders} == {"o-declined": True, "o-cancelled": False}
