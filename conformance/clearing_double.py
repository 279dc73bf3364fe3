"""The ClearingService the kit serves to a member's node when it plays the clearing.

Every RPC the member's node may call is answered here, in one place, as a clearing would
for a consortium of two: the member and the payer bank the kit plays. What the member sends
(its stream sessions, decisions, reconciliations) is recorded for the cases to judge; what
the kit delivers is queued on the member's stream by deliver(). Only the member's own
certificate is served; any other caller is refused (PERMISSION_DENIED) and recorded.

The stream numbers deliveries on from the member's cursor at its first session, so a node
that already applied deliveries from another clearing is not asked to go back.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import DecodeError

from fedmall import delivery_kinds, limits
from fedmall.envelope import SigningKey, VerificationKey, open_envelope
from fedmall.pki import Identity, TlsCredentials
from fedmall.results import FedmallError
from fedmall.tls import new_server, peer_identity, server_credentials
from fedmall.v1 import (
    clearing_pb2, clearing_pb2_grpc, envelope_pb2, money_pb2, result_pb2 as rc, settlement_pb2, transfer_pb2)

SERVER_THREADS = 16
STREAM_POLL_S = 0.2
# What the kit records of the member's calls: a run makes a few dozen; a member sending more is refused.
RECORDED_CALLS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class ReceivedDecisions:
    """One SubmitDecisions call: its batch, and the envelope's refusal (OK when it verified)."""
    result: int
    accepts: tuple[transfer_pb2.Accept, ...]
    rejects: tuple[transfer_pb2.Reject, ...]


@dataclass(slots=True)
class _State:
    deliveries: dict[int, clearing_pb2.Delivery] = field(default_factory=dict)
    next_sequence: int | None = None              # Set by the member's first stream session.
    sessions: list[int] = field(default_factory=list)  # after_sequence of each session, in order.
    served: set[int] = field(default_factory=set)
    swap_on_resume: dict[int, clearing_pb2.Delivery] = field(default_factory=dict)
    resumed_before: set[int] = field(default_factory=set)
    decisions: list[ReceivedDecisions] = field(default_factory=list)
    answers: dict[str, tuple[int, int]] = field(default_factory=dict)  # Transfer id -> (result, state) to answer.
    conditions: dict[str, bytes] = field(default_factory=dict)
    lose_answer_once: set[str] = field(default_factory=set)
    reconciliations: list[tuple[int, settlement_pb2.Reconciliation | None]] = field(default_factory=list)
    accepted_reconciliations: dict[int, bytes] = field(default_factory=dict)  # Window -> payload.
    statements: dict[int, list[envelope_pb2.Envelope]] = field(default_factory=dict)
    strangers: list[str] = field(default_factory=list)


class ClearingDouble(clearing_pb2_grpc.ClearingServiceServicer):
    def __init__(self, *, member_id: str, member_key: VerificationKey, member_address: str, payer_id: str,
                 payer_key: VerificationKey, clearing_key: SigningKey, currency: str) -> None:
        self.member_id = member_id
        self.clearing_key = clearing_key
        self.currency = currency
        self._member_key = member_key
        self._participants = [
            clearing_pb2.Participant(bank_id=bank_id, name=bank_id, currency=currency,
                                     status=clearing_pb2.PARTICIPANT_STATUS_ACTIVE, node_address=address,
                                     signing_keys=[clearing_pb2.ParticipantSigningKey(
                                         key_id=key.key_id, public_key=key.public_key.public_bytes_raw())])
            for bank_id, address, key in ((member_id, member_address, member_key), (payer_id, "", payer_key))]
        self._changed = threading.Condition()
        self._state = _State()
        self._closed = False

    # What the cases do and read ----------------------------------------------------------------

    def deliver(self, envelope: envelope_pb2.Envelope, *, after_refusal: envelope_pb2.Envelope | None = None) -> int:
        """Queue envelope on the member's stream; its sequence. With after_refusal, the envelope is
        served until the member resumes before it (it refused it), and after_refusal from then on."""
        with self._changed:
            assert self._state.next_sequence is not None, "the member's node has not opened its stream"
            sequence = self._state.next_sequence
            self._state.next_sequence += 1
            self._state.deliveries[sequence] = delivery_kinds.delivery(sequence, envelope)
            if after_refusal is not None:
                self._state.swap_on_resume[sequence] = delivery_kinds.delivery(sequence, after_refusal)
            self._changed.notify_all()
        return sequence

    def expect_decision(self, prepare: transfer_pb2.Prepare, *, answer: tuple[int, int] | None = None,
                        lose_first_answer: bool = False) -> None:
        """The member will decide prepare: answer as a clearing would (or with answer), optionally
        losing the first answer (UNAVAILABLE) so the member must send the same decision again."""
        with self._changed:
            self._state.conditions[prepare.transfer_id] = prepare.condition
            if answer is not None:
                self._state.answers[prepare.transfer_id] = answer
            if lose_first_answer:
                self._state.lose_answer_once.add(prepare.transfer_id)

    def decisions_about(self, transfer_id: str) -> list[tuple[int, transfer_pb2.Accept | transfer_pb2.Reject]]:
        """Every decision the member sent about transfer_id: (the envelope's result, the decision)."""
        with self._changed:
            return [(received.result, decision) for received in self._state.decisions
                    for decision in received.accepts + received.rejects if decision.transfer_id == transfer_id]

    def session_starts(self) -> list[int]:
        with self._changed:
            return list(self._state.sessions)

    def resumed_before(self, sequence: int) -> bool:
        with self._changed:
            return sequence in self._state.resumed_before

    def has_started(self) -> bool:
        with self._changed:
            return self._state.next_sequence is not None

    def reconciliations(self) -> list[tuple[int, settlement_pb2.Reconciliation | None]]:
        with self._changed:
            return list(self._state.reconciliations)

    def keep_statement(self, window_id: int, pages: list[envelope_pb2.Envelope]) -> None:
        with self._changed:
            self._state.statements[window_id] = list(pages)

    def strangers(self) -> list[str]:
        with self._changed:
            return list(self._state.strangers)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # The member's calls ----------------------------------------------------------------------------

    def _member_only(self, context: grpc.ServicerContext) -> None:
        identity = peer_identity(context)
        with self._changed:
            recorded = (len(self._state.decisions) + len(self._state.reconciliations) + len(self._state.strangers)
                        + len(self._state.sessions))
            if identity != Identity(self.member_id, "bank") and recorded < RECORDED_CALLS_MAX:
                self._state.strangers.append(f"{identity}")
        if identity != Identity(self.member_id, "bank"):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "the conformance kit serves only the member under test")
        if recorded >= RECORDED_CALLS_MAX:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"more than {RECORDED_CALLS_MAX} calls in one run")

    def _member_keys(self, key_id: str) -> VerificationKey | None:
        return self._member_key if key_id == self._member_key.key_id else None

    def StreamDeliveries(self, request, context):
        self._member_only(context)
        cursor = request.after_sequence
        with self._changed:
            state = self._state
            state.sessions.append(cursor)
            if state.next_sequence is None:
                state.next_sequence = cursor + 1
            for sequence in [s for s in state.swap_on_resume if s in state.served and s > cursor]:
                state.deliveries[sequence] = state.swap_on_resume.pop(sequence)
                state.resumed_before.add(sequence)
            self._changed.notify_all()
        while context.is_active():
            with self._changed:
                self._changed.wait_for(lambda: self._closed or cursor + 1 in self._state.deliveries,
                                       timeout=STREAM_POLL_S)
                if self._closed:
                    return
                batch = []
                while (cursor + 1 + len(batch) in self._state.deliveries
                       and len(batch) < limits.deliveries_per_stream_message_max):
                    batch.append(self._state.deliveries[cursor + 1 + len(batch)])
                self._state.served.update(delivery.sequence for delivery in batch)
            if batch:
                yield clearing_pb2.StreamDeliveriesResponse(deliveries=batch)
                cursor = batch[-1].sequence

    def SubmitDecisions(self, request, context):
        self._member_only(context)
        try:
            batch = open_envelope(request.envelope, transfer_pb2.DecisionBatch, expected_signer=self.member_id,
                                  keys=self._member_keys)
            result = rc.RESULT_CODE_OK
        except FedmallError as error:
            result, batch = error.code, _parsed_anyway(request.envelope.payload)
        decisions = list(batch.accepts) + list(batch.rejects)
        with self._changed:
            self._state.decisions.append(ReceivedDecisions(result, tuple(batch.accepts), tuple(batch.rejects)))
            lost = self._state.lose_answer_once.intersection(d.transfer_id for d in decisions)
            self._state.lose_answer_once -= lost
            answers = [self._answer(decision) for decision in decisions]
            self._changed.notify_all()
        if result != rc.RESULT_CODE_OK:
            return clearing_pb2.SubmitDecisionsResponse(result=result)
        if lost:
            context.abort(grpc.StatusCode.UNAVAILABLE, "conformance kit: this answer is lost on purpose; send again")
        return clearing_pb2.SubmitDecisionsResponse(result=rc.RESULT_CODE_OK, results=[
            clearing_pb2.TransferResult(transfer_id=decision.transfer_id, result=code, state=state)
            for decision, (code, state) in zip(decisions, answers)])

    def _answer(self, decision) -> tuple[int, int]:
        """As a clearing answers: the answer a case set, else by the condition the kit delivered."""
        state = self._state
        if decision.transfer_id in state.answers:
            return state.answers[decision.transfer_id]
        condition = state.conditions.get(decision.transfer_id)
        if condition is None:
            return rc.RESULT_CODE_TRANSFER_NOT_FOUND, transfer_pb2.TRANSFER_STATE_UNSPECIFIED
        if isinstance(decision, transfer_pb2.Reject):
            return rc.RESULT_CODE_OK, transfer_pb2.TRANSFER_STATE_ABORTED
        if hashlib.sha256(decision.fulfilment).digest() != condition:
            return rc.RESULT_CODE_INVALID_FULFILMENT, transfer_pb2.TRANSFER_STATE_RESERVED
        return rc.RESULT_CODE_OK, transfer_pb2.TRANSFER_STATE_COMMITTED

    def SubmitReconciliation(self, request, context):
        self._member_only(context)
        try:
            answer = open_envelope(request.envelope, settlement_pb2.Reconciliation, expected_signer=self.member_id,
                                   keys=self._member_keys)
        except FedmallError as error:
            with self._changed:
                self._state.reconciliations.append((error.code, None))
                self._changed.notify_all()
            return clearing_pb2.SubmitReconciliationResponse(result=error.code)
        with self._changed:
            first = self._state.accepted_reconciliations.get(answer.window_id)
            if first is None or answer.withdraws_previous:
                self._state.accepted_reconciliations[answer.window_id] = request.envelope.payload
                result = rc.RESULT_CODE_OK
            else:
                result = rc.RESULT_CODE_EXISTS if first == request.envelope.payload else rc.RESULT_CODE_MODIFIED_REQUEST
            self._state.reconciliations.append((result, answer))
            self._changed.notify_all()
        return clearing_pb2.SubmitReconciliationResponse(result=result)

    def GetPosition(self, request, context):
        self._member_only(context)
        zero = money_pb2.Money(amount_minor=0, currency=self.currency)
        with self._changed:
            issued = (self._state.next_sequence or 1) - 1
            acknowledged = max(self._state.sessions, default=0)
        return clearing_pb2.GetPositionResponse(
            bank_id=self.member_id, position=zero, reserved=zero, net_debit_cap=zero, liquidity=zero,
            delivery_sequence_issued=issued, delivery_sequence_acknowledged=acknowledged)

    def ListParticipants(self, request, context):
        self._member_only(context)
        return clearing_pb2.ListParticipantsResponse(participants=self._participants)

    def ListRevokedCertificates(self, request, context):
        self._member_only(context)
        return clearing_pb2.ListRevokedCertificatesResponse()

    def GetStatement(self, request, context):
        self._member_only(context)
        with self._changed:
            pages = self._state.statements.get(request.window_id)
        if pages is None:
            return clearing_pb2.GetStatementResponse(result=rc.RESULT_CODE_WINDOW_NOT_FOUND)
        return clearing_pb2.GetStatementResponse(result=rc.RESULT_CODE_OK, pages=pages)

    def GetSettlementReport(self, request, context):
        self._member_only(context)
        return clearing_pb2.GetSettlementReportResponse(result=rc.RESULT_CODE_WINDOW_NOT_FOUND)

    def GetTransfer(self, request, context):
        self._member_only(context)
        return clearing_pb2.GetTransferResponse(result=rc.RESULT_CODE_TRANSFER_NOT_FOUND)

    def SubmitPrepares(self, request, context):
        """The kit tests the member as payee: it is not paid through here."""
        self._member_only(context)
        return clearing_pb2.SubmitPreparesResponse(result=rc.RESULT_CODE_FORBIDDEN)

    def ChangeSigningKey(self, request, context):
        self._member_only(context)
        return clearing_pb2.ChangeSigningKeyResponse(result=rc.RESULT_CODE_FORBIDDEN)


def _parsed_anyway(payload: bytes) -> transfer_pb2.DecisionBatch:
    """A refused batch's decisions, when its bytes parse, so a case can name what was refused."""
    try:
        return transfer_pb2.DecisionBatch.FromString(payload)
    except DecodeError:
        return transfer_pb2.DecisionBatch()


def serve(double: ClearingDouble, *, listen: str, tls: TlsCredentials) -> grpc.Server:
    """Start serving double at listen with the clearing's certificate; the started server."""
    server = new_server(threads=SERVER_THREADS)
    clearing_pb2_grpc.add_ClearingServiceServicer_to_server(double, server)
    if server.add_secure_port(listen, server_credentials(tls)) == 0:
        raise OSError(f"the kit cannot listen on {listen}")
    server.start()
    return server
