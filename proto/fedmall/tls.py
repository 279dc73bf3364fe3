"""Mutual-TLS gRPC wiring and the caller's identity, which comes from its certificate only.

What gRPC Python lets a server do at the TLS handshake (docs/certificates.md): verify the
client's chain against the trusted CAs (root_certificates), and through
dynamic_ssl_server_credentials swap its own certificate and the trusted CAs before any new
connection's handshake (reloading_server_credentials). There is no per-handshake verify
callback and no revocation list; a call's peer certificate is read in the call
(peer_certificate), where fedmall.revocation refuses revoked ones.

A client says which party it means to reach (secure_channel's server) and the handshake
fails unless the server's certificate names that party (fedmall.pki.party_name), whatever
address was dialled: gRPC checks the name given as grpc.ssl_target_name_override instead of
the address's host. The call then fails with UNAVAILABLE; is_wrong_server tells it apart.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import grpc
from cryptography import x509
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fedmall import limits
from fedmall.config_file import ConfigError, load_tls
from fedmall.pki import (
    Identity, TlsCredentials, fingerprint, identity_of, party_name, party_name_problem, serial_text)

log = logging.getLogger(__name__)

_MESSAGE_OPTIONS = [
    ("grpc.max_send_message_length", limits.grpc_message_bytes_max),
    ("grpc.max_receive_message_length", limits.grpc_message_bytes_max),
]


def server_credentials(tls: TlsCredentials) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(tls.key_pem, tls.certificate_pem)], root_certificates=tls.ca_pem, require_client_auth=True)


def reloading_server_credentials(folder: Path, initial: TlsCredentials, *, server: Identity) -> grpc.ServerCredentials:
    """Server credentials from folder's tls.key, tls.crt and ca.pem (initially `initial`) that
    are read again when one of those files changes: a renewed certificate or a new trust
    bundle is used from the next connection's handshake on, without a restart. Connections
    made before keep what they were made with. A certificate that does not name server's
    party is not taken up: clients would refuse it."""
    files = _ReloadingFiles(folder, server)
    return grpc.dynamic_ssl_server_credentials(_configuration(initial), files.fetch,
                                               require_client_authentication=True)


def _configuration(tls: TlsCredentials) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(tls.key_pem, tls.certificate_pem)],
                                                     root_certificates=tls.ca_pem)


class _ReloadingFiles:
    """gRPC calls fetch before every new connection's handshake: None keeps the current
    configuration; a new one is returned once after the files changed. A set of files that
    does not load (a key replaced before its certificate) is skipped until it does."""
    NAMES = ("ca.pem", "tls.crt", "tls.key")

    def __init__(self, folder: Path, server: Identity) -> None:
        self._folder = folder
        self._server = server
        self._lock = threading.Lock()
        self._loaded = self._stamp()
        self._refused: tuple | None = None

    def _stamp(self) -> tuple:
        stamps = []
        for name in self.NAMES:
            try:
                status = os.stat(self._folder / name)
            except OSError:
                return ()
            stamps.append((status.st_ino, status.st_mtime_ns, status.st_size))
        return tuple(stamps)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            with self._lock:
                stamp = self._stamp()
                if not stamp or stamp in (self._loaded, self._refused):
                    return None
                try:
                    tls = load_tls(self._folder)
                    problem = party_name_problem(tls.certificate_pem, self._server)
                    if problem is not None:
                        raise ConfigError(f"{self._folder / 'tls.crt'}: {problem}")
                except ConfigError as error:
                    self._refused = stamp
                    log.warning("TLS credentials in %s not reloaded, the current ones stay: %s", self._folder, error)
                    return None
                self._loaded = stamp
            log.info("TLS credentials reloaded from %s", self._folder)
            return _configuration(tls)
        except Exception:  # Never let a reload fail a handshake: keep the current credentials.
            log.exception("TLS credentials in %s not reloaded", self._folder)
            return None


def secure_channel(address: str, tls: TlsCredentials, *, server: Identity) -> grpc.Channel:
    """A channel to address that reaches only server: the handshake fails unless the
    certificate presented there names server's party (fedmall.pki.party_name)."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca_pem, private_key=tls.key_pem, certificate_chain=tls.certificate_pem)
    options = _MESSAGE_OPTIONS + [
        ("grpc.ssl_target_name_override", party_name(server)),
        ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
        # Reconnect quickly after a peer restarts (gRPC's default backoff grows to 120 s).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS_MAX),
    ]
    return grpc.secure_channel(address, credentials, options=options)


# What grpcio says when the server's certificate does not name the party demanded (checked
# with grpcio 1.85 by tests/fedmall/test_tls.py, so an upgrade that rewords it fails there).
_WRONG_SERVER = "Hostname Verification Check failed"


def is_wrong_server(error: grpc.RpcError) -> bool:
    """Whether a call failed because the server reached is not the party its channel demands
    (another party answers at the address, or its certificate predates party names)."""
    details = error.details() if isinstance(error, grpc.Call) else ""
    return error.code() == grpc.StatusCode.UNAVAILABLE and _WRONG_SERVER in (details or "")


def wrong_server_text(address: str, server: Identity) -> str:
    """What to tell an operator when is_wrong_server."""
    party = f"the {server.role}" if server.party_id == server.role else f"{server.role} {server.party_id}"
    return (f"the server at {address} is not {party}: its certificate does not name "
            f"{party_name(server)}, so nothing was sent to it (another party answers at that address, or its "
            "certificate was issued before certificates named their party and must be renewed)")


def failure_text(error: grpc.RpcError) -> str:
    """A failed call in a few words, for logs: the status code, and what a wrong server means."""
    if is_wrong_server(error):
        return (f"{error.code().name} (the server's certificate does not name the party dialled: another party "
                "answers at that address, or its certificate predates party names and must be renewed)")
    return error.code().name


@functools.lru_cache(maxsize=256)
def _identity_from_pem(certificate_pem: bytes) -> Identity | None:
    return identity_of(certificate_pem)


def peer_identity(context: grpc.ServicerContext) -> Identity | None:
    """The consortium identity in the caller's verified client certificate."""
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        return None
    return _identity_from_pem(pems[0])


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    sha256: str         # fedmall.pki.fingerprint
    serial: str         # fedmall.pki.serial_text
    identity: Identity | None


@functools.lru_cache(maxsize=256)
def _peer_certificate_from_pem(certificate_pem: bytes) -> PeerCertificate:
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    return PeerCertificate(sha256=fingerprint(certificate), serial=serial_text(certificate),
                           identity=identity_of(certificate_pem))


def peer_certificate(context: grpc.ServicerContext) -> PeerCertificate | None:
    """The caller's verified client certificate: its fingerprint, serial and identity."""
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        return None
    return _peer_certificate_from_pem(pems[0])


# Clients ping every CLIENT_KEEPALIVE_MS so a dead peer on a long-lived delivery stream is
# noticed; servers must allow that rate or they answer GOAWAY "too many pings".
CLIENT_KEEPALIVE_MS = 30_000
RECONNECT_BACKOFF_MS_MAX = 2_000
_SERVER_OPTIONS = _MESSAGE_OPTIONS + [
    # The server pings too, so a stream whose client vanished is closed and its thread freed.
    ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", CLIENT_KEEPALIVE_MS // 2),
    ("grpc.http2.max_ping_strikes", 0),
]


def new_server(*, threads: int, interceptors: Sequence[grpc.ServerInterceptor] = ()) -> grpc.Server:
    return grpc.server(futures.ThreadPoolExecutor(max_workers=threads), options=_SERVER_OPTIONS,
                       interceptors=interceptors)


def add_health_and_reflection(server: grpc.Server, service_names: list[str]) -> health.HealthServicer:
    """Every server answers the standard health check and exposes reflection."""
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in service_names + [""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(service_names + [reflection.SERVICE_NAME, health.SERVICE_NAME], server)
    return health_servicer
