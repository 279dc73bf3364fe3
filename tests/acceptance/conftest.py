"""A whole federation in one test: the real clearing and real bank nodes, each with its
own gRPC server on loopback over mTLS and its own database."""
from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
import sqlalchemy as sa

from fedmall import tls
from fedmall.pki import Identity
from fedmall.v1 import marketplace_pb2_grpc, money_pb2, node_pb2, node_pb2_grpc
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger, store
from node.config import load_config
from node.server import Node, build_node

from scripts import invariants
from tests.conftest import TEST_FAILED
from tests.support.federation import CURRENCY, ClearingWorld, wait_until

FINAL = ("COMMITTED", "ABORTED")


class Federation:
    def __init__(self, world: ClearingWorld) -> None:
        self.world = world
        self.nodes: dict[str, Node] = {}
        self.database_urls: dict[str, str] = {}  # Every node started, running or stopped since.
        self._channels: dict[str, object] = {}

    def start_node(self, bank_id: str, *, workers: bool = True, clock=time.time, accept_database_behind: bool = False,
                   **overrides) -> Node:
        """Build and start the bank's node; overrides replace config fields, clock the node's time."""
        config = load_config(self.world.banks[bank_id].bundle)
        node = build_node(dataclasses.replace(config, **overrides), clock=clock,
                          accept_database_behind=accept_database_behind)
        try:
            node.start(workers=workers)
        except BaseException:
            node.stop(grace_s=0)
            raise
        self.nodes[bank_id] = node
        self.database_urls[bank_id] = node.config.database_url
        return node

    def stop_node(self, bank_id: str) -> None:
        self.nodes.pop(bank_id).stop()
        channel = self._channels.pop(bank_id, None)
        if channel is not None:
            channel.close()

    def _channel(self, bank_id: str):
        if bank_id not in self._channels:
            bank = self.world.banks[bank_id]
            self._channels[bank_id] = tls.secure_channel(f"127.0.0.1:{bank.node_port}", bank.tls,
                                                         server=Identity(bank_id, "bank"))
        return self._channels[bank_id]

    def teller(self, bank_id: str) -> node_pb2_grpc.NodeServiceStub:
        """The bank's own NodeService, called with the bank's certificate."""
        return node_pb2_grpc.NodeServiceStub(self._channel(bank_id))

    def market(self, bank_id: str) -> marketplace_pb2_grpc.MarketplaceServiceStub:
        """The bank's own MarketplaceService (its app backend), called with the bank's certificate."""
        return marketplace_pb2_grpc.MarketplaceServiceStub(self._channel(bank_id))

    def open_account(self, bank_id: str, account_id: str, *, deposit_minor: int = 0) -> None:
        teller = self.teller(bank_id)
        response = teller.OpenAccount(node_pb2.OpenAccountRequest(
            account_id=account_id, holder_name=account_id.title(), currency=CURRENCY))
        assert response.result == rc.RESULT_CODE_OK
        if deposit_minor:
            response = teller.Deposit(node_pb2.DepositRequest(
                deposit_id=str(uuid.uuid4()), account_id=account_id,
                amount=money_pb2.Money(amount_minor=deposit_minor, currency=CURRENCY)))
            assert response.result == rc.RESULT_CODE_OK

    def send(self, payer: str, from_account: str, payee: str, to_account: str, amount_minor: int,
             *, transfer_id: str | None = None) -> tuple[str, node_pb2.SendTransferResponse]:
        transfer_id = transfer_id or str(uuid.uuid4())
        response = self.teller(payer).SendTransfer(node_pb2.SendTransferRequest(
            transfer_id=transfer_id, from_account_id=from_account, payee_bank_id=payee,
            payee_account_id=to_account, amount=money_pb2.Money(amount_minor=amount_minor, currency=CURRENCY),
            reference="acceptance"))
        return transfer_id, response

    def record(self, bank_id: str, transfer_id: str) -> node_pb2.GetTransferRecordResponse:
        return self.teller(bank_id).GetTransferRecord(node_pb2.GetTransferRecordRequest(transfer_id=transfer_id))

    def wait_final(self, bank_id: str, transfer_id: str, *, timeout_s: float = 15.0) -> node_pb2.GetTransferRecordResponse:
        return wait_until(lambda: (r := self.record(bank_id, transfer_id)).status in FINAL and r, timeout_s=timeout_s)

    def balance(self, bank_id: str, account_id: str) -> int:
        response = self.teller(bank_id).GetAccount(node_pb2.GetAccountRequest(account_id=account_id))
        assert response.result == rc.RESULT_CODE_OK
        return response.balance.amount_minor

    def internal(self, bank_id: str, name: str) -> int:
        """An internal account's balance: 'clearing', 'owed-to-clearing' or 'cash'."""
        with self.nodes[bank_id].engine.connect() as connection:
            return connection.scalar(sa.select(store.accounts.c.balance_minor).where(
                store.accounts.c.account_id == f"@{name}/{CURRENCY}")) or 0

    def applied_cursor(self, bank_id: str) -> int:
        """The last delivery the bank's node applied."""
        with self.nodes[bank_id].engine.connect() as connection:
            return store.read_cursor(connection)

    def books_problems(self, bank_id: str) -> list[str]:
        with self.nodes[bank_id].engine.connect() as connection:
            return ledger.books_problems(store.read_books(connection))

    def position(self, bank_id: str) -> tuple[int, int]:
        participant = self.world.participant(bank_id)
        return participant.position_minor, participant.reserved_minor

    def assert_invariants(self, *, timeout_s: float = 30.0) -> None:
        """Once nothing is in flight, every money invariant holds (scripts/invariants.py), read from
        the clearing's database and every node's, stopped nodes included."""
        deadline = time.monotonic() + timeout_s
        while (moving := invariants.in_flight(*(books := self.read_books()), currency=CURRENCY)) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert moving == [], f"not at rest after {timeout_s:g} s: {moving}"
        assert invariants.failures(invariants.check(*books, currency=CURRENCY)) == []

    def read_books(self) -> tuple[invariants.ClearingBooks, dict[str, invariants.NodeBooks]]:
        return invariants.read_federation(self.world.database_url, self.database_urls)

    def close(self) -> None:
        for bank_id in list(self.nodes):
            self.stop_node(bank_id)
        for channel in self._channels.values():
            channel.close()


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path):
    """Whole-federation runs use the embedded default; tests/clearing covers PostgreSQL."""
    return f"sqlite:///{tmp_path / 'clearing.db'}"


def closed_at_rest(request, federation: Federation) -> None:
    """A federation fixture's end: unless the test failed or broke the books on purpose, it must
    end at rest with every invariant whole."""
    try:
        if request.node.get_closest_marker("books_left_broken") is None and not request.node.stash.get(TEST_FAILED,
                                                                                                      False):
            federation.assert_invariants()
    finally:
        federation.close()


@pytest.fixture
def federation(world, request):
    federation = Federation(world)
    for bank_id in world.banks:
        federation.start_node(bank_id)
    yield federation
    closed_at_rest(request, federation)
