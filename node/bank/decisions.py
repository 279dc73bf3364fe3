"""The decision submitter: sends pending accepts and rejects as one signed DecisionBatch.

Every per-decision answer is definitive (OK, EXISTS, or a refusal such as EXPIRED):
the decision is marked sent. A gRPC error leaves it pending for the next try.
"""
from __future__ import annotations

import logging

from fedmall import logs
from fedmall.envelope import SigningKey
from fedmall.results import name_of
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, result_pb2

from node import limits
from node.bank.notices import NoticeService
from node.bank.outbox import ClearingRefused

log = logging.getLogger(__name__)


class DecisionSubmitter:
    def __init__(self, notices: NoticeService, clearing: clearing_pb2_grpc.ClearingServiceStub,
                 signing_key: SigningKey, *, batch_max: int = limits.decision_batch_max) -> None:
        self._notices = notices
        self._clearing = clearing
        self._signing_key = signing_key
        self._batch_max = batch_max

    def step(self) -> bool:
        batch = self._notices.pending_decisions(limit=self._batch_max)
        count = len(batch.accepts) + len(batch.rejects)
        if count == 0:
            return False
        envelope = self._signing_key.sign(batch)
        response = self._clearing.SubmitDecisions(
            clearing_pb2.SubmitDecisionsRequest(envelope=envelope), timeout=limits.rpc_timeout_ms / 1000)
        if response.result != result_pb2.RESULT_CODE_OK:
            raise ClearingRefused(f"clearing refused a batch of {count} decisions: {name_of(response.result)}")
        sent = {decision.transfer_id for decision in list(batch.accepts) + list(batch.rejects)}
        answered = [result.transfer_id for result in response.results if result.transfer_id in sent]
        for result in response.results:
            if result.result not in (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS):
                log.info("decision on %s answered %s", result.transfer_id, name_of(result.result),
                         extra=logs.fields(transfer_id=result.transfer_id, result=name_of(result.result)))
        log.info("%d decisions submitted, %d answered", count, len(answered),
                 extra=logs.fields(transfers=count, **logs.bounded_ids(answered)))
        if answered and log.isEnabledFor(logging.DEBUG):
            log.debug("decisions answered: every transfer id", extra=logs.fields(transfer_ids=answered))
        self._notices.mark_decisions_sent(answered)
        return count == self._batch_max
