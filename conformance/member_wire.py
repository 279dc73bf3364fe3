"""The one PeerService call the kit makes to a member's node, as the payer bank it plays."""
from __future__ import annotations

from fedmall.pki import Identity
from fedmall.tls import secure_channel
from fedmall.v1 import node_pb2, node_pb2_grpc

from conformance.credentials import Party

CALL_TIMEOUT_S = 10.0


class PeerClient:
    """The payer bank's calls to the member's node, over mTLS, demanding the member's party name."""

    def __init__(self, address: str, payer: Party, *, member_id: str) -> None:
        self._channel = secure_channel(address, payer.tls, server=Identity(member_id, "bank"))
        self._stub = node_pb2_grpc.PeerServiceStub(self._channel)

    def quote(self, items: list[node_pb2.QuoteItem]) -> list[node_pb2.QuoteResult]:
        return list(self._stub.QuoteTransfers(node_pb2.QuoteTransfersRequest(items=items),
                                              timeout=CALL_TIMEOUT_S).results)

    def close(self) -> None:
        self._channel.close()
