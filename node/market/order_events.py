"""Order events between the two banks of an order: an outbox, and its sender.

An event is written in the same transaction as the state change it reports (enqueue),
and the sender delivers it with NotifyOrderEvent. A gRPC error, UNAVAILABLE or a
suspended recipient leaves it waiting to be sent again after a pause that doubles with
each attempt (retry_pause_ms); the recipient's other waiting events wait as long, so
one bank that is down holds up no other bank's events. Any other answer is definitive
and kept in answer_result, except for DECLINED and RESERVATION_EXPIRED, which return the buyer's
own money and are sent until they are accepted (or the buyer's bank knows no such order). Event ids are derived from their cause, and the
receiver records every event it applied (record_received), so a repeat changes nothing.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Protocol

import grpc
import sqlalchemy as sa

from fedmall import logs
from fedmall.database import read_connection
from fedmall.results import FedmallError, name_of
from fedmall.v1 import marketplace_pb2, marketplace_pb2_grpc, money_pb2, result_pb2

from node import fields, limits
from node.market import store as tables

log = logging.getLogger(__name__)

SHIPPED = marketplace_pb2.ORDER_EVENT_KIND_SHIPPED
CANCELLED = marketplace_pb2.ORDER_EVENT_KIND_CANCELLED
COMPLETED = marketplace_pb2.ORDER_EVENT_KIND_COMPLETED
REFUNDED = marketplace_pb2.ORDER_EVENT_KIND_REFUNDED
DECLINED = marketplace_pb2.ORDER_EVENT_KIND_DECLINED
RESERVATION_EXPIRED = marketplace_pb2.ORDER_EVENT_KIND_RESERVATION_EXPIRED
# Events that end an order before shipping and so return the buyer's escrow: sent until accepted.
RETURNS_ESCROW = (DECLINED, RESERVATION_EXPIRED)

RETRY_CODES = (result_pb2.RESULT_CODE_UNAVAILABLE, result_pb2.RESULT_CODE_PARTICIPANT_SUSPENDED)
ANSWERED_CODES = (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS)
# Final for an event that returns the escrow too: the buyer's bank has no such order, so it holds
# no money for it (an order a hostile bank placed without escrow, say); asking again would not end.
NOTHING_TO_RETURN_CODES = (result_pb2.RESULT_CODE_ORDER_UNKNOWN,)


def check_event_fields(event: marketplace_pb2.NotifyOrderEventRequest) -> None:
    """Every field of an event another bank sends, whatever its kind, by the contract's rules:
    UUID ids in their one spelling, text without control or bidirectional characters, bounded.
    InvalidRequest (INVALID_FIELD) otherwise."""
    fields.check_uuid(event.event_id, "event id")
    fields.check_uuid(event.order_id, "order id")
    fields.check_text(event.tracking_reference, "tracking reference", length_max=limits.tracking_reference_length_max)
    fields.check_text(event.reason, "reason", length_max=limits.decline_reason_length_max)
    if event.transfer_id:
        fields.check_uuid(event.transfer_id, "transfer id")


class MarketplacePeers(Protocol):
    """Other banks' MarketplacePeerService (node.peers.PeerDirectory in production)."""

    def marketplace(self, bank_id: str) -> marketplace_pb2_grpc.MarketplacePeerServiceStub: ...

    def call_failed(self) -> None: ...


def enqueue(connection: sa.Connection, *, event_id: str, order_id: str, recipient_bank_id: str, kind: int,
            now_ms: int, tracking_reference: str = "", amount_minor: int = 0, currency: str = "",
            transfer_id: str = "", reason: str = "") -> None:
    """Write an event for the other bank, in the caller's transaction; a repeat writes nothing."""
    exists = connection.scalar(sa.select(tables.order_events.c.event_id)
                               .where(tables.order_events.c.event_id == event_id))
    if exists is not None:
        return
    connection.execute(tables.order_events.insert().values(
        event_id=event_id, order_id=order_id, recipient_bank_id=recipient_bank_id, kind=kind,
        tracking_reference=tracking_reference, amount_minor=amount_minor, currency=currency,
        transfer_id=transfer_id, reason=reason, sent=False, answer_result=result_pb2.RESULT_CODE_UNSPECIFIED,
        created_at_unix_ms=now_ms, attempts=0, next_attempt_at_unix_ms=now_ms))


def record_received(connection: sa.Connection, *, event_id: str, sender_bank_id: str, order_id: str, kind: int,
                    now_ms: int) -> bool:
    """Remember an applied event in the caller's transaction; False when it was applied before.
    Keyed by sender and event id: one bank's event ids cannot shadow another's."""
    table = tables.received_order_events
    exists = connection.scalar(sa.select(table.c.event_id).where(
        table.c.sender_bank_id == sender_bank_id, table.c.event_id == event_id))
    if exists is not None:
        return False
    connection.execute(tables.received_order_events.insert().values(
        event_id=event_id, sender_bank_id=sender_bank_id, order_id=order_id, kind=kind, received_at_unix_ms=now_ms))
    return True


def mark_sent(connection: sa.Connection, *, event_id: str, answer: int) -> None:
    """An event answered outside the sender (a synchronous call): the sender leaves it alone."""
    table = tables.order_events
    connection.execute(table.update().where(table.c.event_id == event_id, table.c.sent.is_(False))
                       .values(sent=True, answer_result=answer))


def retry_pause_ms(attempts: int) -> int:
    """The pause after a failed attempt (attempts made before it): doubling, bounded. Pure."""
    return min(limits.order_event_retry_ms_max, limits.order_event_retry_ms_min << min(attempts, 16))


def request_of(row) -> marketplace_pb2.NotifyOrderEventRequest:
    request = marketplace_pb2.NotifyOrderEventRequest(
        event_id=row.event_id, order_id=row.order_id, kind=row.kind, tracking_reference=row.tracking_reference,
        transfer_id=row.transfer_id, reason=row.reason)
    if row.amount_minor:
        request.amount.CopyFrom(money_pb2.Money(amount_minor=row.amount_minor, currency=row.currency))
    return request


class OrderEventSender:
    def __init__(self, engine: sa.Engine, *, peers: MarketplacePeers, clock: Callable[[], float],
                 on_answered: Callable[[sa.Connection, Any, int], None] = lambda *_: None) -> None:
        """on_answered(connection, event row, answer) runs in the transaction that marks an event sent."""
        self._engine = engine
        self._peers = peers
        self._clock = clock
        self._on_answered = on_answered

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def step(self) -> bool:
        """Send the oldest due events; a recipient that fails is skipped for the rest of the step
        and its events wait out the pause. True when a full batch went and more may be due."""
        table = tables.order_events
        now_ms = self._now_ms()
        with read_connection(self._engine) as connection:
            rows = connection.execute(sa.select(table).where(
                table.c.sent.is_(False), table.c.next_attempt_at_unix_ms <= now_ms)
                .order_by(table.c.next_attempt_at_unix_ms, table.c.created_at_unix_ms, table.c.event_id)
                .limit(limits.order_events_per_step_max)).all()
        if not rows:
            return False
        answered, failed = [], {}
        for row in rows:
            if row.recipient_bank_id in failed:
                continue
            code = self._send(row)
            if code in RETRY_CODES or (row.kind in RETURNS_ESCROW
                                       and code not in ANSWERED_CODES + NOTHING_TO_RETURN_CODES):
                # A decline or an expiry only returns the buyer's own money, so no refusal is final:
                # an older node refuses the kind until its bank upgrades, and the escrow must come back.
                if code not in RETRY_CODES:
                    log.warning("order %s: %s refused the %s event (%s); retrying", row.order_id,
                                row.recipient_bank_id, marketplace_pb2.OrderEventKind.Name(row.kind), name_of(code),
                                extra=logs.fields(order_id=row.order_id, bank=row.recipient_bank_id,
                                                  result=name_of(code)))
                failed[row.recipient_bank_id] = row
            else:
                answered.append((row, code))
        with self._engine.begin() as connection:
            for row, code in answered:
                moved = connection.execute(table.update().where(table.c.event_id == row.event_id, table.c.sent.is_(False))
                                           .values(sent=True, answer_result=code))
                if moved.rowcount:
                    self._on_answered(connection, row, code)
            for bank_id, row in failed.items():
                self._wait(connection, bank_id, row, now_ms=now_ms)
        return len(rows) == limits.order_events_per_step_max

    @staticmethod
    def _wait(connection: sa.Connection, bank_id: str, row, *, now_ms: int) -> None:
        """The failed event's attempts + 1; it and the bank's other due-sooner events wait the pause."""
        table = tables.order_events
        next_ms = now_ms + retry_pause_ms(row.attempts)
        connection.execute(table.update().where(table.c.event_id == row.event_id, table.c.sent.is_(False))
                           .values(attempts=table.c.attempts + 1))
        connection.execute(table.update().where(
            table.c.recipient_bank_id == bank_id, table.c.sent.is_(False),
            table.c.next_attempt_at_unix_ms < next_ms).values(next_attempt_at_unix_ms=next_ms))

    def _send(self, row) -> int:
        try:
            response = self._peers.marketplace(row.recipient_bank_id).NotifyOrderEvent(
                request_of(row), timeout=limits.rpc_timeout_ms / 1000)
        except grpc.RpcError as error:
            log.warning("order event %s to %s: %s; will retry", row.event_id, row.recipient_bank_id,
                        error.code().name, extra=logs.fields(order_id=row.order_id, bank=row.recipient_bank_id))
            self._peers.call_failed()
            return result_pb2.RESULT_CODE_UNAVAILABLE
        except FedmallError as error:
            return error.code
        if response.result not in (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS):
            log.info("order event %s (%s) refused by %s: %s", row.event_id, row.order_id, row.recipient_bank_id,
                     name_of(response.result), extra=logs.fields(order_id=row.order_id, bank=row.recipient_bank_id,
                                                                 result=name_of(response.result)))
        return response.result
