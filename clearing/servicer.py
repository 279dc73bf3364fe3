"""The clearing's gRPC servicers: proto <-> domain, and the only place that maps
FedmallError to result codes (and a storage failure to gRPC UNAVAILABLE: StorageFailures).
Identity comes from the mTLS certificate only."""
from __future__ import annotations

import logging
import threading
import time

import grpc
import sqlalchemy as sa

from fedmall import delivery_kinds, limits, logs, money, served_limits
from fedmall.envelope import Envelope
from fedmall.gate import CallerGate, Refusal, split_method
from fedmall.pki import Identity
from fedmall.results import FedmallError, name_of
from fedmall.tls import peer_identity
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, money_pb2
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import settlement_pb2, transfer_pb2

from clearing import certificates, operator, rules
from clearing.deliveries import DeliveryBell, read_deliveries
from clearing.funds import FundsService
from clearing.metrics import HotPath, OpenStreams
from clearing.registry import Registry
from clearing.store import Store, StorageUnavailable
from clearing.transfers import TransferService
from clearing.windows import WindowService

log = logging.getLogger("fedmall.clearing")

PARTICIPANT_STATUSES = {rules.ACTIVE: clearing_pb2.PARTICIPANT_STATUS_ACTIVE,
                        rules.SUSPENDED: clearing_pb2.PARTICIPANT_STATUS_SUSPENDED,
                        rules.ONBOARDING: clearing_pb2.PARTICIPANT_STATUS_ONBOARDING,
                        rules.LEFT: clearing_pb2.PARTICIPANT_STATUS_LEFT}


def _identity(context: grpc.ServicerContext, role: str) -> Identity:
    identity = peer_identity(context)
    if identity is None or identity.role != role:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, f"this service is for the {role} role")
    return identity


def _log_results(kind: str, peer: str, results) -> None:
    """One summary line per batch with its transfer ids (a bounded list at info, all at debug),
    and one line per refused item naming its transfer id and result code."""
    counts: dict[str, int] = {}
    accepted: list[str] = []
    for r in results:
        counts[name_of(r.result)] = counts.get(name_of(r.result), 0) + 1
        if r.result in (rc.RESULT_CODE_OK, rc.RESULT_CODE_EXISTS):
            accepted.append(r.transfer_id)
        else:
            # The id as the member sent it, quoted and cut: it may be exactly what was refused.
            transfer_id = r.transfer_id[:limits.uuid_length + 4]
            log.info("%s %r from %s refused: %s", kind, transfer_id, peer, name_of(r.result),
                     extra=logs.fields(transfer_id=transfer_id, bank=peer, result=name_of(r.result)))
    summary = ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))
    log.info("%s batch from %s: %s", kind, peer, summary,
             extra=logs.fields(bank=peer, transfers=len(results), **logs.bounded_ids(accepted)))
    if accepted and log.isEnabledFor(logging.DEBUG):
        log.debug("%s batch from %s: every transfer id", kind, peer,
                  extra=logs.fields(bank=peer, transfers=len(results), transfer_ids=accepted))


def _transfer_results(results) -> list[clearing_pb2.TransferResult]:
    return [clearing_pb2.TransferResult(transfer_id=r.transfer_id, result=r.result, state=r.state, field=r.field)
            for r in results]


class StorageFailures(grpc.ServerInterceptor):
    """A call the database fails ends in gRPC UNAVAILABLE (nothing was written; retry
    later), never UNKNOWN; the cause goes to the clearing's log, not to the member."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(handler.unary_unary, method))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._stream(handler.unary_stream, method))
        return handler

    @staticmethod
    def _unavailable(context: grpc.ServicerContext, method: str, error: Exception) -> None:
        if not isinstance(error, StorageUnavailable):  # retry_on_conflict has logged its own.
            log.error("storage failure in %s: %s", method, getattr(error, "orig", None) or error)
        context.abort(grpc.StatusCode.UNAVAILABLE, "the clearing's storage is unavailable; retry later")

    def _unary(self, behaviour, method: str):
        def call(request, context):
            try:
                return behaviour(request, context)
            except (StorageUnavailable, sa.exc.DBAPIError) as error:
                self._unavailable(context, method, error)
        return call

    def _stream(self, behaviour, method: str):
        def call(request, context):
            try:
                yield from behaviour(request, context)
            except (StorageUnavailable, sa.exc.DBAPIError) as error:
                self._unavailable(context, method, error)
        return call


CLEARING_SERVICE = clearing_pb2.DESCRIPTOR.services_by_name["ClearingService"].full_name


class MembershipGate(CallerGate):
    """Every ClearingService call, before its servicer runs: the caller must be a bank that is a
    participant and has not left (else PERMISSION_DENIED, saying nothing more), and its status
    must allow the method (clearing.rules.MEMBER_CALLS; else the status's result code where the
    response carries one, such as PARTICIPANT_SUSPENDED, PERMISSION_DENIED otherwise). An
    ONBOARDING bank's first call makes it ACTIVE (clearing.membership). A stream is judged again
    before each message, so a bank that leaves gets nothing more on it."""

    def __init__(self, registry: Registry) -> None:
        super().__init__([CLEARING_SERVICE], self._refusal)
        self._registry = registry

    def _refusal(self, context: grpc.ServicerContext, method: str) -> Refusal | None:
        identity = peer_identity(context)
        if identity is None or identity.role != "bank":
            return Refusal("this service is for the bank role")
        row = self._registry.get(identity.party_id)
        if row is None:
            return Refusal(f"{identity.party_id} is not a participant")
        status = row.status
        if status == rules.LEFT:
            return Refusal(f"{identity.party_id} left the consortium")
        if status == rules.ONBOARDING:
            if self._registry.record_connected(identity.party_id):
                log.info("%s connected for the first time: now active", identity.party_id,
                         extra=logs.fields(bank=identity.party_id))
            status = rules.ACTIVE
        code = rules.call_refusal(status, split_method(method)[1])
        if code == rc.RESULT_CODE_OK:
            return None
        log.info("%s from %s refused: %s", split_method(method)[1], identity.party_id, name_of(code),
                 extra=logs.fields(bank=identity.party_id, result=name_of(code)))
        return Refusal(f"{identity.party_id} is {status}: {name_of(code)}", result=code)


class ClearingServicer(clearing_pb2_grpc.ClearingServiceServicer):
    def __init__(self, store: Store, registry: Registry, transfers: TransferService, windows: WindowService,
                 bell: DeliveryBell, *, stopping: threading.Event, hot_path: HotPath, streams: OpenStreams) -> None:
        self._store = store
        self._hot_path = hot_path
        self._streams = streams
        self._registry = registry
        self._transfers = transfers
        self._windows = windows
        self._bell = bell
        self._stopping = stopping
        self._streams_lock = threading.Lock()
        self._stream_generation: dict[str, int] = {}

    @staticmethod
    def _member(context: grpc.ServicerContext) -> str:
        """The calling bank, which MembershipGate let through: a participant whose status allows
        this call."""
        return _identity(context, "bank").party_id

    def SubmitPrepares(self, request, context):
        return self._submit(context, "prepare", self._transfers.submit_prepares, request.envelope,
                            clearing_pb2.SubmitPreparesResponse)

    def SubmitDecisions(self, request, context):
        return self._submit(context, "decision", self._transfers.submit_decisions, request.envelope,
                            clearing_pb2.SubmitDecisionsResponse)

    def _submit(self, context, kind: str, submit, envelope, response_class):
        """A signed batch: an envelope-level refusal, or one result per item."""
        peer = self._member(context)
        started = time.perf_counter()
        try:
            results = submit(envelope, peer=peer)
        except FedmallError as error:
            log.warning("%s batch from %s refused: %s", kind, peer, name_of(error.code),
                        extra=logs.fields(bank=peer, result=name_of(error.code)))
            self._hot_path.refused(kind, error.code)
            return response_class(result=error.code)
        self._hot_path.batch(kind, items=len(results), seconds=time.perf_counter() - started,
                             results=(r.result for r in results))
        _log_results(kind, peer, results)
        return response_class(result=rc.RESULT_CODE_OK, results=_transfer_results(results))

    def GetTransfer(self, request, context):
        peer = self._member(context)
        try:
            row = self._transfers.get(request.transfer_id, peer=peer)
        except FedmallError as error:
            return clearing_pb2.GetTransferResponse(result=error.code, field=error.field)
        return clearing_pb2.GetTransferResponse(
            result=rc.RESULT_CODE_OK, state=row.state,
            abort_reason=row.result if row.state == transfer_pb2.TRANSFER_STATE_ABORTED else rc.RESULT_CODE_OK,
            prepare=transfer_pb2.Prepare.FromString(row.prepare_bytes),
            payee_reason_code=row.payee_reason_code or rc.RESULT_CODE_UNSPECIFIED, payee_reason=row.payee_reason or "")

    def StreamDeliveries(self, request, context):
        peer = self._member(context)
        cursor = max(request.after_sequence, 0)
        if cursor:
            self._registry.record_acknowledged(peer, cursor)
        # One stream per bank: a new one (a reconnect) ends the old, so dead or repeated
        # streams cannot pile up and hold the server's threads.
        with self._streams_lock:
            generation = self._stream_generation[peer] = self._stream_generation.get(peer, 0) + 1
        self._bell.ring([peer])  # Wake the old stream so it sees it was replaced.
        log.info("%s opened its delivery stream after sequence %d%s", peer, cursor,
                 " (a reconnect: it replaces the one before)" if generation > 1 else "",
                 extra=logs.fields(bank=peer, after_sequence=cursor, stream=generation))
        # Headers now, not with the first delivery: the node counts its stream as connected on them.
        context.send_initial_metadata(())
        self._streams.opened(peer)
        try:
            yield from self._deliveries(context, peer, cursor=cursor, generation=generation)
        finally:
            self._streams.closed(peer)
            log.info("delivery stream of %s ended", peer, extra=logs.fields(bank=peer, stream=generation))

    def _deliveries(self, context, peer: str, *, cursor: int, generation: int):
        idle_timeout_s = limits.stream_idle_poll_ms / 1000
        while context.is_active() and not self._stopping.is_set() and self._stream_generation[peer] == generation:
            rings = self._bell.rings(peer)
            with self._store.read() as connection:
                rows = read_deliveries(connection, peer, after_sequence=cursor)
            if rows:
                yield clearing_pb2.StreamDeliveriesResponse(deliveries=[
                    delivery_kinds.delivery(row.sequence, Envelope.FromString(row.envelope)) for row in rows])
                cursor = rows[-1].sequence
                self._streams.sent(peer, cursor)
            else:
                self._bell.wait(peer, seen_rings=rings, timeout_s=idle_timeout_s)

    def ListParticipants(self, request, context):
        self._member(context)
        keys = self._registry.active_signing_keys()
        return clearing_pb2.ListParticipantsResponse(participants=[
            clearing_pb2.Participant(
                bank_id=row.bank_id, name=row.name, currency=row.currency, node_address=row.node_address,
                status=PARTICIPANT_STATUSES[row.status], signing_keys=[
                    clearing_pb2.ParticipantSigningKey(key_id=key.key_id, public_key=key.public_key)
                    for key in keys.get(row.bank_id, [])])
            for row in self._registry.list()])

    def GetPosition(self, request, context):
        row = self._registry.get(self._member(context))

        def money(amount_minor: int) -> money_pb2.Money:
            return money_pb2.Money(amount_minor=amount_minor, currency=row.currency)

        return clearing_pb2.GetPositionResponse(
            bank_id=row.bank_id, position=money(row.position_minor), reserved=money(row.reserved_minor),
            net_debit_cap=money(row.net_debit_cap_minor), liquidity=money(row.liquidity_minor),
            delivery_sequence_issued=row.delivery_sequence, delivery_sequence_acknowledged=row.acknowledged_sequence)

    def GetStatement(self, request, context):
        peer = self._member(context)
        try:
            self._windows.window(request.window_id)
        except FedmallError as error:
            return clearing_pb2.GetStatementResponse(result=error.code)
        pages = self._windows.statement(request.window_id, peer)
        if not pages:
            return clearing_pb2.GetStatementResponse(result=rc.RESULT_CODE_WINDOW_STATE_INVALID)
        return clearing_pb2.GetStatementResponse(result=rc.RESULT_CODE_OK, pages=pages)

    def GetSettlementReport(self, request, context):
        self._member(context)
        try:
            envelope, _ = self._windows.report(request.window_id)
            state = self._windows.window(request.window_id).state
        except FedmallError as error:
            return clearing_pb2.GetSettlementReportResponse(result=error.code)
        return clearing_pb2.GetSettlementReportResponse(result=rc.RESULT_CODE_OK, report=envelope, state=state)

    def SubmitReconciliation(self, request, context):
        peer = self._member(context)
        try:
            result = self._windows.record_reconciliation(request.envelope, peer=peer)
        except FedmallError as error:
            log.warning("reconciliation from %s refused: %s (%s)", peer, name_of(error.code), error,
                        extra=logs.fields(bank=peer, result=name_of(error.code)))
            return clearing_pb2.SubmitReconciliationResponse(result=error.code, field=error.field)
        return clearing_pb2.SubmitReconciliationResponse(result=result)

    def ChangeSigningKey(self, request, context):
        peer = self._member(context)
        try:
            result = self._registry.change_signing_key(request.envelope, peer=peer)
        except FedmallError as error:
            log.warning("signing key change from %s refused: %s (%s)", peer, name_of(error.code), error,
                        extra=logs.fields(bank=peer, result=name_of(error.code)))
            return clearing_pb2.ChangeSigningKeyResponse(result=error.code, field=error.field)
        return clearing_pb2.ChangeSigningKeyResponse(result=result)

    def GetLimits(self, request, context):
        self._member(context)
        return clearing_pb2.GetLimitsResponse(limits=served_limits.limits_message())

    def ListRevokedCertificates(self, request, context):
        self._member(context)
        with self._store.read() as connection:
            refused = certificates.refused(connection, now_ms=time.time_ns() // 1_000_000)
        return clearing_pb2.ListRevokedCertificatesResponse(certificates=[
            clearing_pb2.RevokedCertificate(serial=entry.serial, sha256_fingerprint=bytes.fromhex(entry.sha256),
                                            party_id=entry.party_id, not_after_unix_ms=entry.not_after_ms)
            for entry in refused])


FUNDS_STATES = {"reserved": clearing_pb2.FUNDS_MOVEMENT_STATE_RESERVED,
                "committed": clearing_pb2.FUNDS_MOVEMENT_STATE_COMMITTED,
                "aborted": clearing_pb2.FUNDS_MOVEMENT_STATE_ABORTED}


FUNDS_TERMS_FIELDS = frozenset(clearing_pb2.FundsMovementTerms.DESCRIPTOR.fields_by_name)


class ClearingAdminServicer(clearing_pb2_grpc.ClearingAdminServiceServicer):
    def __init__(self, registry: Registry, funds: FundsService, windows: WindowService) -> None:
        self._registry = registry
        self._funds = funds
        self._windows = windows

    def _funds_call(self, context, reason: str, change, response_class, *, has_terms: bool = False,
                    bank_id: str = "", movement_id: str = ""):
        """Run a funds change as the operator the certificate names, with the request's reason."""
        identity = _identity(context, "operator")
        action = response_class.DESCRIPTOR.name.removesuffix("Response")
        try:
            done = change(operator.checked(identity.party_id, reason))
        except FedmallError as error:
            operator.log_action(action, operator=identity.party_id, result=name_of(error.code), reason=reason,
                                detail=str(error), bank=bank_id, movement_id=movement_id)
            in_terms = has_terms and error.field in FUNDS_TERMS_FIELDS
            return response_class(result=error.code, field=f"terms.{error.field}" if in_terms else error.field)
        operator.log_action(action, operator=identity.party_id, result=name_of(done.result), reason=reason,
                            bank=done.movement.bank_id, movement_id=done.movement.movement_id,
                            amount=money.format_money(done.movement.amount_minor, done.movement.currency))
        response = response_class(result=done.result, state=FUNDS_STATES[done.movement.state])
        if done.movement.window_id is not None and "statement_window_id" in response_class.DESCRIPTOR.fields_by_name:
            response.statement_window_id = done.movement.window_id
        return response

    def _record(self, context, request, record, response_class):
        terms = request.terms
        bank = self._registry.get(terms.bank_id)
        if bank is not None and terms.amount.currency != bank.currency:
            return response_class(result=rc.RESULT_CODE_CURRENCY_NOT_SUPPORTED)
        return self._funds_call(context, request.reason, lambda action: record(
            movement_id=terms.movement_id, bank_id=terms.bank_id, amount_minor=terms.amount.amount_minor,
            external_reference=terms.external_reference, action=action), response_class, has_terms=True,
            bank_id=terms.bank_id, movement_id=terms.movement_id)

    def RecordFundsIn(self, request, context):
        return self._record(context, request, self._funds.record_funds_in, clearing_pb2.RecordFundsInResponse)

    def ReserveFundsOut(self, request, context):
        return self._record(context, request, self._funds.reserve_funds_out, clearing_pb2.ReserveFundsOutResponse)

    def CommitFundsOut(self, request, context):
        return self._funds_call(context, request.reason, lambda action: self._funds.commit_funds_out(
            request.movement_id, action=action), clearing_pb2.CommitFundsOutResponse, movement_id=request.movement_id)

    def AbortFundsOut(self, request, context):
        return self._funds_call(context, request.reason, lambda action: self._funds.abort_funds_out(
            request.movement_id, action=action), clearing_pb2.AbortFundsOutResponse, movement_id=request.movement_id)

    def _set_status(self, request, context, status: str) -> int:
        identity = _identity(context, "operator")
        action = "SuspendParticipant" if status == rules.SUSPENDED else "ResumeParticipant"
        try:
            self._registry.set_status(request.bank_id, status)
        except FedmallError as error:
            operator.log_action(action, operator=identity.party_id, result=name_of(error.code), detail=str(error),
                                bank=request.bank_id)
            return error.code
        operator.log_action(action, operator=identity.party_id, result="OK", bank=request.bank_id)
        return rc.RESULT_CODE_OK

    def SuspendParticipant(self, request, context):
        return clearing_pb2.SuspendParticipantResponse(result=self._set_status(request, context, rules.SUSPENDED))

    def ResumeParticipant(self, request, context):
        return clearing_pb2.ResumeParticipantResponse(result=self._set_status(request, context, rules.ACTIVE))

    def SetNetDebitCap(self, request, context):
        """The operator's name is its certificate's identity; the reason is checked like the CLI's."""
        identity = _identity(context, "operator")
        try:
            action = operator.checked(identity.party_id, request.reason)
            change = self._registry.set_net_debit_cap(request.bank_id, cap_minor=request.cap.amount_minor,
                                                      currency=request.cap.currency, action=action)
        except FedmallError as error:
            operator.log_action("SetNetDebitCap", operator=identity.party_id, result=name_of(error.code),
                                reason=request.reason, detail=str(error), bank=request.bank_id)
            return clearing_pb2.SetNetDebitCapResponse(result=error.code, field=error.field)
        result = rc.RESULT_CODE_EXISTS if change.audit_sequence is None else rc.RESULT_CODE_OK
        operator.log_action("SetNetDebitCap", operator=identity.party_id, result=name_of(result),
                            reason=request.reason, bank=request.bank_id,
                            cap=money.format_money(request.cap.amount_minor, request.cap.currency))
        return clearing_pb2.SetNetDebitCapResponse(result=result)

    def CloseWindow(self, request, context):
        """As `fedmall-clearing windows close`: close, open the next, issue the closed one."""
        identity = _identity(context, "operator")
        try:
            closed, opened = self._windows.close(window_id=request.window_id or None)
            self._windows.issue(closed)
        except FedmallError as error:
            operator.log_action("CloseWindow", operator=identity.party_id, result=name_of(error.code),
                                window_id=request.window_id or "")
            return clearing_pb2.CloseWindowResponse(result=error.code)
        operator.log_action("CloseWindow", operator=identity.party_id, result="OK", window_id=closed)
        return clearing_pb2.CloseWindowResponse(result=rc.RESULT_CODE_OK, closed_window_id=closed,
                                                opened_window_id=opened)

    def SettleWindow(self, request, context):
        """As `fedmall-clearing settle` without an override: a dispute is never overridden here."""
        identity = _identity(context, "operator")
        try:
            nets = self._windows.settle(request.window_id)
        except FedmallError as error:
            operator.log_action("SettleWindow", operator=identity.party_id, result=name_of(error.code),
                                window_id=request.window_id)
            return clearing_pb2.SettleWindowResponse(result=error.code)
        operator.log_action("SettleWindow", operator=identity.party_id, result="OK", window_id=request.window_id)
        return clearing_pb2.SettleWindowResponse(result=rc.RESULT_CODE_OK, nets=[settlement_pb2.NetPosition(
            bank_id=row.bank_id, debits=money_pb2.Money(amount_minor=row.debits_minor, currency=row.currency),
            credits=money_pb2.Money(amount_minor=row.credits_minor, currency=row.currency),
            net=money_pb2.Money(amount_minor=row.net_minor, currency=row.currency)) for row in nets])
