"""Thin gRPC servicers: proto -> domain -> proto. The only place exceptions become result codes."""
from __future__ import annotations

import logging

import grpc

from fedmall import served_limits
from fedmall.results import FedmallError
from fedmall.tls import peer_identity
from fedmall.v1 import money_pb2, node_pb2, node_pb2_grpc, result_pb2

from node import limits
from node.answers import answers_errors
from node.bank.accounts import AccountService
from node.bank.transfers import SUBMITTED, PENDING, SendOutcome, SendRequest, TransferService

log = logging.getLogger(__name__)

OK = result_pb2.RESULT_CODE_OK
FORBIDDEN = result_pb2.RESULT_CODE_FORBIDDEN

# Incoming statuses as the caller sees them: the proto speaks of PENDING, COMMITTED, ABORTED.
_PUBLIC_STATUS = {SUBMITTED: PENDING, "ACCEPTED": PENDING, "REJECTED": PENDING}


def public_status(status: str) -> str:
    return _PUBLIC_STATUS.get(status, status)


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    """The bank's own operations; callers must hold this bank's certificate."""

    def __init__(self, *, bank_id: str, accounts: AccountService, transfers: TransferService) -> None:
        self._bank_id = bank_id
        self._accounts = accounts
        self._transfers = transfers

    def _is_own_bank(self, context: grpc.ServicerContext) -> bool:
        identity = peer_identity(context)
        return identity is not None and identity.role == "bank" and identity.party_id == self._bank_id

    @answers_errors(node_pb2.OpenAccountResponse)
    def OpenAccount(self, request, context):
        if not self._is_own_bank(context):
            return node_pb2.OpenAccountResponse(result=FORBIDDEN)
        code = self._accounts.open_account(
            account_id=request.account_id, holder_name=request.holder_name, currency=request.currency)
        return node_pb2.OpenAccountResponse(result=code)

    @answers_errors(node_pb2.DepositResponse)
    def Deposit(self, request, context):
        if not self._is_own_bank(context):
            return node_pb2.DepositResponse(result=FORBIDDEN)
        code, account = self._accounts.deposit(
            deposit_id=request.deposit_id, account_id=request.account_id,
            amount_minor=request.amount.amount_minor, currency=request.amount.currency)
        return node_pb2.DepositResponse(result=code, balance=money_pb2.Money(
            amount_minor=account.balance_minor, currency=account.currency))

    @answers_errors(node_pb2.GetAccountResponse)
    def GetAccount(self, request, context):
        if not self._is_own_bank(context):
            return node_pb2.GetAccountResponse(result=FORBIDDEN)
        account = self._accounts.get_account(request.account_id)
        return node_pb2.GetAccountResponse(
            result=OK, account_id=account.account_id, holder_name=account.holder_name, closed=account.closed,
            balance=money_pb2.Money(amount_minor=account.balance_minor, currency=account.currency))

    @answers_errors(node_pb2.SendTransferResponse)
    def SendTransfer(self, request, context):
        if not self._is_own_bank(context):
            return node_pb2.SendTransferResponse(result=FORBIDDEN)
        return _send_response(self._transfers.send(_send_request(request)))

    def SendTransfers(self, request, context):
        """Many sends: one quote per payee bank, one transaction. One result per transfer, in order."""
        if not self._is_own_bank(context):
            return node_pb2.SendTransfersResponse(results=[
                node_pb2.SendTransferResponse(result=FORBIDDEN) for _ in request.transfers])
        if len(request.transfers) > limits.send_many_max:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {limits.send_many_max} transfers per call")
        outcomes = self._transfers.send_many([_send_request(transfer) for transfer in request.transfers])
        return node_pb2.SendTransfersResponse(results=[_send_response(outcome) for outcome in outcomes])

    @answers_errors(node_pb2.GetTransferRecordResponse)
    def GetTransferRecord(self, request, context):
        if not self._is_own_bank(context):
            return node_pb2.GetTransferRecordResponse(result=FORBIDDEN)
        record = self._transfers.get_record(request.transfer_id)
        return node_pb2.GetTransferRecordResponse(
            result=OK, transfer_id=record.transfer_id, direction=record.direction,
            status=public_status(record.status),
            amount=money_pb2.Money(amount_minor=record.amount_minor, currency=record.currency),
            counterparty_bank_id=record.counterparty_bank_id, abort_reason=record.abort_reason,
            payee_reason_code=record.payee_reason_code, payee_reason=record.payee_reason, uetr=record.uetr,
            original_transfer_id=record.original_transfer_id)


def _send_response(outcome: SendOutcome) -> node_pb2.SendTransferResponse:
    return node_pb2.SendTransferResponse(result=outcome.result, status=public_status(outcome.status),
                                         field=outcome.field)


def _send_request(request: node_pb2.SendTransferRequest) -> SendRequest:
    return SendRequest(
        transfer_id=request.transfer_id, from_account_id=request.from_account_id,
        payee_bank_id=request.payee_bank_id, payee_account_id=request.payee_account_id,
        amount_minor=request.amount.amount_minor, currency=request.amount.currency, reference=request.reference,
        original_transfer_id=request.original_transfer_id)


class PeerServicer(node_pb2_grpc.PeerServiceServicer):
    """Calls from other member banks; the payer is the caller's certificate, never a field."""

    def __init__(self, *, transfers: TransferService) -> None:
        self._transfers = transfers

    def GetLimits(self, request, context):
        """Any member bank's node may read them (the PeerService gate admitted the caller)."""
        return node_pb2.PeerServiceGetLimitsResponse(limits=served_limits.limits_message())

    def QuoteTransfers(self, request, context):
        identity = peer_identity(context)
        if identity is None or identity.role != "bank":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "only member banks may ask for quotes")
        try:
            outcomes = self._transfers.quote(payer_bank_id=identity.party_id, items=list(request.items))
        except FedmallError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return node_pb2.QuoteTransfersResponse(results=[
            node_pb2.QuoteResult(transfer_id=outcome.transfer_id, result=outcome.result, condition=outcome.condition,
                                 field=outcome.field, creditor_name=outcome.creditor_name)
            for outcome in outcomes])
