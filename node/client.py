"""The command line's client of this node's own services, over mTLS with the bundle's
credentials: NodeService by default, MarketplaceService and CreditService through stub=. It
reaches only this bank's node: a server at the listen address holding another party's
certificate is refused before anything is sent."""
from __future__ import annotations

import grpc

from fedmall.pki import Identity, TlsCredentials
from fedmall.tls import is_wrong_server, secure_channel, wrong_server_text
from fedmall.v1 import credit_pb2_grpc, marketplace_pb2_grpc, node_pb2_grpc

from node.config import NodeConfig

CALL_TIMEOUT_S = 30.0


class NodeClient:
    def __init__(self, config: NodeConfig) -> None:
        self._server = Identity(config.bank_id, "bank")
        self._address = config.listen_address
        self._channel = secure_channel(config.listen_address, TlsCredentials.load(config.home), server=self._server)
        self.stub = node_pb2_grpc.NodeServiceStub(self._channel)
        self.marketplace = marketplace_pb2_grpc.MarketplaceServiceStub(self._channel)
        self.credit = credit_pb2_grpc.CreditServiceStub(self._channel)

    def call(self, method: str, request, *, stub=None, timeout_s: float = CALL_TIMEOUT_S):
        """The answer; ConnectionError (exit 1) when the node does not answer (within timeout_s)."""
        try:
            return getattr(stub or self.stub, method)(request, timeout=timeout_s)
        except grpc.RpcError as error:
            if is_wrong_server(error):
                raise ConnectionError(wrong_server_text(self._address, self._server)) from None
            raise ConnectionError(f"node did not answer: {error.code().name} {error.details()}") from None
