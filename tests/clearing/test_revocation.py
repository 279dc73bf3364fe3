"""A revoked certificate is refused by the running clearing on its next call, on every RPC
(the health check and streams too, and on a connection made before the revocation); a
renewed one works beside the old; members get the list of refused certificates."""
from __future__ import annotations

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from fedmall import pki
from fedmall.pki import TlsCredentials
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc

from clearing import certificates
from clearing.cli import main
from clearing.operator import OperatorAction
from tests.support.federation import wait_until

LIST = clearing_pb2.ListParticipantsRequest()


def serial_of(tls: TlsCredentials) -> str:
    return pki.serial_text(x509.load_pem_x509_certificate(tls.certificate_pem))


def revoke(world, serial: str) -> None:
    with world.clearing.store.write() as connection:
        certificates.revoke(connection, serial, OperatorAction(operator="alice", reason="test"), now_ms=world.clock())


def refused(call) -> grpc.RpcError | None:
    try:
        call()
    except grpc.RpcError as error:
        return error
    return None


def test_revoked__the_next_call_on_the_same_connection_is_refused_everywhere(world):
    bank_a = world.stub("bank-a")
    channel = world._channels[-1]
    assert bank_a.ListParticipants(LIST, timeout=5).participants
    revoke(world, serial_of(world.banks["bank-a"].tls))

    error = wait_until(lambda: refused(lambda: bank_a.ListParticipants(LIST, timeout=5)), timeout_s=5)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert serial_of(world.banks["bank-a"].tls) in error.details() and "bank bank-a" in error.details()
    health = health_pb2_grpc.HealthStub(channel)
    assert refused(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5)).code() == \
        grpc.StatusCode.UNAUTHENTICATED
    stream = bank_a.StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(), timeout=5)
    assert refused(lambda: next(stream)).code() == grpc.StatusCode.UNAUTHENTICATED
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    assert refused(lambda: next(reflection)).code() == grpc.StatusCode.UNAUTHENTICATED
    assert world.stub("bank-b").ListParticipants(LIST, timeout=5).participants  # Others are unaffected.


def test_revoked__an_open_stream_sends_nothing_more(world):
    # After delivery 1 (the funds in of its admission): the stream has nothing to send yet.
    stream = world.stub("bank-a").StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=1), timeout=10)
    revoke(world, serial_of(world.banks["bank-a"].tls))
    other = world.stub("bank-a")  # Once the clearing refuses bank-a's new calls,
    wait_until(lambda: refused(lambda: other.GetPosition(clearing_pb2.GetPositionRequest(), timeout=5)), timeout_s=5)
    # something to deliver to bank-a: its open stream checks the certificate before sending it.
    world.clearing.windows.close()
    with pytest.raises(grpc.RpcError) as error:
        next(stream)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_renewed__old_and_new_certificates_both_work_until_one_is_revoked(world, tmp_path):
    old = world.banks["bank-a"].tls
    assert main(["--home", str(world.home), "certificates", "renew", "bank", "bank-a", "--out",
                 str(tmp_path / "renewed")]) == 0
    new = TlsCredentials.load(tmp_path / "renewed")
    assert serial_of(new) != serial_of(old) and pki.identity_of(new.certificate_pem).party_id == "bank-a"
    old_stub = clearing_pb2_grpc.ClearingServiceStub(world.channel(old))
    new_stub = clearing_pb2_grpc.ClearingServiceStub(world.channel(new))
    assert old_stub.GetPosition(clearing_pb2.GetPositionRequest(), timeout=5).bank_id == "bank-a"
    assert new_stub.GetPosition(clearing_pb2.GetPositionRequest(), timeout=5).bank_id == "bank-a"

    assert main(["--home", str(world.home), "certificates", "revoke", serial_of(old), "--reason", "renewed"]) == 0
    wait_until(lambda: refused(lambda: old_stub.GetPosition(clearing_pb2.GetPositionRequest(), timeout=5)),
               timeout_s=5)
    assert new_stub.GetPosition(clearing_pb2.GetPositionRequest(), timeout=5).bank_id == "bank-a"


def test_list_revoked_certificates__names_each_refused_certificate_to_members(world):
    assert list(world.stub("bank-b").ListRevokedCertificates(clearing_pb2.ListRevokedCertificatesRequest(),
                                                             timeout=5).certificates) == []
    revoked = world.banks["bank-a"].tls
    revoke(world, serial_of(revoked))
    answer = world.stub("bank-b").ListRevokedCertificates(clearing_pb2.ListRevokedCertificatesRequest(), timeout=5)
    certificate = x509.load_pem_x509_certificate(revoked.certificate_pem)
    assert [(c.serial, c.sha256_fingerprint.hex(), c.party_id) for c in answer.certificates] == [
        (serial_of(revoked), pki.fingerprint(certificate), "bank-a")]
    assert answer.certificates[0].not_after_unix_ms == int(certificate.not_valid_after_utc.timestamp() * 1000)
