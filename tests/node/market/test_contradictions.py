"""Order events that contradict what the buyer's bank recorded (late, repeated, from the wrong
bank): each is refused or answered EXISTS, and neither the order nor any money moves."""
import pytest
import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import money_pb2
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger, store
from node.market import order_events, store as tables
from tests.node.books import balance, books_problems, node_engine, open_account  # noqa: F401
from tests.node.market.test_buyer_worker import UP, FakePeers, FakeTransfers, add_orders, service
from tests.support.ids import uuid_of

ESCROW = ledger.internal_account_id(ledger.ESCROW, "EUR")


@pytest.fixture
def buyer_orders(node_engine):
    open_account(node_engine, "buyer", balance_minor=1_000)
    yield service(node_engine, FakePeers(), FakeTransfers(), [100.0])


def order_in(engine, state: str) -> str:
    """One order of 1.00 in state, its money in escrow (add_orders) unless the order gave it back."""
    [order_id] = add_orders(engine, UP, 1, state=state, now_ms=1)
    if state in ("CANCELLED", "FAILED"):
        with engine.begin() as connection:
            store.write_entries(connection, [ledger.move(f"unescrow:{order_id}", "unescrow", source=ESCROW,
                                                         destination="buyer", amount_minor=100, currency="EUR")],
                                now_ms=1)
    return order_id


def event(order_id: str, kind: int, **fields) -> mp.NotifyOrderEventRequest:
    return mp.NotifyOrderEventRequest(event_id=uuid_of(f"e-{order_id}-{kind}"), order_id=order_id, kind=kind, **fields)


def snapshot(engine, order_id: str) -> tuple:
    with engine.connect() as connection:
        row = connection.execute(sa.select(tables.buyer_orders).where(tables.buyer_orders.c.order_id == order_id)).one()
    return row.state, row.refunded_minor, balance(engine, "buyer"), balance(engine, ESCROW)


def refused(call) -> int:
    with pytest.raises(FedmallError) as caught:
        call()
    return caught.value.code


@pytest.mark.parametrize("state, kind, code", [
    ("CANCELLED", order_events.SHIPPED, rc.RESULT_CODE_ORDER_STATE_INVALID),   # Shipped after the buyer's cancel.
    ("COMPLETED", order_events.DECLINED, rc.RESULT_CODE_ORDER_STATE_INVALID),  # Declined after it was paid out.
    ("SHIPPED", order_events.DECLINED, rc.RESULT_CODE_ORDER_STATE_INVALID),
    ("PAID", order_events.REFUNDED, rc.RESULT_CODE_ORDER_STATE_INVALID),       # A refund before completion.
    ("SHIPPED", order_events.REFUNDED, rc.RESULT_CODE_ORDER_STATE_INVALID),
])
def test_event__contradicting_the_orders_state_is_refused_and_moves_nothing(node_engine, buyer_orders, state, kind,
                                                                              code):
    order_id = order_in(node_engine, state)
    before = snapshot(node_engine, order_id)
    request = event(order_id, kind, amount=money_pb2.Money(amount_minor=100, currency="EUR"), transfer_id=uuid_of("t-x"))
    assert refused(lambda: buyer_orders.apply_event(sender_bank_id=UP, event=request)) == code
    assert snapshot(node_engine, order_id) == before and books_problems(node_engine) == []


def test_event__from_a_bank_that_is_not_the_seller_is_forbidden(node_engine, buyer_orders):
    order_id = order_in(node_engine, "PAID")
    before = snapshot(node_engine, order_id)
    assert refused(lambda: buyer_orders.apply_event(sender_bank_id="bank-other", event=event(
        order_id, order_events.DECLINED))) == rc.RESULT_CODE_FORBIDDEN
    assert snapshot(node_engine, order_id) == before


def test_event__a_repeated_decline_gives_the_escrow_back_once(node_engine, buyer_orders):
    order_id = order_in(node_engine, "PAID")
    assert snapshot(node_engine, order_id)[2:] == (900, 100)
    assert buyer_orders.apply_event(sender_bank_id=UP, event=event(order_id, order_events.DECLINED)) == rc.RESULT_CODE_OK
    after = snapshot(node_engine, order_id)
    assert after == ("CANCELLED", 0, 1_000, 0)
    assert buyer_orders.apply_event(sender_bank_id=UP, event=event(order_id, order_events.DECLINED)) == \
        rc.RESULT_CODE_EXISTS
    assert refused(lambda: buyer_orders.apply_event(sender_bank_id=UP, event=event(
        order_id, order_events.SHIPPED))) == rc.RESULT_CODE_ORDER_STATE_INVALID   # Then shipped: still refused.
    assert snapshot(node_engine, order_id) == after and books_problems(node_engine) == []
