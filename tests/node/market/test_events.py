"""The order-event sender on its own, against fake peers: retries with a backoff, and one
bank that is down holds up no other bank's events."""
from __future__ import annotations

import grpc
import sqlalchemy as sa

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from node import limits
from node.market import order_events, store as tables
from tests.node.books import node_engine  # noqa: F401

DOWN, UP = "bank-down", "bank-up"


class _NoAnswer(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


class FakePeers:
    """Every bank but those down answers every event with `answer` (UP answers OK; DOWN never
    answers). Records each call's (bank, event id)."""

    def __init__(self, *, answer: int = rc.RESULT_CODE_OK, down: tuple[str, ...] = (DOWN,)) -> None:
        self.calls: list[tuple[str, str]] = []
        self._answer = answer
        self._down = down

    def marketplace(self, bank_id: str):
        peers = self

        class Stub:
            def NotifyOrderEvent(self, request, timeout):  # noqa: N802 - the gRPC method name
                peers.calls.append((bank_id, request.event_id))
                if bank_id in peers._down:
                    raise _NoAnswer()
                return mp.NotifyOrderEventResponse(result=peers._answer)
        return Stub()

    def call_failed(self) -> None:
        pass


def enqueue(engine, bank_id: str, count: int, *, now_ms: int) -> None:
    with engine.begin() as connection:
        for index in range(count):
            order_events.enqueue(connection, event_id=f"{bank_id}-{index}", order_id=f"o-{index}",
                                 recipient_bank_id=bank_id, kind=order_events.SHIPPED, now_ms=now_ms + index)


def unsent(engine, bank_id: str) -> int:
    table = tables.order_events
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(table).where(
            table.c.recipient_bank_id == bank_id, table.c.sent.is_(False)))


def test_sender__a_down_bank_does_not_hold_up_a_healthy_banks_events(node_engine):
    enqueue(node_engine, DOWN, limits.order_events_per_step_max + 6, now_ms=0)  # Older, and a full batch.
    enqueue(node_engine, UP, 3, now_ms=1_000)
    peers, now_s = FakePeers(), [10.0]
    sender = order_events.OrderEventSender(node_engine, peers=peers, clock=lambda: now_s[0])
    for _ in range(3):
        sender.step()
    assert unsent(node_engine, UP) == 0
    assert [call for call in peers.calls if call[0] == DOWN] == [(DOWN, f"{DOWN}-0")]  # One try, the rest skipped.
    assert unsent(node_engine, DOWN) == limits.order_events_per_step_max + 6


def test_sender__a_down_bank_is_tried_again_after_a_growing_pause(node_engine):
    enqueue(node_engine, DOWN, 2, now_ms=0)
    peers, now_s = FakePeers(), [10.0]
    sender = order_events.OrderEventSender(node_engine, peers=peers, clock=lambda: now_s[0])
    sender.step()
    sender.step()
    assert len(peers.calls) == 1  # Not due again yet.
    now_s[0] += limits.order_event_retry_ms_min / 1000
    sender.step()
    assert len(peers.calls) == 2
    now_s[0] += limits.order_event_retry_ms_min / 1000
    sender.step()
    assert len(peers.calls) == 2  # The second pause is twice the first.
    now_s[0] += limits.order_event_retry_ms_min / 1000
    sender.step()
    assert len(peers.calls) == 3


def test_sender__a_refused_decline_is_sent_again_other_refusals_are_final(node_engine):
    """A bank whose node predates declines answers INVALID_FIELD; the buyer's money waits on it."""
    with node_engine.begin() as connection:
        order_events.enqueue(connection, event_id="declined-1", order_id="o-1", recipient_bank_id=UP,
                             kind=order_events.DECLINED, reason="sold out", now_ms=0)
        order_events.enqueue(connection, event_id="shipped-2", order_id="o-2", recipient_bank_id=DOWN,
                             kind=order_events.SHIPPED, now_ms=0)
    peers, now_s = FakePeers(answer=rc.RESULT_CODE_INVALID_FIELD, down=()), [10.0]
    sender = order_events.OrderEventSender(node_engine, peers=peers, clock=lambda: now_s[0])
    sender.step()
    assert (unsent(node_engine, UP), unsent(node_engine, DOWN)) == (1, 0)
    now_s[0] += limits.order_event_retry_ms_min / 1000
    sender.step()
    assert peers.calls == [(UP, "declined-1"), (DOWN, "shipped-2"), (UP, "declined-1")]
    assert unsent(node_engine, UP) == 1


def test_sender__an_expired_reservation_is_sent_again_unless_the_buyers_bank_knows_no_such_order(node_engine):
    """Like a decline, an expiry returns the buyer's money: refused, it is sent again; but a bank
    with no such order (one it placed without escrow) holds no money for it, so that answer is final."""
    with node_engine.begin() as connection:
        for event_id, recipient in (("expired-1", UP), ("expired-2", "bank-liar")):
            order_events.enqueue(connection, event_id=event_id, order_id=event_id, recipient_bank_id=recipient,
                                 kind=order_events.RESERVATION_EXPIRED, now_ms=0)
    answers = {UP: rc.RESULT_CODE_INVALID_FIELD, "bank-liar": rc.RESULT_CODE_ORDER_UNKNOWN}

    class Peers(FakePeers):
        def marketplace(self, bank_id: str):
            self._answer = answers[bank_id]
            return super().marketplace(bank_id)

    peers, now_s = Peers(down=()), [10.0]
    sender = order_events.OrderEventSender(node_engine, peers=peers, clock=lambda: now_s[0])
    sender.step()
    now_s[0] += limits.order_event_retry_ms_min / 1000
    sender.step()
    assert sorted(peers.calls) == [("bank-liar", "expired-2"), (UP, "expired-1"), (UP, "expired-1")]
    assert (unsent(node_engine, UP), unsent(node_engine, "bank-liar")) == (1, 0)


def test_retry_pause__doubles_and_is_bounded():
    assert order_events.retry_pause_ms(0) == limits.order_event_retry_ms_min
    assert order_events.retry_pause_ms(1) == 2 * limits.order_event_retry_ms_min
    assert order_events.retry_pause_ms(1_000) == limits.order_event_retry_ms_max


def test_received__the_same_event_id_from_another_bank_is_another_event(node_engine):
    with node_engine.begin() as connection:
        def record(sender_bank_id: str) -> bool:
            return order_events.record_received(connection, event_id="e-1", sender_bank_id=sender_bank_id,
                                                order_id="o-1", kind=order_events.REFUNDED, now_ms=0)
        assert record("bank-b") is True
        assert record("bank-b") is False   # A repeat from its sender.
        assert record("bank-c") is True    # Bank c cannot shadow, nor be shadowed by, bank b's event.
        assert record("bank-c") is False
