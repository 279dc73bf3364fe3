"""The delivery consumer: follows this bank's ordered stream from the clearing.

Every delivery is an envelope signed by the clearing, stamped with its kind
(fedmall.delivery_kinds: a kind that disagrees with the payload type is refused). It is
verified first (size, signer, signature, then the payload's own checks), then applied by the
DeliveryApplier in ONE transaction with the stream cursor, dispatched on its type:

    fedmall.v1.NoticeBatch        node.bank.notices: transfers reserved, committed, aborted (one about
                                  nothing but transfers this bank never quoted is not kept)
    fedmall.v1.Statement          node.bank.settlement: keep the page, reconcile a complete statement
    fedmall.v1.SettlementReport   kept (received_deliveries), nothing else
    fedmall.v1.WindowSettled      node.bank.settlement: the settlement entry
    fedmall.v1.WindowAborted      node.bank.settlement: the window's transfers move to the next
    fedmall.v1.LiquidityMovement  node.bank.settlement: funds in or out of the bank's liquidity
    any other type                still verified as the clearing's; a warning, kept, cursor moves on

A delivery that fails verification is not applied and the cursor does not move:
the consumer logs it loudly and reconnects from the stored cursor after a back-off.

Before it applies anything, the consumer checks that this database can be the bank's:
its cursor may not be below the sequence the bank's node acknowledged to the clearing
(by resuming its stream there). A database that is empty, restored from an old backup,
or another bank's would otherwise replay the stream against the wrong books and answer
statements with false breaks. The node then refuses to start (node.server) unless its
operator accepts the replay (`fedmall-node serve --accept-database-behind`).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

import grpc
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from google.protobuf.message import Message

from fedmall import logs
from fedmall.database import read_connection
from fedmall import limits as protocol
from fedmall import delivery_kinds, wellformed
from fedmall.envelope import KeyLookup, open_envelope, pae
from fedmall.results import FedmallError, name_of
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, envelope_pb2, result_pb2, settlement_pb2, transfer_pb2

from node import limits
from node.bank import settlement, store
from node.bank.notices import NoticeService
from node.bank.settlement import SettlementService
from node.errors import Refused

log = logging.getLogger(__name__)

CLEARING = "clearing"
PAYLOAD_CLASSES: dict[str, type[Message]] = {cls.DESCRIPTOR.full_name: cls for cls in (
    transfer_pb2.NoticeBatch, settlement_pb2.Statement, settlement_pb2.SettlementReport,
    settlement_pb2.WindowSettled, settlement_pb2.WindowAborted, settlement_pb2.LiquidityMovement)}
assert set(PAYLOAD_CLASSES) == set(delivery_kinds.KINDS), "every kind of the contract is applied here"


class DeliveryRefused(Exception):
    """A delivery failed verification; the stream is dropped and resumed later."""


def _check_notice_batch(batch: transfer_pb2.NoticeBatch, *, bank_id: str) -> None:
    if batch.recipient_bank_id != bank_id:
        raise Refused(result_pb2.RESULT_CODE_FORBIDDEN, f"delivery addressed to {batch.recipient_bank_id!r}")
    if len(batch.notices) > protocol.notices_per_delivery_max:
        raise Refused(result_pb2.RESULT_CODE_BATCH_TOO_LARGE, "too many notices in one delivery")
    # The payee's words reach this bank's books and its people: the text rule the clearing applied.
    problem = next(filter(None, (wellformed.notice_problem(notice) for notice in batch.notices)), None)
    if problem is not None:
        raise Refused(result_pb2.RESULT_CODE_INVALID_FIELD, str(problem), field=f"notices.{problem.field}")


_CHECKS: dict[type[Message], Callable[..., None]] = {
    transfer_pb2.NoticeBatch: _check_notice_batch,
    settlement_pb2.Statement: settlement.check_statement,
    settlement_pb2.SettlementReport: lambda report, *, bank_id: None,
    settlement_pb2.WindowSettled: settlement.check_window_settled,
    settlement_pb2.WindowAborted: lambda aborted, *, bank_id: settlement.check_window_aborted(aborted),
    settlement_pb2.LiquidityMovement: settlement.check_liquidity_movement,
}
assert set(_CHECKS) == set(PAYLOAD_CLASSES.values())


def verify_delivery(delivery: clearing_pb2.Delivery, *, bank_id: str, keys: KeyLookup) -> Message | None:
    """The verified and checked payload, or None for a type this node does not know; else FedmallError."""
    envelope = delivery.envelope
    problem = delivery_kinds.payload_type_problem(delivery.kind, envelope.payload_type)
    if problem is not None:
        raise FedmallError(result_pb2.RESULT_CODE_MALFORMED_PAYLOAD, problem)
    message_class = PAYLOAD_CLASSES.get(envelope.payload_type)
    if message_class is None:
        _verify_signature(envelope, keys=keys)
        return None
    message = open_envelope(envelope, message_class, expected_signer=CLEARING, keys=keys)
    _CHECKS[message_class](message, bank_id=bank_id)
    return message


def _verify_signature(envelope: envelope_pb2.Envelope, *, keys: KeyLookup) -> None:
    """open_envelope's checks for a payload type this node cannot parse: the clearing did sign it."""
    if len(envelope.payload) + len(envelope.signature) + len(envelope.key_id) > protocol.envelope_bytes_max:
        raise FedmallError(result_pb2.RESULT_CODE_ENVELOPE_TOO_LARGE)
    key = keys(envelope.key_id)
    if key is None:
        raise FedmallError(result_pb2.RESULT_CODE_UNKNOWN_KEY, f"unknown signing key {envelope.key_id!r}")
    if key.owner != CLEARING:
        raise FedmallError(result_pb2.RESULT_CODE_SIGNER_NOT_PEER, f"signed by {key.owner}, not {CLEARING}")
    try:
        key.public_key.verify(envelope.signature, pae(envelope.payload_type, envelope.payload))
    except InvalidSignature:
        raise FedmallError(result_pb2.RESULT_CODE_INVALID_SIGNATURE) from None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    applied: bool            # False when the delivery was applied before (a replay).
    decisions: int = 0       # How many new decisions wait to be sent.
    reconciliations: int = 0  # How many new reconciliations wait to be sent.
    # False for a delivery about nothing but transfers this bank never quoted (node.bank.notices):
    # it changed nothing here, so it is not kept in received_deliveries (the clearing's audit log has it).
    kept: bool = True


class DeliveryApplier:
    """Applies one verified delivery and moves the cursor to its sequence, in ONE transaction."""

    def __init__(self, engine: sa.Engine, *, notices: NoticeService, settlement: SettlementService,
                 clock: Callable[[], float]) -> None:
        self._engine = engine
        self._notices = notices
        self._settlement = settlement
        self._clock = clock

    def cursor(self) -> int:
        with read_connection(self._engine) as connection:
            return store.read_cursor(connection)

    def apply(self, *, sequence: int, envelope: envelope_pb2.Envelope, message: Message | None) -> DeliveryOutcome:
        now_ms = int(self._clock() * 1000)
        with self._engine.begin() as connection:
            if sequence <= store.read_cursor(connection):
                return DeliveryOutcome(applied=False)
            outcome = self._dispatch(connection, sequence, envelope, message, now_ms=now_ms)
            if outcome.kept:
                store.record_delivery(connection, sequence=sequence, envelope=envelope, now_ms=now_ms)
            store.write_cursor(connection, sequence)
        return outcome

    def _dispatch(self, connection: sa.Connection, sequence: int, envelope: envelope_pb2.Envelope,
                  message: Message | None, *, now_ms: int) -> DeliveryOutcome:
        if isinstance(message, transfer_pb2.NoticeBatch):
            applied = self._notices.apply_batch(connection, message, now_ms=now_ms)
            return DeliveryOutcome(applied=True, decisions=applied.decisions, kept=applied.kept)
        if isinstance(message, settlement_pb2.Statement):
            reconciled = self._settlement.apply_statement(connection, envelope, message, now_ms=now_ms)
            return DeliveryOutcome(applied=True, reconciliations=int(reconciled))
        if isinstance(message, settlement_pb2.WindowSettled):
            self._settlement.apply_window_settled(connection, message, now_ms=now_ms)
        elif isinstance(message, settlement_pb2.WindowAborted):
            self._settlement.apply_window_aborted(connection, message, now_ms=now_ms)
        elif isinstance(message, settlement_pb2.LiquidityMovement):
            self._settlement.apply_liquidity_movement(connection, message, now_ms=now_ms)
        elif message is None:
            log.warning("delivery %d carries %s, unknown to this node; kept, not applied",
                        sequence, envelope.payload_type, extra=logs.fields(sequence=sequence))
        return DeliveryOutcome(applied=True)


class DatabaseBehind(Exception):
    """This node's database is behind what the bank acknowledged to the clearing."""


class DeliveryConsumer:
    def __init__(self, applier: DeliveryApplier, clearing: clearing_pb2_grpc.ClearingServiceStub, *,
                 bank_id: str, keys: KeyLookup, on_decisions: Callable[[], None] = lambda: None,
                 on_reconciliations: Callable[[], None] = lambda: None, check_database: bool = True,
                 on_connection_change: Callable[[], None] = lambda: None) -> None:
        """check_database=False: the operator accepted replaying onto a database that is behind.
        on_connection_change() runs as the stream opens and as it ends (the node's readiness)."""
        self._applier = applier
        self._clearing = clearing
        self._bank_id = bank_id
        self._keys = keys
        self._on_decisions = on_decisions
        self._on_reconciliations = on_reconciliations
        self._database_checked = not check_database
        self._lock = threading.Lock()
        self._call = None
        self._stopped = False
        self._sessions = 0  # Stream sessions opened: every one after the first is a reconnect.
        self._connected = threading.Event()
        self._on_connection_change = on_connection_change

    @property
    def connected(self) -> bool:
        """A stream session with the clearing is open (the clearing sent its headers)."""
        return self._connected.is_set()

    def database_problem(self) -> str | None:
        """Why this database cannot be the one that applied this bank's stream so far, or None.
        Raises grpc.RpcError when the clearing does not answer."""
        position = self._clearing.GetPosition(clearing_pb2.GetPositionRequest(), timeout=limits.rpc_timeout_ms / 1000)
        cursor, acknowledged = self._applier.cursor(), position.delivery_sequence_acknowledged
        if cursor >= acknowledged:
            return None
        return (f"this node's database has applied deliveries up to {cursor}, but {self._bank_id} acknowledged "
                f"{acknowledged} to the clearing: it is not the bank's database, or it lost data")

    def check_database(self) -> None:
        """DatabaseBehind unless the database can be the bank's (once; the cursor only grows)."""
        if self._database_checked:
            return
        problem = self.database_problem()
        if problem is not None:
            raise DatabaseBehind(problem)
        self._database_checked = True

    def step(self) -> bool:
        """One stream session: connect after the stored cursor and apply until it ends."""
        try:
            self.check_database()
        except DatabaseBehind as error:
            log.critical("%s; not applying anything until an operator restarts the node", error)
            raise
        cursor = self._applier.cursor()
        with self._lock:
            if self._stopped:
                return False
            self._call = self._clearing.StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=cursor))
            call = self._call
            self._sessions += 1
        log.info("delivery stream %s after sequence %d", "opened" if self._sessions == 1 else "reopened (a reconnect)",
                 cursor, extra=logs.fields(after_sequence=cursor, stream=self._sessions))
        try:
            call.initial_metadata()  # The clearing sends its headers as it opens the stream.
            if call.is_active():
                self._connected.set()
                self._on_connection_change()
            for response in call:
                for delivery in response.deliveries:
                    self.handle(delivery)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.CANCELLED and self._stopped:
                return False
            raise
        finally:
            if self._connected.is_set():
                self._connected.clear()
                self._on_connection_change()
            with self._lock:
                self._call = None
        return False

    def handle(self, delivery: clearing_pb2.Delivery) -> bool:
        """Verify and apply one delivery; False when it had been applied before."""
        try:
            message = verify_delivery(delivery, bank_id=self._bank_id, keys=self._keys)
        except FedmallError as error:
            log.error("REFUSED delivery %d (%s) from the clearing: %s; cursor stays, will reconnect",
                      delivery.sequence, delivery.envelope.payload_type, error,
                      extra=logs.fields(sequence=delivery.sequence, result=name_of(error.code)))
            raise DeliveryRefused(f"delivery {delivery.sequence}: {error}") from error
        outcome = self._applier.apply(sequence=delivery.sequence, envelope=delivery.envelope, message=message)
        if outcome.decisions:
            self._on_decisions()
        if outcome.reconciliations:
            self._on_reconciliations()
        return outcome.applied

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._call is not None:
                self._call.cancel()
