"""The outbox submitter: signs PENDING prepares into one PrepareBatch and submits it.

Retrying is always safe: the clearing answers EXISTS for an identical prepare.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from fedmall import logs
from fedmall.envelope import SigningKey
from fedmall.results import name_of
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, result_pb2, transfer_pb2

from node import limits
from node.bank.transfers import TransferService

log = logging.getLogger(__name__)


# A whole batch refused for a reason that holds for each of its prepares (clearing.rules.MEMBER_CALLS).
REFUSED_FOR_EVERY_PREPARE = frozenset({result_pb2.RESULT_CODE_PARTICIPANT_SUSPENDED})


class ClearingRefused(Exception):
    """The clearing refused a whole envelope; nothing in it was applied."""


class OutboxSubmitter:
    def __init__(self, transfers: TransferService, clearing: clearing_pb2_grpc.ClearingServiceStub,
                 signing_key: SigningKey, *, batch_max: int = limits.outbox_batch_max,
                 on_submitted: Callable[[int, float], None] = lambda items, seconds: None) -> None:
        """on_submitted(prepares, seconds from reading the outbox to recording the answers) for the metrics."""
        self._transfers = transfers
        self._on_submitted = on_submitted
        self._clearing = clearing
        self._signing_key = signing_key
        self._batch_max = batch_max

    def step(self) -> bool:
        """Submit one batch; True when a full batch went out (more may be waiting)."""
        started = time.perf_counter()
        prepares = self._transfers.pending_prepares(limit=self._batch_max)
        if not prepares:
            return False
        envelope = self._signing_key.sign(transfer_pb2.PrepareBatch(prepares=prepares))
        response = self._clearing.SubmitPrepares(
            clearing_pb2.SubmitPreparesRequest(envelope=envelope), timeout=limits.rpc_timeout_ms / 1000)
        if response.result in REFUSED_FOR_EVERY_PREPARE:
            # This bank may start no transfer now (it is suspended): each prepare is refused, as the
            # clearing would refuse it one by one, and reversed.
            log.warning("clearing refused a batch of %d prepares: %s", len(prepares), name_of(response.result),
                        extra=logs.fields(result=name_of(response.result), transfers=len(prepares),
                                          **logs.bounded_ids([prepare.transfer_id for prepare in prepares])))
            self._transfers.record_prepare_results([(prepare.transfer_id, response.result) for prepare in prepares])
            return len(prepares) == self._batch_max
        if response.result != result_pb2.RESULT_CODE_OK:
            # Nothing was applied; the cause (a key) is the operator's to fix.
            raise ClearingRefused(f"clearing refused a batch of {len(prepares)} prepares: {name_of(response.result)}")
        submitted = {prepare.transfer_id for prepare in prepares}
        results = [(result.transfer_id, result.result) for result in response.results
                   if result.transfer_id in submitted]
        accepted = []
        for transfer_id, code in results:
            if code in (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS):
                accepted.append(transfer_id)
            else:
                log.info("prepare %s refused by the clearing: %s", transfer_id, name_of(code),
                         extra=logs.fields(transfer_id=transfer_id, result=name_of(code)))
        log.info("%d prepares submitted, %d accepted", len(prepares), len(accepted),
                 extra=logs.fields(transfers=len(prepares), **logs.bounded_ids(accepted)))
        if accepted and log.isEnabledFor(logging.DEBUG):
            log.debug("prepares accepted: every transfer id", extra=logs.fields(transfer_ids=accepted))
        self._transfers.record_prepare_results(results)
        self._on_submitted(len(prepares), time.perf_counter() - started)
        return len(prepares) == self._batch_max
