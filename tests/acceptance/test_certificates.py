"""Certificates across the federation: a bank admitted from its own signing request runs as
real processes; a revoked bank is refused by another bank's node; the CA rotation of
docs/certificates.md walked with a real clearing and a real node (old-CA and new-CA
certificates both accepted during the overlap, only new ones after)."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from fedmall import pki, tls
from fedmall.pki import Identity, TlsCredentials
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, marketplace_pb2, marketplace_pb2_grpc
from fedmall.v1 import result_pb2 as rc

from clearing import cli as clearing_cli
from node import cli as node_cli
from scripts.federation import BIN, free_port
from tests.acceptance.conftest import Federation
from tests.support.federation import wait_until

BANK_A = Identity("bank-a", "bank")  # Every peer call here is to bank-a's node.

def clearing(home: Path, *args: str) -> None:
    assert clearing_cli.main(["--home", str(home), *args]) == 0


def node(*args: str) -> None:
    assert node_cli.main(list(args)) == 0


def answer(call) -> str:
    """'OK', or the status code of the refusal."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code().name
    return "OK"


def at_clearing(address: str, credentials: TlsCredentials, channels: list) -> str:
    """ListParticipants on a new connection with these credentials."""
    channel = tls.secure_channel(address, credentials, server=pki.CLEARING)
    channels.append(channel)
    stub = clearing_pb2_grpc.ClearingServiceStub(channel)
    return answer(lambda: stub.ListParticipants(clearing_pb2.ListParticipantsRequest(), timeout=5))


def at_peer(address: str, credentials: TlsCredentials, channels: list) -> str:
    """A peer call to bank-a's node (SearchCatalogue) on a new connection with these credentials."""
    channel = tls.secure_channel(address, credentials, server=BANK_A)
    channels.append(channel)
    stub = marketplace_pb2_grpc.MarketplacePeerServiceStub(channel)
    return answer(lambda: stub.SearchCatalogue(marketplace_pb2.SearchCatalogueRequest(query="tea"), timeout=5))


@pytest.fixture
def channels():
    opened: list[grpc.Channel] = []
    yield opened
    for channel in opened:
        channel.close()


def start(command: list[str], log: Path) -> subprocess.Popen:
    """A real process, once its log says it is listening."""
    with log.open("w") as file:
        process = subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        wait_until(lambda: "listening" in log.read_text() or process.poll() is not None, timeout_s=30)
    except AssertionError:
        process.kill()
        raise
    if process.poll() is not None:
        raise AssertionError(f"{command[0]} exited at start:\n{log.read_text()}")
    return process


def serial_of(credentials: TlsCredentials) -> str:
    return pki.serial_text(x509.load_pem_x509_certificate(credentials.certificate_pem))


def test_admission_from_a_signing_request__the_bank_runs_on_its_own_key_until_revoked(tmp_path, channels):
    """The golden path with real processes: the bank's key is made in its home and never
    leaves it; the operator signs, the bank installs, both serve; a revocation ends it."""
    clearing_home, node_home, bundle = tmp_path / "clearing", tmp_path / "bank-a", tmp_path / "bundle"
    clearing_address, node_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    clearing(clearing_home, "init", "--listen", clearing_address)
    node("csr", "--home", str(node_home), "--bank-id", "bank-a", "--node-address", node_address,
         "--out", str(tmp_path / "bank-a.csr"))
    clearing(clearing_home, "admit", "bank-a", "--name", "Bank A", "--currency", "EUR", "--net-debit-cap", "100.00",
             "--liquidity", "100.00", "--node-address", node_address, "--out", str(bundle),
             "--csr", str(tmp_path / "bank-a.csr"), "--signing-public-key", str(node_home / "signing.pub"))
    assert not (bundle / "tls.key").exists() and not (bundle / "signing.key").exists()
    node("install-certificate", "--home", str(node_home), "--from", str(bundle))

    processes = [start([str(BIN / "fedmall-clearing"), "--home", str(clearing_home), "serve"],
                       tmp_path / "clearing.log")]
    try:
        processes.append(start([str(BIN / "fedmall-node"), "serve", "--home", str(node_home)], tmp_path / "node.log"))
        bank = TlsCredentials.load(node_home)
        assert at_clearing(clearing_address, bank, channels) == "OK"
        assert at_peer(node_address, bank, channels) == "OK"
        node("open-account", "acct-1", "--name", "Ann", "--currency", "EUR", "--home", str(node_home))

        clearing(clearing_home, "certificates", "revoke", serial_of(bank), "--reason", "test")
        wait_until(lambda: at_clearing(clearing_address, bank, channels) == "UNAUTHENTICATED", timeout_s=5)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=15)


def test_revoked_bank__another_banks_node_refuses_its_peer_calls(world, channels):
    federation = Federation(world)
    try:
        node_a = f"127.0.0.1:{federation.start_node('bank-a').port}"
        bank_b, bank_c = world.banks["bank-b"].tls, world.banks["bank-c"].tls
        channels.append(tls.secure_channel(node_a, bank_b, server=BANK_A))
        established = marketplace_pb2_grpc.MarketplacePeerServiceStub(channels[-1])
        assert at_peer(node_a, bank_b, channels) == "OK"
        assert answer(lambda: established.SearchCatalogue(marketplace_pb2.SearchCatalogueRequest(query="tea"))) == "OK"

        clearing(world.home, "certificates", "revoke", serial_of(bank_b), "--reason", "compromised")
        wait_until(lambda: at_peer(node_a, bank_b, channels) == "UNAUTHENTICATED", timeout_s=10)
        assert answer(lambda: established.SearchCatalogue(
            marketplace_pb2.SearchCatalogueRequest(query="tea"), timeout=5)) == "UNAUTHENTICATED"
        assert at_peer(node_a, bank_c, channels) == "OK"
    finally:
        federation.close()


def install(bundle: Path, folder: Path) -> None:
    node("install-certificate", "--home", str(bundle), "--from", str(folder))


def trust_only(tmp_path: Path, name: str, ca_pem: bytes) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "ca.pem").write_bytes(ca_pem)
    return folder


def test_ca_rotation__both_cas_during_the_overlap__only_the_new_one_after(world, tmp_path, channels):
    federation = Federation(world)
    try:
        federation.start_node("bank-a")
        node_a = f"127.0.0.1:{world.banks['bank-a'].node_port}"
        old_b = world.banks["bank-b"].tls
        assert at_clearing(world.address, old_b, channels) == "OK" and at_peer(node_a, old_b, channels) == "OK"

        # 1. A new CA issues from now on; the clearing's ca.pem trusts both (reloaded, no restart).
        clearing(world.home, "certificates", "rotate-ca", "--reason", "yearly rotation")
        both = (world.home / "ca.pem").read_bytes()
        assert len(pki.load_certificates(both)) == 2
        # 2. Every home trusts both before anyone holds a certificate of the new CA.
        for bank in world.banks.values():
            install(bank.bundle, trust_only(tmp_path, f"trust-{bank.bank_id}", both))
        old_b = TlsCredentials(ca_pem=both, certificate_pem=old_b.certificate_pem, key_pem=old_b.key_pem)
        # 3. Every certificate is reissued by the new CA; nodes restart on theirs.
        for bank in world.banks.values():
            clearing(world.home, "certificates", "renew", "bank", bank.bank_id, "--out", str(tmp_path / bank.bank_id))
            install(bank.bundle, tmp_path / bank.bank_id)
        clearing(world.home, "certificates", "renew", "clearing")
        clearing(world.home, "certificates", "renew", "operator")
        federation.stop_node("bank-a")
        federation.start_node("bank-a")
        new_b = world.banks["bank-b"].tls
        assert serial_of(new_b) != serial_of(old_b)

        # The overlap: certificates of either CA are accepted, by the clearing and by the node.
        assert [at_clearing(world.address, c, channels) for c in (old_b, new_b)] == ["OK", "OK"]
        assert [at_peer(node_a, c, channels) for c in (old_b, new_b)] == ["OK", "OK"]
        channels.append(tls.secure_channel(world.address, old_b, server=pki.CLEARING))
        established = clearing_pb2_grpc.ClearingServiceStub(channels[-1])
        assert answer(lambda: established.ListParticipants(clearing_pb2.ListParticipantsRequest(), timeout=5)) == "OK"

        # 4. The old CA is dropped: ca.pem holds only the new one, everywhere.
        clearing(world.home, "certificates", "retire-old-ca", "--reason", "every certificate renewed")
        new_only = (world.home / "ca.pem").read_bytes()
        assert len(pki.load_certificates(new_only)) == 1
        for bank in world.banks.values():
            install(bank.bundle, trust_only(tmp_path, f"new-trust-{bank.bank_id}", new_only))

        # After: only new-CA certificates, on new connections (the handshake) and on old ones.
        assert [at_clearing(world.address, c, channels) for c in (old_b, new_b)] == ["UNAVAILABLE", "OK"]
        assert [at_peer(node_a, c, channels) for c in (old_b, new_b)] == ["UNAVAILABLE", "OK"]
        wait_until(lambda: answer(lambda: established.ListParticipants(
            clearing_pb2.ListParticipantsRequest(), timeout=5)) == "UNAUTHENTICATED", timeout_s=5)
        new_trust_only = TlsCredentials(ca_pem=new_only, certificate_pem=new_b.certificate_pem, key_pem=new_b.key_pem)
        assert at_clearing(world.address, new_trust_only, channels) == "OK"
        channels.append(tls.secure_channel(world.address, TlsCredentials.load(world.home / "operator"),
                                           server=pki.CLEARING))
        operator = clearing_pb2_grpc.ClearingAdminServiceStub(channels[-1])
        assert operator.ResumeParticipant(clearing_pb2.ResumeParticipantRequest(bank_id="bank-b"),
                                          timeout=5).result == rc.RESULT_CODE_OK
    finally:
        federation.close()
