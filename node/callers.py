"""Who may call this node's peer services: CallerGate, in one place for the whole server.

Other banks' nodes call PeerService (quotes) and MarketplacePeerService (search, orders,
order events). Every such call, before its servicer runs, must come from a bank (its
certificate) that the clearing's registry lists as ACTIVE (node.peers.PeerDirectory,
read again at most every registry_refresh_ms_min):

    ACTIVE                     served
    SUSPENDED, ONBOARDING,     refused with PARTICIPANT_SUSPENDED, _ONBOARDING or _LEFT where
    LEFT (or a newer status)   the response carries a result code, PERMISSION_DENIED otherwise
                               (a quote, a search): a suspended payer gets no quote, so it
                               starts no transfer; what it started before finishes at the
                               clearing and on its stream, without calling peers
    not a participant, or      PERMISSION_DENIED: a certificate from the consortium CA is not
    not a bank                 membership
    registry never read        UNAVAILABLE (the clearing did not answer yet): try again

The node's own services (NodeService, MarketplaceService, CreditService) take only this
bank's certificate (node.answers.own_bank_only) and are not guarded here.
"""
from __future__ import annotations

from typing import Protocol

import grpc

from fedmall.gate import CallerGate, Refusal
from fedmall.results import name_of
from fedmall.tls import peer_identity
from fedmall.v1 import marketplace_pb2, node_pb2, result_pb2

PEER_SERVICES = (
    node_pb2.DESCRIPTOR.services_by_name["PeerService"].full_name,
    marketplace_pb2.DESCRIPTOR.services_by_name["MarketplacePeerService"].full_name,
)


class Participants(Protocol):
    """The participant registry as callers are checked against it (node.peers.PeerDirectory)."""

    def caller_refusal(self, bank_id: str) -> int: ...


def peer_gate(participants: Participants) -> CallerGate:
    def refusal(context: grpc.ServicerContext, method: str) -> Refusal | None:
        identity = peer_identity(context)
        if identity is None or identity.role != "bank":
            return Refusal("only member banks may call")
        code = participants.caller_refusal(identity.party_id)
        if code == result_pb2.RESULT_CODE_OK:
            return None
        reason = f"{identity.party_id!r} may not call: {name_of(code)}"
        if code == result_pb2.RESULT_CODE_UNAVAILABLE:
            return Refusal(reason, status=grpc.StatusCode.UNAVAILABLE)
        if code == result_pb2.RESULT_CODE_UNKNOWN_PARTICIPANT:
            return Refusal(f"{identity.party_id!r} is not a participant")
        return Refusal(reason, result=code)

    return CallerGate(PEER_SERVICES, refusal)
