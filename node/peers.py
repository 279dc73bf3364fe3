"""The peer directory: where other banks' nodes listen, and quotes from them.

Addresses and statuses come from the clearing's participant registry (ListParticipants),
cached. The cache is read again, at most every registry_refresh_ms_min, on a miss, for a
bank that is not ACTIVE in it (it may have become so), once it is registry_age_ms_max
old, and after a failed call: so a bank whose node moved (fedmall-clearing participants
set-address) is reached at its new address without a restart, and a quote that failed
at the old address is asked again at the new one at once.

The registry also names each bank's active signing keys (signing_key), so this node
verifies what another member signs for it (an escrow statement: node.market.escrow_proofs)
with the key the clearing registered, never with one the signer sends.

Every channel to a bank's node demands that bank's party name (fedmall.tls.secure_channel):
a node at a bank's address that is not that bank's (an address hijacked, or set to
another bank's) is refused at the handshake, before anything is sent to it.

Only ACTIVE banks are offered as peers. A payee that is not ACTIVE is refused with its
status's result code (SUSPENDED, ONBOARDING: its node has not connected yet, LEFT); so is
a calling bank that is not ACTIVE, and one that is no participant at all (caller_refusal,
applied to every peer call by node.callers). A quote the payee's node refuses because this
bank is over its budget there (fedmall.budgets) is RATE_LIMITED, not a sign that the node moved.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedmall import logs
from fedmall import budgets
from fedmall.envelope import VerificationKey
from fedmall.pki import Identity, TlsCredentials
from fedmall.tls import failure_text, is_wrong_server, secure_channel, wrong_server_text
from fedmall.v1 import (
    clearing_pb2, clearing_pb2_grpc, marketplace_pb2, marketplace_pb2_grpc, node_pb2, node_pb2_grpc, result_pb2)

from node import limits
from node.errors import Refused, Unavailable

log = logging.getLogger(__name__)

ACTIVE = clearing_pb2.PARTICIPANT_STATUS_ACTIVE
# Why a payee in each status other than ACTIVE cannot be paid (an unknown status: as suspended).
NOT_ACTIVE = {
    clearing_pb2.PARTICIPANT_STATUS_SUSPENDED: (result_pb2.RESULT_CODE_PARTICIPANT_SUSPENDED, "is suspended"),
    clearing_pb2.PARTICIPANT_STATUS_ONBOARDING: (result_pb2.RESULT_CODE_PARTICIPANT_ONBOARDING,
                                                 "is onboarding: its node has not connected to the clearing yet"),
    clearing_pb2.PARTICIPANT_STATUS_LEFT: (result_pb2.RESULT_CODE_PARTICIPANT_LEFT, "left the consortium"),
}


def verification_keys(participants) -> dict[str, VerificationKey]:
    """Every registered signing key by key id, owned by the bank it is listed under. Pure; a key
    that is not a 32-byte Ed25519 key, or whose id is not the bank's, is left out."""
    keys = {}
    for participant in participants:
        for key in participant.signing_keys:
            if len(key.public_key) == 32 and key.key_id.startswith(participant.bank_id + "/"):
                keys[key.key_id] = VerificationKey(key_id=key.key_id, owner=participant.bank_id,
                                                   public_key=Ed25519PublicKey.from_public_bytes(key.public_key))
    return keys


class PeerDirectory:
    def __init__(self, clearing: clearing_pb2_grpc.ClearingServiceStub, *, tls: TlsCredentials,
                 clock: Callable[[], float],
                 channel_factory: Callable[..., grpc.Channel] = secure_channel) -> None:
        self._clearing = clearing
        self._tls = tls
        self._clock = clock
        self._channel_factory = channel_factory
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._participants: dict[str, clearing_pb2.Participant] = {}
        self._keys: dict[str, VerificationKey] = {}
        self._refreshed_at_ms = -limits.registry_age_ms_max  # Never: due at once.
        self._ever_read = False
        self._channels: dict[tuple[str, str], grpc.Channel] = {}  # (bank id, address) -> a channel to it

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
                raise Unavailable(f"clearing registry: {failure_text(error)}") from None
            keys = verification_keys(response.participants)
            with self._lock:
                self._participants = {participant.bank_id: participant for participant in response.participants}
                self._keys = keys
                self._refreshed_at_ms = now_ms
                self._ever_read = True

    def _cached(self, bank_id: str) -> clearing_pb2.Participant | None:
        with self._lock:
            return self._participants.get(bank_id)

    def _is_old(self) -> bool:
        return int(self._clock() * 1000) - self._refreshed_at_ms >= limits.registry_age_ms_max

    def participant(self, bank_id: str) -> clearing_pb2.Participant:
        """An ACTIVE bank as the registry names it; Refused (its status's result code, or
        UNKNOWN_PARTICIPANT) otherwise. A cached entry serves when the clearing does not answer."""
        participant = self._cached(bank_id)
        if participant is None or participant.status != ACTIVE or self._is_old():
            try:
                self.refresh()
            except Unavailable as error:
                if participant is None:
                    raise
                log.warning("participant %s from the last registry read: %s", bank_id, error,
                            extra=logs.fields(bank=bank_id))
            participant = self._cached(bank_id)
        if participant is None:
            raise Refused(result_pb2.RESULT_CODE_UNKNOWN_PARTICIPANT, f"{bank_id!r} is not a participant")
        if participant.status != ACTIVE:
            code, why = NOT_ACTIVE.get(participant.status, (result_pb2.RESULT_CODE_PARTICIPANT_SUSPENDED,
                                                            f"is not active (status {participant.status})"))
            raise Refused(code, f"{bank_id!r} {why}")
        if not participant.node_address:
            raise Unavailable(f"{bank_id!r} has no node address")
        return participant

    def caller_refusal(self, bank_id: str) -> int:
        """OK for an ACTIVE bank, else why a calling bank is refused: its status's result code
        (PARTICIPANT_SUSPENDED, _ONBOARDING, _LEFT; a status this node does not know is taken
        as suspended), UNKNOWN_PARTICIPANT for a bank the registry does not list, UNAVAILABLE
        while the registry was never read. By a registry read at most registry_refresh_ms_min
        old (so a bank admitted or resumed a moment ago may wait that long); the last read when
        the clearing does not answer."""
        try:
            self.refresh()
        except Unavailable as error:
            if not self._ever_read:
                log.warning("cannot check caller %s: %s", bank_id, error, extra=logs.fields(bank=bank_id))
                return result_pb2.RESULT_CODE_UNAVAILABLE
            log.warning("participant status of %s from the last registry read: %s", bank_id, error,
                        extra=logs.fields(bank=bank_id))
        participant = self._cached(bank_id)
        if participant is None:
            return result_pb2.RESULT_CODE_UNKNOWN_PARTICIPANT
        if participant.status == ACTIVE:
            return result_pb2.RESULT_CODE_OK
        return NOT_ACTIVE.get(participant.status, (result_pb2.RESULT_CODE_PARTICIPANT_SUSPENDED, ""))[0]

    def signing_key(self, key_id: str) -> VerificationKey | None:
        """A member's active signing key as the registry names it, or None (unknown or revoked). A key
        not in the last read is looked for in a new one (at most every registry_refresh_ms_min);
        the last read serves when the clearing does not answer."""
        key = self._cached_key(key_id)
        if key is None:
            try:
                self.refresh()
            except Unavailable as error:
                log.warning("signing key %s from the last registry read: %s", key_id, error)
            key = self._cached_key(key_id)
        return key

    def _cached_key(self, key_id: str) -> VerificationKey | None:
        with self._lock:
            return self._keys.get(key_id)

    def _channel(self, bank_id: str, address: str) -> grpc.Channel:
        """A channel to address that reaches only bank_id's node."""
        with self._lock:
            channel = self._channels.get((bank_id, address))
            if channel is None:
                channel = self._channels[(bank_id, address)] = self._channel_factory(
                    address, self._tls, server=Identity(bank_id, "bank"))
        return channel

    # The marketplace --------------------------------------------------------------------

    def other_active_bank_ids(self) -> list[str]:
        """Every ACTIVE participant with a node address (this bank too; callers skip it)."""
        self.refresh()
        with self._lock:
            return sorted(bank_id for bank_id, participant in self._participants.items()
                          if participant.status == ACTIVE and participant.node_address)

    def marketplace(self, bank_id: str) -> marketplace_pb2_grpc.MarketplacePeerServiceStub:
        """The MarketplacePeerService of a member bank's node (this bank's own too)."""
        return marketplace_pb2_grpc.MarketplacePeerServiceStub(
            self._channel(bank_id, self.participant(bank_id).node_address))

    def search_catalogue(self, bank_id: str, request: marketplace_pb2.SearchCatalogueRequest, *,
                         timeout_s: float) -> marketplace_pb2.SearchCatalogueResponse:
        return self.marketplace(bank_id).SearchCatalogue(request, timeout=timeout_s)

    def call_failed(self) -> None:
        """A peer did not answer: maybe it moved, so re-read the registry before the next call."""
        self._refreshed_at_ms = -limits.registry_age_ms_max

    def quote(self, payee_bank_id: str, items: list[node_pb2.QuoteItem]) -> list[node_pb2.QuoteResult]:
        """The payee's conditions; asked again, once, at its new address when it moved. Refused
        (FORBIDDEN) when the payee's node does not serve this bank: it is not ACTIVE (node.callers).
        Unavailable when it does not answer, or when the node at its address is not the payee's."""
        address = self.participant(payee_bank_id).node_address
        try:
            response = self._quote_at(payee_bank_id, address, items)
        except grpc.RpcError as error:
            if budgets.refusal_code(error) == result_pb2.RESULT_CODE_RATE_LIMITED:
                raise Refused(result_pb2.RESULT_CODE_RATE_LIMITED, f"{payee_bank_id}: {error.details()}") from None
            if error.code() == grpc.StatusCode.PERMISSION_DENIED:
                raise Refused(result_pb2.RESULT_CODE_FORBIDDEN,
                              f"{payee_bank_id} quotes nothing to this bank: {error.details()}") from None
            log.warning("quote from %s failed: %s", payee_bank_id, _failure(payee_bank_id, address, error),
                        extra=logs.fields(bank=payee_bank_id))
            self.call_failed()
            moved_to = self.participant(payee_bank_id).node_address  # Re-reads the registry.
            if moved_to == address:
                raise Unavailable(_failure(payee_bank_id, address, error)) from None
            log.info("%s moved from %s to %s; asking there", payee_bank_id, address, moved_to,
                     extra=logs.fields(bank=payee_bank_id))
            try:
                response = self._quote_at(payee_bank_id, moved_to, items)
            except grpc.RpcError as again:
                self.call_failed()
                raise Unavailable(_failure(payee_bank_id, moved_to, again)) from None
        if len(response.results) != len(items):
            raise Unavailable(f"{payee_bank_id} answered {len(response.results)} quotes for {len(items)} items")
        return list(response.results)

    def _quote_at(self, bank_id: str, address: str, items: list[node_pb2.QuoteItem]) -> node_pb2.QuoteTransfersResponse:
        return node_pb2_grpc.PeerServiceStub(self._channel(bank_id, address)).QuoteTransfers(
            node_pb2.QuoteTransfersRequest(items=items), timeout=limits.rpc_timeout_ms / 1000)

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()


def _failure(bank_id: str, address: str, error: grpc.RpcError) -> str:
    if is_wrong_server(error):
        return wrong_server_text(address, Identity(bank_id, "bank"))
    return f"{bank_id} did not answer at {address}: {error.code().name}"
