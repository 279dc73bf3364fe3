"""mTLS with two CAs side by side, and a server that reads its certificate and trust bundle
again when the files change (real gRPC servers and channels on loopback)."""
from __future__ import annotations

import datetime as dt

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fedmall import pki, tls
from fedmall.config_file import load_tls
from fedmall.pki import Identity, TlsCredentials

from tests.support.certificates import legacy_certificate

NOW = dt.datetime.now(dt.timezone.utc)


def old_style_ca() -> pki.CertificateAuthority:
    """A CA as homes made before CA rotation have: the plain name, no key identifier."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = pki._name("Fedmall consortium CA", "ca")
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(minutes=5))
                   .not_valid_after(NOW + dt.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(key, hashes.SHA256()))
    return pki.CertificateAuthority(key=key, certificate=certificate)


def credentials(ca: pki.CertificateAuthority, trust: bytes, identity: Identity = Identity("bank-a", "bank")):
    certificate, key = pki.issue_certificate(ca, identity, hosts=["127.0.0.1"],
                                             not_before=NOW - dt.timedelta(minutes=5),
                                             not_after=NOW + dt.timedelta(days=1))
    return TlsCredentials(ca_pem=trust, certificate_pem=certificate, key_pem=key)


def health(port: int, client: TlsCredentials) -> str:
    channel = tls.secure_channel(f"127.0.0.1:{port}", client, server=pki.CLEARING)  # Every server here is one.
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return "OK"
    except grpc.RpcError as error:
        return error.code().name
    finally:
        channel.close()


@pytest.fixture
def serve():
    servers = []

    def start(server_credentials: grpc.ServerCredentials) -> int:
        server = tls.new_server(threads=2)
        tls.add_health_and_reflection(server, [])
        port = server.add_secure_port("127.0.0.1:0", server_credentials)
        server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop(0)


def test_two_cas__an_old_style_ca_and_a_new_one_are_told_apart_on_both_sides(serve):
    old, new = old_style_ca(), pki.create_ca(now=NOW, validity_days=2)
    both = pki.ca_certificate_pem(new) + pki.ca_certificate_pem(old)
    for server_ca in (old, new):
        port = serve(tls.server_credentials(credentials(server_ca, both, Identity("clearing", "clearing"))))
        assert [health(port, credentials(ca, both)) for ca in (old, new)] == ["OK", "OK"]


def test_reloading_server_credentials__new_trust_and_certificate_from_the_next_connection(serve, tmp_path):
    first, second = pki.create_ca(now=NOW, validity_days=2), pki.create_ca(now=NOW, validity_days=2)
    first_pem, second_pem = pki.ca_certificate_pem(first), pki.ca_certificate_pem(second)
    own = credentials(first, first_pem, Identity("clearing", "clearing"))
    for name, data in (("ca.pem", own.ca_pem), ("tls.crt", own.certificate_pem), ("tls.key", own.key_pem)):
        (tmp_path / name).write_bytes(data)
    port = serve(tls.reloading_server_credentials(tmp_path, load_tls(tmp_path), server=pki.CLEARING))
    trusting_both = first_pem + second_pem
    assert [health(port, credentials(ca, trusting_both)) for ca in (first, second)] == ["OK", "UNAVAILABLE"]

    pki.replace_file(tmp_path / "ca.pem", trusting_both)
    assert [health(port, credentials(ca, trusting_both)) for ca in (first, second)] == ["OK", "OK"]

    renewed = credentials(second, trusting_both, Identity("clearing", "clearing"))
    pki.replace_file(tmp_path / "tls.key", renewed.key_pem, private=True)  # Half-way: the key, not its certificate.
    assert health(port, credentials(first, first_pem)) == "OK"  # The current credentials stay.
    pki.replace_file(tmp_path / "tls.crt", renewed.certificate_pem)
    pki.replace_file(tmp_path / "ca.pem", second_pem)
    assert health(port, credentials(first, first_pem)) == "UNAVAILABLE"  # Neither trusts the other now.
    assert health(port, credentials(second, second_pem)) == "OK"


# The server's party -------------------------------------------------------------------------

def test_secure_channel__reaches_only_the_party_it_names_whatever_the_address(serve):
    ca = pki.create_ca(now=NOW, validity_days=2)
    trust = pki.ca_certificate_pem(ca)
    port = serve(tls.server_credentials(credentials(ca, trust, Identity("bank-c", "bank"))))
    client = credentials(ca, trust, Identity("bank-a", "bank"))
    outcomes = {}
    for server in (Identity("bank-c", "bank"), Identity("bank-b", "bank"), pki.CLEARING, Identity("BANK-C", "bank")):
        channel = tls.secure_channel(f"127.0.0.1:{port}", client, server=server)
        try:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            outcomes[server.party_id] = "OK"
        except grpc.RpcError as error:
            # The wording tls.is_wrong_server looks for: an upgrade of grpcio that changes it fails here.
            assert error.code() == grpc.StatusCode.UNAVAILABLE and tls.is_wrong_server(error), error.details()
            outcomes[server.party_id] = "wrong server"
        finally:
            channel.close()
    assert outcomes == {"bank-c": "OK", "bank-b": "wrong server", "clearing": "wrong server", "BANK-C": "wrong server"}


def test_is_wrong_server__not_for_a_server_that_is_down():
    ca = pki.create_ca(now=NOW, validity_days=2)
    channel = tls.secure_channel("127.0.0.1:1", credentials(ca, pki.ca_certificate_pem(ca)), server=pki.CLEARING)
    try:
        with pytest.raises(grpc.RpcError) as error:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        channel.close()
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE and not tls.is_wrong_server(error.value)
    assert tls.failure_text(error.value) == "UNAVAILABLE"


def test_reloading_server_credentials__a_certificate_without_the_party_name_is_not_taken_up(serve, tmp_path):
    ca = pki.create_ca(now=NOW, validity_days=2)
    trust = pki.ca_certificate_pem(ca)
    own = credentials(ca, trust, Identity("clearing", "clearing"))
    for name, data in (("ca.pem", own.ca_pem), ("tls.crt", own.certificate_pem), ("tls.key", own.key_pem)):
        (tmp_path / name).write_bytes(data)
    port = serve(tls.reloading_server_credentials(tmp_path, load_tls(tmp_path), server=pki.CLEARING))
    client = credentials(ca, trust)
    key = pki.new_tls_key()
    legacy = legacy_certificate(ca, pki.CLEARING, hosts=["127.0.0.1"], key=key)
    pki.replace_file(tmp_path / "tls.key", pki.private_key_pem(key), private=True)
    pki.replace_file(tmp_path / "tls.crt", legacy)
    assert health(port, client) == "OK"  # Still the current certificate, which names the clearing.
