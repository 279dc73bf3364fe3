"""The reconciliation submitter: sends this bank's signed answers to its statements.

Each answer (node.bank.settlement wrote and signed it in the delivery that completed the
statement) goes to ClearingService.SubmitReconciliation. A definitive answer marks
it sent: OK, EXISTS (sent before), or a refusal such as STATEMENT_MISMATCH, which is
logged for the operator; except WINDOW_STATE_INVALID for a statement with no transfers:
the clearing settles such a window without waiting for this bank's answer
(node.bank.settlement.needs_answer), so a late one is expected. A gRPC error, UNAVAILABLE or no result at all leaves it
pending for the next try; sending again is always safe.
"""
from __future__ import annotations

import logging

from fedmall import logs
from fedmall.results import name_of
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, result_pb2

from node import limits
from node.bank.settlement import SettlementService

log = logging.getLogger(__name__)

RETRY_LATER = (result_pb2.RESULT_CODE_UNSPECIFIED, result_pb2.RESULT_CODE_UNAVAILABLE)


class ClearingNotReady(Exception):
    """The clearing answered without a definitive result; the worker backs off and retries."""


class ReconciliationSubmitter:
    def __init__(self, settlement: SettlementService, clearing: clearing_pb2_grpc.ClearingServiceStub, *,
                 batch_max: int = limits.reconciliations_per_step_max) -> None:
        self._settlement = settlement
        self._clearing = clearing
        self._batch_max = batch_max

    def step(self) -> bool:
        """Send the oldest waiting answers; True when more may be waiting."""
        pending = self._settlement.pending_reconciliations(limit=self._batch_max)
        for window_id, envelope in pending:
            response = self._clearing.SubmitReconciliation(
                clearing_pb2.SubmitReconciliationRequest(envelope=envelope), timeout=limits.rpc_timeout_ms / 1000)
            if response.result in RETRY_LATER:
                raise ClearingNotReady(f"reconciliation of window {window_id}: {name_of(response.result)}")
            if response.result in (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS):
                log.info("reconciliation of window %d delivered: %s", window_id, name_of(response.result),
                         extra=logs.fields(window_id=window_id, result=name_of(response.result)))
            elif (response.result == result_pb2.RESULT_CODE_WINDOW_STATE_INVALID
                  and not self._settlement.statement_needs_answer(window_id)):
                log.info("window %d was settled before this bank's answer arrived; it had no transfers in it, so "
                         "none was needed", window_id, extra=logs.fields(window_id=window_id))
            else:
                log.error("clearing REFUSED the reconciliation of window %d: %s; an operator should look",
                          window_id, name_of(response.result),
                          extra=logs.fields(window_id=window_id, result=name_of(response.result)))
            self._settlement.mark_reconciliation_sent(window_id, response.result)
        return len(pending) == self._batch_max
