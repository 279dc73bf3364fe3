"""Implementations broken on purpose, for the kit to catch: small patches of the real ones."""
from __future__ import annotations

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc, transfer_pb2


def parse_without_verifying(envelope, message_class, *, expected_signer, keys):
    """open_envelope that believes any signature and any signer: it only parses."""
    message = message_class()
    if envelope.payload_type != message.DESCRIPTOR.full_name:
        raise FedmallError(rc.RESULT_CODE_MALFORMED_PAYLOAD)
    message.ParseFromString(envelope.payload)
    return message


def forgetting_retries(submit_prepares):
    """A ClearingService.SubmitPrepares that answers a repeated prepare as if it were new (OK)."""
    def submit(self, request, context):
        response = submit_prepares(self, request, context)
        for result in response.results:
            if result.result == rc.RESULT_CODE_EXISTS:
                result.result = rc.RESULT_CODE_OK
        return response
    return submit


def lenient_payee(decide, fulfilment_of):
    """A payee's decide that accepts a prepare whose terms differ from its quote (it checks the
    account only), with the fulfilment of the terms it was sent."""
    def lenient(prepare, account, key):
        decision = decide(prepare, account, key)
        if decision.result != rc.RESULT_CODE_CONDITION_MISMATCH:
            return decision
        return type(decision)(result=rc.RESULT_CODE_OK, fulfilment=fulfilment_of(prepare, key))
    return lenient


def booking_expired_as_paid(as_payee):
    """A payee's NoticeService._as_payee that books a transfer the clearing aborted as EXPIRED
    as if it had committed (into window 1)."""
    def book(self, notice, *args, **kwargs):
        if notice.state == transfer_pb2.TRANSFER_STATE_ABORTED and notice.result == rc.RESULT_CODE_EXPIRED:
            paid = transfer_pb2.TransferNotice()
            paid.CopyFrom(notice)
            paid.state, paid.result, paid.settlement_window_id = transfer_pb2.TRANSFER_STATE_COMMITTED, 0, 1
            notice = paid
        return as_payee(self, notice, *args, **kwargs)
    return book
