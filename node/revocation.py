"""The certificates the clearing refuses, refused at this node too.

A worker asks the clearing for its list (ListRevokedCertificates) every
revocation_refresh_ms; the node's server checks every call's client certificate against
the last list it got (fedmall.revocation.RefuseRevoked), so a bank whose certificate was
revoked is refused on the peer services (quotes, the marketplace) within a few seconds.
While the clearing does not answer, the last list stands.
"""
from __future__ import annotations

from fedmall.revocation import RefusedFingerprints
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc

from node import limits


class RevocationWatch:
    def __init__(self, clearing: clearing_pb2_grpc.ClearingServiceStub) -> None:
        self._clearing = clearing
        self.refused = RefusedFingerprints()

    def step(self) -> bool:
        """One refresh (a Worker step); grpc.RpcError when the clearing does not answer."""
        response = self._clearing.ListRevokedCertificates(
            clearing_pb2.ListRevokedCertificatesRequest(), timeout=limits.rpc_timeout_ms / 1000)
        self.refused.replace(certificate.sha256_fingerprint.hex() for certificate in response.certificates)
        return False
