"""The delivery consumer: follows this bank's ordered stream from the clearing.

Each delivery is verified (clearing-signed NoticeBatch addressed to this bank), then
applied with its cursor in one transaction. A delivery that fails verification is
not applied and the cursor does not move: the consumer logs it loudly and
reconnects from the stored cursor after a back-off.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import grpc

from fedmall.envelope import KeyLookup, open_envelope
from fedmall.results import FedmallError
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, result_pb2, transfer_pb2

from node.errors import Refused
from node.notices import NoticeService

log = logging.getLogger(__name__)

CLEARING = "clearing"


class DeliveryRefused(Exception):
    """A delivery failed verification; the stream is dropped and resumed later."""


def verify_delivery(delivery: clearing_pb2.Delivery, *, bank_id: str, keys: KeyLookup) -> transfer_pb2.NoticeBatch:
    batch = open_envelope(delivery.envelope, transfer_pb2.NoticeBatch, expected_signer=CLEARING, keys=keys)
    if batch.recipient_bank_id != bank_id:
        raise Refused(result_pb2.RESULT_CODE_FORBIDDEN, f"delivery addressed to {batch.recipient_bank_id!r}")
    return batch


class DeliveryConsumer:
    def __init__(self, notices: NoticeService, clearing: clearing_pb2_grpc.ClearingServiceStub, *,
                 bank_id: str, keys: KeyLookup, on_decisions: Callable[[], None] = lambda: None) -> None:
        self._notices = notices
        self._clearing = clearing
        self._bank_id = bank_id
        self._keys = keys
        self._on_decisions = on_decisions
        self._lock = threading.Lock()
        self._call = None
        self._stopped = False

    def step(self) -> bool:
        """One stream session: connect after the stored cursor and apply until it ends."""
        cursor = self._notices.cursor()
        with self._lock:
            if self._stopped:
                return False
            self._call = self._clearing.StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=cursor))
        try:
            for response in self._call:
                for delivery in response.deliveries:
                    self.handle(delivery)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.CANCELLED and self._stopped:
                return False
            raise
        finally:
            with self._lock:
                self._call = None
        return False

    def handle(self, delivery: clearing_pb2.Delivery) -> bool:
        """Verify and apply one delivery; False when it had been applied before."""
        try:
            batch = verify_delivery(delivery, bank_id=self._bank_id, keys=self._keys)
        except FedmallError as error:
            log.error("REFUSED delivery %d from the clearing: %s; cursor stays, will reconnect",
                      delivery.sequence, error)
            raise DeliveryRefused(f"delivery {delivery.sequence}: {error}") from error
        outcome = self._notices.apply_delivery(sequence=delivery.sequence, envelope=delivery.envelope, batch=batch)
        if outcome.decisions:
            self._on_decisions()
        return outcome.applied

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._call is not None:
                self._call.cancel()
