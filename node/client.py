"""The command line's client of this node's own services, over mTLS with the bundle's
credentials: NodeService by default, MarketplaceService and CreditService through stub=."""
from __future__ import annotations

import grpc

from fedmall.pki import TlsCredentials
from fedmall.tls import secure_channel
from fedmall.v1 import credit_pb2_grpc, marketplace_pb2_grpc, node_pb2_grpc

from node.config import NodeConfig

CALL_TIMEOUT_S = 30.0


class NodeClient:
    def __init__(self, config: NodeConfig) -> None:
        self._channel = secure_channel(config.listen_address, TlsCredentials.load(config.home))
        self.stub = node_pb2_grpc.NodeServiceStub(self._channel)
        self.marketplace = marketplace_pb2_grpc.MarketplaceServiceStub(self._channel)
        self.credit = credit_pb2_grpc.CreditServiceStub(self._channel)

    def call(self, method: str, request, *, stub=None):
        """The answer; ConnectionError (exit 1) when the node does not answer."""
        try:
            return getattr(stub or self.stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            raise ConnectionError(f"node did not answer: {error.code().name} {error.details()}") from None
