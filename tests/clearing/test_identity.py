"""mTLS identity: only consortium certificates get in, roles are enforced, keys rotate."""
from __future__ import annotations

import datetime as dt

import grpc
import pytest

from fedmall import pki
from fedmall.pki import Identity, TlsCredentials
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from tests.support.federation import make_prepare


def _credentials_from(ca: pki.CertificateAuthority, ca_pem: bytes, identity: Identity, *, not_before, not_after):
    certificate_pem, key_pem = pki.issue_certificate(ca, identity, hosts=["localhost"], not_before=not_before,
                                                     not_after=not_after)
    return TlsCredentials(ca_pem=ca_pem, certificate_pem=certificate_pem, key_pem=key_pem)


def test_client_certificate_from_another_ca_is_refused(world):
    now = dt.datetime.now(dt.timezone.utc)
    rogue_ca = pki.create_ca(now=now, validity_days=1)
    rogue = _credentials_from(rogue_ca, (world.home / "ca.pem").read_bytes(), Identity("bank-a", "bank"),
                              not_before=now - dt.timedelta(minutes=1), not_after=now + dt.timedelta(days=1))
    stub = clearing_pb2_grpc.ClearingServiceStub(world.channel(rogue))
    with pytest.raises(grpc.RpcError) as error:
        stub.ListParticipants(clearing_pb2.ListParticipantsRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_expired_client_certificate_is_refused(world):
    now = dt.datetime.now(dt.timezone.utc)
    ca = pki.load_ca(world.home / "ca.key", world.home / "ca.pem")
    expired = _credentials_from(ca, (world.home / "ca.pem").read_bytes(), Identity("bank-a", "bank"),
                                not_before=now - dt.timedelta(days=10), not_after=now - dt.timedelta(days=1))
    stub = clearing_pb2_grpc.ClearingServiceStub(world.channel(expired))
    with pytest.raises(grpc.RpcError) as error:
        stub.ListParticipants(clearing_pb2.ListParticipantsRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_of_a_non_participant_is_permission_denied(world):
    now = dt.datetime.now(dt.timezone.utc)
    ca = pki.load_ca(world.home / "ca.key", world.home / "ca.pem")
    outsider = _credentials_from(ca, (world.home / "ca.pem").read_bytes(), Identity("bank-x", "bank"),
                                 not_before=now - dt.timedelta(minutes=1), not_after=now + dt.timedelta(days=1))
    stub = clearing_pb2_grpc.ClearingServiceStub(world.channel(outsider))
    with pytest.raises(grpc.RpcError) as error:
        stub.ListParticipants(clearing_pb2.ListParticipantsRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_admin_service__operator_may_suspend_but_a_bank_may_not(world):
    bank_admin = clearing_pb2_grpc.ClearingAdminServiceStub(world.channel(world.banks["bank-a"].tls))
    with pytest.raises(grpc.RpcError) as error:
        bank_admin.SuspendParticipant(clearing_pb2.SuspendParticipantRequest(bank_id="bank-b"), timeout=5)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert world.participant("bank-b").status == "active"

    operator = world.operator_stub()
    assert operator.SuspendParticipant(clearing_pb2.SuspendParticipantRequest(bank_id="bank-b")).result == rc.RESULT_CODE_OK
    assert world.participant("bank-b").status == "suspended"
    assert operator.ResumeParticipant(clearing_pb2.ResumeParticipantRequest(bank_id="bank-b")).result == rc.RESULT_CODE_OK
    assert operator.SuspendParticipant(
        clearing_pb2.SuspendParticipantRequest(bank_id="nope")).result == rc.RESULT_CODE_UNKNOWN_PARTICIPANT


def test_participants_and_position_are_served_to_members(world):
    stub = world.stub("bank-a")
    listed = stub.ListParticipants(clearing_pb2.ListParticipantsRequest())
    assert [p.bank_id for p in listed.participants] == ["bank-a", "bank-b", "bank-c"]
    assert listed.participants[1].node_address.startswith("127.0.0.1:")
    position = stub.GetPosition(clearing_pb2.GetPositionRequest())
    assert (position.bank_id, position.net_debit_cap.amount_minor, position.liquidity.amount_minor) == (
        "bank-a", 100_000, 200_000)


def _change(world, key, change: transfer_pb2.SigningKeyChange) -> int:
    return world.stub("bank-a").ChangeSigningKey(
        clearing_pb2.ChangeSigningKeyRequest(envelope=key.sign(change))).result


def _prepare_with(world, key) -> int:
    envelope = key.sign(transfer_pb2.PrepareBatch(prepares=[make_prepare("bank-a", "bank-b", 10, now_ms=world.clock())]))
    response = world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    return response.result


def test_key_rotation__add_new_key_then_revoke_old_without_downtime(world):
    old = world.banks["bank-a"].signing_key
    new = pki.new_signing_key("bank-a/k2")
    new_public = pki.public_key_raw(new.private_key.public_key())
    add = transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k2", public_key=new_public)

    assert _change(world, old, add) == rc.RESULT_CODE_OK
    assert _change(world, old, add) == rc.RESULT_CODE_EXISTS
    assert _prepare_with(world, old) == rc.RESULT_CODE_OK  # Both keys work during the overlap.
    assert _prepare_with(world, new) == rc.RESULT_CODE_OK

    revoke = transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k1", revoke=True)
    assert _change(world, old, revoke) == rc.RESULT_CODE_FORBIDDEN  # A key cannot revoke itself.
    assert _change(world, new, revoke) == rc.RESULT_CODE_OK
    assert _prepare_with(world, old) == rc.RESULT_CODE_UNKNOWN_KEY
    assert _prepare_with(world, new) == rc.RESULT_CODE_OK


def test_participants__name_each_banks_active_signing_keys_so_members_verify_each_other(world):
    def published() -> dict[str, list[tuple[str, bytes]]]:
        listed = world.stub("bank-b").ListParticipants(clearing_pb2.ListParticipantsRequest())
        return {p.bank_id: [(key.key_id, key.public_key) for key in p.signing_keys] for p in listed.participants}

    def raw(key) -> bytes:
        return pki.public_key_raw(key.private_key.public_key())

    old = world.banks["bank-a"].signing_key
    assert published() == {bank_id: [(bank.signing_key.key_id, raw(bank.signing_key))]
                           for bank_id, bank in world.banks.items()}
    new = pki.new_signing_key("bank-a/k2")
    assert _change(world, old, transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k2",
                                                             public_key=raw(new))) == rc.RESULT_CODE_OK
    assert published()["bank-a"] == [("bank-a/k1", raw(old)), ("bank-a/k2", raw(new))]
    assert _change(world, new, transfer_pb2.SigningKeyChange(bank_id="bank-a", key_id="bank-a/k1",
                                                             revoke=True)) == rc.RESULT_CODE_OK
    assert published()["bank-a"] == [("bank-a/k2", raw(new))]   # A revoked key is no longer offered.


def test_key_rotation__a_bank_cannot_add_keys_for_another(world):
    change = transfer_pb2.SigningKeyChange(bank_id="bank-b", key_id="bank-b/k2", public_key=bytes(32))
    assert _change(world, world.banks["bank-a"].signing_key, change) == rc.RESULT_CODE_FORBIDDEN
