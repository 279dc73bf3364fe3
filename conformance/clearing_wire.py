"""Every call the kit makes to a clearing, and each test bank's delivery stream.

The kit uses each RPC in exactly one place, here, so that a change of a message's shape
(the delivery stream's payload, say) is adapted once. A call that fails at the gRPC level
raises grpc.RpcError; cases report it as their failure.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message

from fedmall import delivery_kinds, pki
from fedmall.envelope import VerificationKey, open_envelope
from fedmall.results import FedmallError, name_of
from fedmall.tls import secure_channel
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, envelope_pb2, settlement_pb2, transfer_pb2

from conformance.credentials import Party

CALL_TIMEOUT_S = 10.0
RECONNECT_PAUSE_S = 0.2
# What a delivery may carry, by payload type: each is verified as the clearing's and parsed.
DELIVERY_PAYLOADS: dict[str, type[Message]] = {cls.DESCRIPTOR.full_name: cls for cls in (
    transfer_pb2.NoticeBatch, settlement_pb2.Statement, settlement_pb2.SettlementReport,
    settlement_pb2.WindowSettled, settlement_pb2.WindowAborted, settlement_pb2.LiquidityMovement)}


class BankClient:
    """One test member's calls to the clearing, over mTLS with its certificate."""

    def __init__(self, address: str, bank: Party) -> None:
        self.bank = bank
        self._channel = secure_channel(address, bank.tls, server=pki.CLEARING)
        self._stub = clearing_pb2_grpc.ClearingServiceStub(self._channel)

    @property
    def bank_id(self) -> str:
        return self.bank.party_id

    def submit_prepares(self, envelope: envelope_pb2.Envelope) -> clearing_pb2.SubmitPreparesResponse:
        return self._stub.SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope),
                                         timeout=CALL_TIMEOUT_S)

    def submit_decisions(self, envelope: envelope_pb2.Envelope) -> clearing_pb2.SubmitDecisionsResponse:
        return self._stub.SubmitDecisions(clearing_pb2.SubmitDecisionsRequest(envelope=envelope),
                                          timeout=CALL_TIMEOUT_S)

    def get_transfer(self, transfer_id: str) -> clearing_pb2.GetTransferResponse:
        return self._stub.GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=transfer_id), timeout=CALL_TIMEOUT_S)

    def get_position(self) -> clearing_pb2.GetPositionResponse:
        return self._stub.GetPosition(clearing_pb2.GetPositionRequest(), timeout=CALL_TIMEOUT_S)

    def list_participants(self) -> list[clearing_pb2.Participant]:
        return list(self._stub.ListParticipants(clearing_pb2.ListParticipantsRequest(),
                                                timeout=CALL_TIMEOUT_S).participants)

    def get_statement(self, window_id: int) -> clearing_pb2.GetStatementResponse:
        return self._stub.GetStatement(clearing_pb2.GetStatementRequest(window_id=window_id), timeout=CALL_TIMEOUT_S)

    def get_settlement_report(self, window_id: int) -> clearing_pb2.GetSettlementReportResponse:
        return self._stub.GetSettlementReport(clearing_pb2.GetSettlementReportRequest(window_id=window_id),
                                              timeout=CALL_TIMEOUT_S)

    def submit_reconciliation(self, envelope: envelope_pb2.Envelope) -> int:
        return self._stub.SubmitReconciliation(clearing_pb2.SubmitReconciliationRequest(envelope=envelope),
                                               timeout=CALL_TIMEOUT_S).result

    def stream(self, after_sequence: int):
        """The bank's delivery stream from after_sequence: an iterator of responses, cancellable."""
        return self._stub.StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=after_sequence))

    def close(self) -> None:
        self._channel.close()


class OperatorClient:
    """The operator's administration calls (its certificate)."""

    def __init__(self, address: str, operator: Party) -> None:
        self._channel = secure_channel(address, operator.tls, server=pki.CLEARING)
        self._stub = clearing_pb2_grpc.ClearingAdminServiceStub(self._channel)

    def close_window(self) -> clearing_pb2.CloseWindowResponse:
        return self._stub.CloseWindow(clearing_pb2.CloseWindowRequest(), timeout=CALL_TIMEOUT_S)

    def settle_window(self, window_id: int) -> clearing_pb2.SettleWindowResponse:
        return self._stub.SettleWindow(clearing_pb2.SettleWindowRequest(window_id=window_id), timeout=CALL_TIMEOUT_S)

    def close(self) -> None:
        self._channel.close()


@dataclass(slots=True)
class Received:
    """What one bank's stream brought, verified as the clearing's and parsed."""
    notices: dict[str, list[transfer_pb2.TransferNotice]] = field(default_factory=dict)  # By transfer id.
    statements: dict[int, list[envelope_pb2.Envelope]] = field(default_factory=dict)     # Pages by window.
    reports: dict[int, settlement_pb2.SettlementReport] = field(default_factory=dict)
    settled: dict[int, settlement_pb2.WindowSettled] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # Deliveries that failed verification, and why.
    sequences: list[int] = field(default_factory=list)


class DeliveryStream:
    """Follows one bank's stream in a thread from where it stood when the kit started, verifying
    every delivery with the clearing's key from the bundle (a bad one is recorded, not applied)."""

    def __init__(self, client: BankClient, *, after_sequence: int) -> None:
        assert client.bank.clearing_key is not None
        self._client = client
        self._key: VerificationKey = client.bank.clearing_key
        self._cursor = after_sequence
        self._lock = threading.Lock()
        self._received = Received()
        self._call = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{client.bank_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._call = self._client.stream(self._cursor)
                for response in self._call:
                    for delivery in response.deliveries:
                        self._take(delivery)
            except grpc.RpcError:
                pass
            self._stopped.wait(RECONNECT_PAUSE_S)

    def _take(self, delivery: clearing_pb2.Delivery) -> None:
        with self._lock:
            if delivery.sequence <= self._cursor:
                self._received.refused.append(f"delivery {delivery.sequence} again after {self._cursor}: "
                                              "the stream went back")
                return
            self._cursor = delivery.sequence
            self._received.sequences.append(delivery.sequence)
            envelope = delivery.envelope
            kind_problem = delivery_kinds.payload_type_problem(delivery.kind, envelope.payload_type)
            if kind_problem is not None:
                self._received.refused.append(f"delivery {delivery.sequence}: {kind_problem}")
                return
            message_class = DELIVERY_PAYLOADS.get(envelope.payload_type)
            if message_class is None:
                self._received.refused.append(f"delivery {delivery.sequence}: unknown type {envelope.payload_type}")
                return
            try:
                message = open_envelope(envelope, message_class, expected_signer=pki.CLEARING.party_id,
                                        keys=lambda key_id: self._key if key_id == self._key.key_id else None)
            except FedmallError as error:
                self._received.refused.append(f"delivery {delivery.sequence}: {name_of(error.code)} {error}")
                return
            if isinstance(message, transfer_pb2.NoticeBatch):
                for notice in message.notices:
                    self._received.notices.setdefault(notice.prepare.transfer_id, []).append(notice)
            elif isinstance(message, settlement_pb2.Statement):
                self._received.statements.setdefault(message.window_id, []).append(envelope)
            elif isinstance(message, settlement_pb2.SettlementReport):
                self._received.reports[message.window_id] = message
            elif isinstance(message, settlement_pb2.WindowSettled):
                self._received.settled[message.window_id] = message

    def notices(self, transfer_id: str) -> list[transfer_pb2.TransferNotice]:
        with self._lock:
            return list(self._received.notices.get(transfer_id, []))

    def notice_in(self, transfer_id: str, state: int) -> transfer_pb2.TransferNotice | None:
        return next((n for n in self.notices(transfer_id) if n.state == state), None)

    def statement_pages(self, window_id: int) -> list[envelope_pb2.Envelope]:
        with self._lock:
            return list(self._received.statements.get(window_id, []))

    def report(self, window_id: int) -> settlement_pb2.SettlementReport | None:
        with self._lock:
            return self._received.reports.get(window_id)

    def settled(self, window_id: int) -> settlement_pb2.WindowSettled | None:
        with self._lock:
            return self._received.settled.get(window_id)

    def delivered(self) -> int:
        with self._lock:
            return len(self._received.sequences)

    def refused(self) -> list[str]:
        with self._lock:
            return list(self._received.refused)

    def stop(self) -> None:
        self._stopped.set()
        call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(timeout=2)
