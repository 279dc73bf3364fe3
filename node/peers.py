"""The peer directory: where other banks' nodes listen, and quotes from them.

Addresses come from the clearing's participant registry, cached and refreshed on a
miss (at most every registry_refresh_ms_min) or after a failed call.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import grpc

from fedmall.pki import TlsCredentials
from fedmall.tls import secure_channel
from fedmall.v1 import (
    clearing_pb2, clearing_pb2_grpc, marketplace_pb2, marketplace_pb2_grpc, node_pb2, node_pb2_grpc, result_pb2)

from node import limits
from node.errors import Refused, Unavailable

log = logging.getLogger(__name__)


class PeerDirectory:
    def __init__(self, clearing: clearing_pb2_grpc.ClearingServiceStub, *, tls: TlsCredentials,
                 clock: Callable[[], float],
                 channel_factory: Callable[[str, TlsCredentials], grpc.Channel] = secure_channel) -> None:
        self._clearing = clearing
        self._tls = tls
        self._clock = clock
        self._channel_factory = channel_factory
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._participants: dict[str, clearing_pb2.Participant] = {}
        self._refreshed_at_ms = -limits.registry_refresh_ms_min
        self._channels: dict[str, grpc.Channel] = {}

    def refresh(self, *, force: bool = False) -> None:
        # One refresh at a time: a caller arriving during a refresh waits for its result
        # instead of reading the registry before it has arrived.
        with self._refresh_lock:
            now_ms = int(self._clock() * 1000)
            if not force and now_ms - self._refreshed_at_ms < limits.registry_refresh_ms_min:
                return
            try:
                response = self._clearing.ListParticipants(
                    clearing_pb2.ListParticipantsRequest(), timeout=limits.rpc_timeout_ms / 1000)
            except grpc.RpcError as error:
                raise Unavailable(f"clearing registry: {error.code().name}") from None
            with self._lock:
                self._participants = {participant.bank_id: participant for participant in response.participants}
                self._refreshed_at_ms = now_ms

    def participant(self, bank_id: str) -> clearing_pb2.Participant:
        with self._lock:
            participant = self._participants.get(bank_id)
        if participant is None:
            self.refresh()
            with self._lock:
                participant = self._participants.get(bank_id)
        if participant is None:
            raise Refused(result_pb2.RESULT_CODE_UNKNOWN_PARTICIPANT, f"{bank_id!r} is not a participant")
        if participant.status == clearing_pb2.PARTICIPANT_STATUS_SUSPENDED:
            raise Refused(result_pb2.RESULT_CODE_PARTICIPANT_SUSPENDED, f"{bank_id!r} is suspended")
        if not participant.node_address:
            raise Unavailable(f"{bank_id!r} has no node address")
        return participant

    def is_suspended(self, bank_id: str) -> bool:
        """Whether a (calling) bank is suspended, by a registry read at most registry_refresh_ms_min
        old; the last read when the clearing does not answer."""
        try:
            self.refresh()
        except Unavailable as error:
            log.warning("participant status of %s from the last registry read: %s", bank_id, error)
        with self._lock:
            participant = self._participants.get(bank_id)
        return participant is not None and participant.status == clearing_pb2.PARTICIPANT_STATUS_SUSPENDED

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = self._channel_factory(address, self._tls)
        return channel

    def _stub(self, address: str) -> node_pb2_grpc.PeerServiceStub:
        return node_pb2_grpc.PeerServiceStub(self._channel(address))

    # The marketplace --------------------------------------------------------------------

    def other_active_bank_ids(self) -> list[str]:
        """Every ACTIVE participant with a node address (this bank too; callers skip it)."""
        self.refresh()
        with self._lock:
            return sorted(bank_id for bank_id, participant in self._participants.items()
                          if participant.status == clearing_pb2.PARTICIPANT_STATUS_ACTIVE and participant.node_address)

    def marketplace(self, bank_id: str) -> marketplace_pb2_grpc.MarketplacePeerServiceStub:
        """The MarketplacePeerService of a member bank's node (this bank's own too)."""
        return marketplace_pb2_grpc.MarketplacePeerServiceStub(self._channel(self.participant(bank_id).node_address))

    def search_catalogue(self, bank_id: str, request: marketplace_pb2.SearchCatalogueRequest, *,
                         timeout_s: float) -> marketplace_pb2.SearchCatalogueResponse:
        return self.marketplace(bank_id).SearchCatalogue(request, timeout=timeout_s)

    def call_failed(self) -> None:
        """A peer did not answer: maybe it moved, so re-read the registry on the next miss."""
        self._refreshed_at_ms = -limits.registry_refresh_ms_min

    def quote(self, payee_bank_id: str, items: list[node_pb2.QuoteItem]) -> list[node_pb2.QuoteResult]:
        address = self.participant(payee_bank_id).node_address
        try:
            response = self._stub(address).QuoteTransfers(
                node_pb2.QuoteTransfersRequest(items=items), timeout=limits.rpc_timeout_ms / 1000)
        except grpc.RpcError as error:
            log.warning("quote from %s at %s failed: %s", payee_bank_id, address, error.code().name)
            self._refreshed_at_ms = -limits.registry_refresh_ms_min  # Maybe it moved: re-read the registry.
            raise Unavailable(f"{payee_bank_id} did not answer: {error.code().name}") from None
        if len(response.results) != len(items):
            raise Unavailable(f"{payee_bank_id} answered {len(response.results)} quotes for {len(items)} items")
        return list(response.results)

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()
