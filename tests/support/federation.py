"""A real clearing on loopback over mTLS, with banks admitted and their bundles written."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from fedmall import pki, tls
from fedmall.envelope import SigningKey
from fedmall.pki import TlsCredentials
from fedmall.v1 import clearing_pb2, clearing_pb2_grpc, money_pb2, settlement_pb2, transfer_pb2

from clearing import certificates, credentials
from clearing.config import ClearingConfig
from clearing.server import Clearing

from tests.support.clock import ShiftableClock
from scripts.postgres_cluster import free_port

CURRENCY = "EUR"


@dataclass
class Bank:
    bank_id: str
    bundle: Path
    signing_key: SigningKey
    node_port: int

    @property
    def tls(self) -> TlsCredentials:
        return TlsCredentials.load(self.bundle)


@dataclass
class ClearingWorld:
    home: Path
    database_url: str
    clock: ShiftableClock
    clearing: Clearing | None = None
    banks: dict[str, Bank] = field(default_factory=dict)
    _channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.clearing.port}"

    def start(self, *, listen_address: str = "127.0.0.1:0") -> None:
        overrides = {"FEDMALL_CLEARING_DATABASE_URL": self.database_url,
                     "FEDMALL_CLEARING_LISTEN_ADDRESS": listen_address}
        os.environ.update(overrides)
        try:
            self.clearing = Clearing(ClearingConfig.load(self.home), clock_ms=self.clock)
        finally:
            for name in overrides:
                del os.environ[name]
        self.clearing.start()

    def restart(self) -> None:
        """Stop and start again on the same database and port, as after a crash and reboot."""
        address = self.address
        self.clearing.stop()
        self.start(listen_address=address)

    def admit(self, bank_id: str, *, cap_minor: int, liquidity_minor: int, folder: Path, connect: bool = True) -> Bank:
        """Admit the bank and write its bundle; with connect, call the clearing once with its
        certificate, as its node does on start, so it is ACTIVE rather than ONBOARDING."""
        key = pki.new_signing_key(f"{bank_id}/k1")
        node_port = free_port()
        self.clearing.registry.admit(
            bank_id=bank_id, name=f"Bank {bank_id}", currency=CURRENCY, net_debit_cap_minor=cap_minor,
            liquidity_minor=liquidity_minor, node_address=f"127.0.0.1:{node_port}", signing_key_id=key.key_id,
            signing_public_key=pki.public_key_raw(key.private_key.public_key()), funds=self.clearing.funds)
        issued = credentials.write_bank_bundle(
            self.clearing.config, folder / bank_id, bank_id=bank_id, node_address=f"127.0.0.1:{node_port}",
            signing_key_id=key.key_id, signing_key=key, now=dt.datetime.now(dt.timezone.utc), validity_days=90,
            clearing_address=self.address)
        with self.clearing.store.write() as connection:  # As `fedmall-clearing admit` does.
            certificates.record(connection, issued.certificate_pem, trusted=credentials.trusted_cas(self.home),
                                now_ms=time.time_ns() // 1_000_000)
        bank = Bank(bank_id=bank_id, bundle=folder / bank_id, signing_key=key, node_port=node_port)
        self.banks[bank_id] = bank
        if connect:
            self.stub(bank_id).GetPosition(clearing_pb2.GetPositionRequest())
        return bank

    def channel(self, tls_credentials: TlsCredentials, *, address: str | None = None) -> grpc.Channel:
        """A channel to the clearing (at address, or where it listens) that reaches only the clearing."""
        channel = tls.secure_channel(address or self.address, tls_credentials, server=pki.CLEARING)
        self._channels.append(channel)
        return channel

    def stub(self, bank_id: str) -> clearing_pb2_grpc.ClearingServiceStub:
        return clearing_pb2_grpc.ClearingServiceStub(self.channel(self.banks[bank_id].tls))

    def operator_stub(self, *, address: str | None = None) -> clearing_pb2_grpc.ClearingAdminServiceStub:
        """The operator's admin client: the clearing at address (or where it listens), the
        operator's certificate; it refuses a server that is not the clearing."""
        return clearing_pb2_grpc.ClearingAdminServiceStub(
            self.channel(TlsCredentials.load(self.home / "operator"), address=address))

    def participant(self, bank_id: str):
        return self.clearing.registry.get(bank_id)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        if self.clearing is not None:
            self.clearing.stop()


def new_clearing_world(tmp_path: Path, database_url: str) -> ClearingWorld:
    home = tmp_path / "clearing"
    credentials.init_home(home, listen_address="127.0.0.1:0", database_url=database_url,
                          now=dt.datetime.now(dt.timezone.utc), validity_days=90)
    world = ClearingWorld(home=home, database_url=database_url, clock=ShiftableClock())
    world.start()
    return world


def fulfilment_for(transfer_id: str) -> bytes:
    """A test payee's fulfilment: any 32 bytes the test can recompute."""
    return hashlib.sha256(b"test-fulfilment:" + transfer_id.encode()).digest()


def make_prepare(payer: str, payee: str, amount_minor: int, *, now_ms: int, transfer_id: str | None = None,
                 expires_in_ms: int = 30_000, currency: str = CURRENCY, account: str = "acct-1") -> transfer_pb2.Prepare:
    transfer_id = transfer_id or str(uuid.uuid4())
    return transfer_pb2.Prepare(
        transfer_id=transfer_id, payer_bank_id=payer, payee_bank_id=payee, payee_account=account,
        amount=money_pb2.Money(amount_minor=amount_minor, currency=currency),
        condition=hashlib.sha256(fulfilment_for(transfer_id)).digest(),
        expires_at_unix_ms=now_ms + expires_in_ms, reference="test", uetr=str(uuid.uuid4()))


def next_deliveries(stub, *, after_sequence: int, count: int, timeout_s: float = 10.0) -> list:
    """Read deliveries from a bank's stream until count arrive (or fail after timeout_s)."""
    received = []
    call = stub.StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=after_sequence),
                                 timeout=timeout_s)
    try:
        for message in call:
            received.extend(message.deliveries)
            if len(received) >= count:
                break
    finally:
        call.cancel()
    return received


def close_and_issue(windows) -> int:
    """Close the open window and see it issued: by this call, or by the clearing's own scheduler
    if that got there first (issuing is safe to repeat). The closed window's id."""
    closed, _ = windows.close()
    windows.issue(closed)
    assert windows.window(closed).state == settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT
    return closed


def wait_until(predicate, *, timeout_s: float = 10.0, interval_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError("condition not reached in time")
