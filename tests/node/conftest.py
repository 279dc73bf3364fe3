"""Fixtures for node tests: a consortium CA, bank bundles, and a small fake clearing."""
from __future__ import annotations

import datetime as dt
import queue
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from fedmall import pki
from fedmall.envelope import SigningKey, VerificationKey
from fedmall.tls import new_server, peer_identity, server_credentials
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, result_pb2, transfer_pb2

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
CLEARING_KEY_ID = "clearing/k1"


@dataclass
class Consortium:
    root: Path
    ca: pki.CertificateAuthority
    clearing_key: SigningKey

    def credentials(self, party_id: str, role: str = "bank") -> pki.TlsCredentials:
        certificate, key = pki.issue_certificate(
            self.ca, pki.Identity(party_id=party_id, role=role), hosts=["127.0.0.1", "localhost"],
            not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5),
            not_after=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2))
        ca_pem = self.ca.certificate.public_bytes(serialization.Encoding.PEM)
        return pki.TlsCredentials(ca_pem=ca_pem, certificate_pem=certificate, key_pem=key)

    def bundle(self, bank_id: str, *, clearing_address: str = "127.0.0.1:1",
               listen_address: str = "127.0.0.1:0", database_url: str = "") -> Path:
        home = self.root / bank_id
        home.mkdir()
        tls = self.credentials(bank_id)
        (home / "ca.pem").write_bytes(tls.ca_pem)
        (home / "tls.crt").write_bytes(tls.certificate_pem)
        pki.write_private(home / "tls.key", tls.key_pem)
        signing = pki.new_signing_key(f"{bank_id}/k1")
        pki.write_private(home / "signing.key", pki.signing_key_pem(signing))
        (home / "clearing.pub").write_bytes(pki.public_key_pem(self.clearing_key.private_key.public_key()))
        (home / "fedmall.toml").write_text(f'''[identity]
party_id = "{bank_id}"
role = "bank"
signing_key_id = "{bank_id}/k1"

[clearing]
address = "{clearing_address}"
signing_key_id = "{CLEARING_KEY_ID}"

[node]
listen_address = "{listen_address}"
database_url = "{database_url}"
''')
        return home

    def clearing_keys(self, key_id: str):
        key = VerificationKey(key_id=CLEARING_KEY_ID, owner="clearing",
                              public_key=self.clearing_key.private_key.public_key())
        return key if key_id == CLEARING_KEY_ID else None


@pytest.fixture(scope="session")
def consortium_ca() -> pki.CertificateAuthority:
    return pki.create_ca(now=dt.datetime.now(dt.timezone.utc), validity_days=2)


@pytest.fixture
def consortium(tmp_path, consortium_ca) -> Consortium:
    return Consortium(root=tmp_path, ca=consortium_ca, clearing_key=pki.new_signing_key(CLEARING_KEY_ID))


@dataclass
class FakeClearing(clearing_pb2_grpc.ClearingServiceServicer):
    """Answers like the clearing, minus all of its rules; records what it was sent."""
    participants: list = field(default_factory=list)
    prepare_batches: list = field(default_factory=list)
    decision_batches: list = field(default_factory=list)
    prepare_codes: dict = field(default_factory=dict)  # transfer_id -> code to answer
    deliveries: dict = field(default_factory=dict)  # bank_id -> queue.Queue of Delivery
    stream_requests: list = field(default_factory=list)
    callers: list = field(default_factory=list)
    reconciliations: list = field(default_factory=list)  # Envelopes of SubmitReconciliation.
    reconciliation_code: int = result_pb2.RESULT_CODE_OK
    acknowledged: dict = field(default_factory=dict)  # bank_id -> the highest after_sequence it resumed after.
    revoked_certificates: list = field(default_factory=list)  # RevokedCertificate messages to answer.

    def queue_for(self, bank_id: str) -> "queue.Queue":
        return self.deliveries.setdefault(bank_id, queue.Queue())

    def SubmitPrepares(self, request, context):
        self.callers.append(peer_identity(context))
        batch = transfer_pb2.PrepareBatch.FromString(request.envelope.payload)
        self.prepare_batches.append(request.envelope)
        return clearing_pb2.SubmitPreparesResponse(result=result_pb2.RESULT_CODE_OK, results=[
            clearing_pb2.TransferResult(transfer_id=p.transfer_id,
                                        result=self.prepare_codes.get(p.transfer_id, result_pb2.RESULT_CODE_OK),
                                        state=transfer_pb2.TRANSFER_STATE_RESERVED)
            for p in batch.prepares])

    def SubmitDecisions(self, request, context):
        batch = transfer_pb2.DecisionBatch.FromString(request.envelope.payload)
        self.decision_batches.append(request.envelope)
        ids = [a.transfer_id for a in batch.accepts] + [r.transfer_id for r in batch.rejects]
        return clearing_pb2.SubmitDecisionsResponse(result=result_pb2.RESULT_CODE_OK, results=[
            clearing_pb2.TransferResult(transfer_id=i, result=result_pb2.RESULT_CODE_OK) for i in ids])

    def SubmitReconciliation(self, request, context):
        self.reconciliations.append(request.envelope)
        return clearing_pb2.SubmitReconciliationResponse(result=self.reconciliation_code)

    def ListParticipants(self, request, context):
        return clearing_pb2.ListParticipantsResponse(participants=self.participants)

    def ListRevokedCertificates(self, request, context):
        return clearing_pb2.ListRevokedCertificatesResponse(certificates=self.revoked_certificates)

    def GetPosition(self, request, context):
        bank_id = peer_identity(context).party_id
        return clearing_pb2.GetPositionResponse(
            bank_id=bank_id, delivery_sequence_acknowledged=self.acknowledged.get(bank_id, 0))

    def StreamDeliveries(self, request, context):
        self.stream_requests.append(request.after_sequence)
        bank_id = peer_identity(context).party_id
        self.acknowledged[bank_id] = max(self.acknowledged.get(bank_id, 0), request.after_sequence)
        bank_queue = self.queue_for(bank_id)
        context.send_initial_metadata(())  # As the clearing does: the node's stream counts as connected.
        while context.is_active():
            try:
                delivery = bank_queue.get(timeout=0.05)
            except queue.Empty:
                continue
            yield clearing_pb2.StreamDeliveriesResponse(deliveries=[delivery])


@dataclass
class RunningClearing:
    fake: FakeClearing
    address: str
    server: grpc.Server


@pytest.fixture
def fake_clearing(consortium):
    fake = FakeClearing()
    server = new_server(threads=8)
    clearing_pb2_grpc.add_ClearingServiceServicer_to_server(fake, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(consortium.credentials("clearing", "clearing")))
    server.start()
    yield RunningClearing(fake=fake, address=f"127.0.0.1:{port}", server=server)
    server.stop(0)


__all__ = ["Consortium", "FakeClearing"]
