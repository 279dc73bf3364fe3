"""Mutual-TLS gRPC wiring and the caller's identity, which comes from its certificate only."""
from __future__ import annotations

import functools
from concurrent import futures
from typing import Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fedmall import limits
from fedmall.pki import Identity, TlsCredentials, identity_of

_MESSAGE_OPTIONS = [
    ("grpc.max_send_message_length", limits.grpc_message_bytes_max),
    ("grpc.max_receive_message_length", limits.grpc_message_bytes_max),
]


def server_credentials(tls: TlsCredentials) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(tls.key_pem, tls.certificate_pem)], root_certificates=tls.ca_pem, require_client_auth=True)


def secure_channel(address: str, tls: TlsCredentials) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca_pem, private_key=tls.key_pem, certificate_chain=tls.certificate_pem)
    options = _MESSAGE_OPTIONS + [
        ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
        # Reconnect quickly after a peer restarts (gRPC's default backoff grows to 120 s).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS_MAX),
    ]
    return grpc.secure_channel(address, credentials, options=options)


@functools.lru_cache(maxsize=256)
def _identity_from_pem(certificate_pem: bytes) -> Identity | None:
    return identity_of(certificate_pem)


def peer_identity(context: grpc.ServicerContext) -> Identity | None:
    """The consortium identity in the caller's verified client certificate."""
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        return None
    return _identity_from_pem(pems[0])


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
