"""Refusing every call made with a revoked certificate, at the clearing and at the nodes.

gRPC Python checks a client certificate's chain at the TLS handshake and offers no hook
there to look a certificate up (docs/certificates.md). A call sees its peer's certificate
in the servicer context, so RefuseRevoked, a server interceptor, wraps every method
handler of a server (unary and streaming, the health check and reflection too) with a
check that runs inside the call before the servicer does: no RPC can skip it, and an
HTTP/2 connection made before the revocation gets no further answer either. A streaming
response is checked again before each message it sends.

Where the refused fingerprints come from is the server's business: the clearing reads its
certificate registry (CachedRefusals, at most max_age_ms old); a node holds the list it
fetched from the clearing (RefusedFingerprints, refreshed by a worker).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

import grpc

from fedmall.interception import checked_responses, wrapped
from fedmall.tls import PeerCertificate, peer_certificate

log = logging.getLogger(__name__)


def refusal_message(peer: PeerCertificate) -> str:
    who = f"{peer.identity.role} {peer.identity.party_id}" if peer.identity else "an unknown party"
    return (f"certificate serial {peer.serial} ({who}) is revoked (or its CA was retired): the clearing no "
            "longer accepts it; the operator can issue a new one (fedmall-clearing certificates renew)")


class RefuseRevoked(grpc.ServerInterceptor):
    """Every call whose client certificate is_refused (by SHA-256 fingerprint) ends in
    UNAUTHENTICATED with a message naming the certificate's serial and holder."""

    def __init__(self, is_refused: Callable[[str], bool]) -> None:
        self._is_refused = is_refused

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return wrapped(handler, single=self._single, streaming=self._streaming)

    def _check(self, context: grpc.ServicerContext) -> None:
        peer = peer_certificate(context)
        if peer is not None and self._is_refused(peer.sha256):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal_message(peer))

    def _single(self, behaviour, request_streamed: bool):
        def call(request_or_iterator, context):
            self._check(context)
            return behaviour(request_or_iterator, context)
        return call

    def _streaming(self, behaviour, request_streamed: bool):
        def call(request_or_iterator, context):
            self._check(context)
            yield from checked_responses(behaviour(request_or_iterator, context), lambda: self._check(context))
        return call


class RefusedFingerprints:
    """The fingerprints calls are refused with, as last replaced; safe across threads."""

    def __init__(self) -> None:
        self._fingerprints: frozenset[str] = frozenset()

    def replace(self, fingerprints: Iterable[str]) -> None:
        self._fingerprints = frozenset(fingerprints)

    def is_refused(self, sha256: str) -> bool:
        return sha256 in self._fingerprints

    def __len__(self) -> int:
        return len(self._fingerprints)


class CachedRefusals:
    """Refused fingerprints loaded on demand, at most max_age_ms old: the first call after
    that loads them again (one loader at a time; the others use the list it replaces). When
    loading fails the last list stands, and the failure is logged once per failing spell."""

    def __init__(self, load: Callable[[], Iterable[str]], *, max_age_ms: int,
                 clock_s: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._max_age_s = max_age_ms / 1000
        self._clock_s = clock_s
        self._refused = RefusedFingerprints()
        self._loaded_at_s: float | None = None
        self._loading = threading.Lock()
        self._failing = False

    def is_refused(self, sha256: str) -> bool:
        if self._loaded_at_s is None or self._clock_s() - self._loaded_at_s >= self._max_age_s:
            self._reload()
        return self._refused.is_refused(sha256)

    def _reload(self) -> None:
        with self._loading:
            if self._loaded_at_s is not None and self._clock_s() - self._loaded_at_s < self._max_age_s:
                return  # Another call loaded it while this one waited.
            try:
                self._refused.replace(self._load())
            except Exception as error:  # noqa: BLE001 - the last list stands; calls go on.
                if not self._failing:
                    log.error("cannot read the revoked certificates, the last list read stands: %s", error)
                self._failing = True
                # Wait max_age_ms before trying again rather than load on every call.
            else:
                if self._failing:
                    log.info("revoked certificates read again")
                self._failing = False
            self._loaded_at_s = self._clock_s()
