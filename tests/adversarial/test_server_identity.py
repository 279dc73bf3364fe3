"""A hostile member cannot answer calls meant for the clearing or for another bank.

Every member's certificate used to name 'localhost' and '127.0.0.1', and a client took any
consortium certificate from the server it dialled: a member that got hold of an address
(DNS, a hijacked route, a node address set to its own) could answer as the clearing or as
another bank. Now a certificate names its party (fedmall.pki.party_name:
bank-b.bank.fedmall, clearing.fedmall) and every client demands the party it means to
reach (fedmall.tls.secure_channel), so the handshake fails before anything is sent.

Each case runs real servers on loopback over mTLS: the clearing, the members' nodes, and
an Impostor, a member's own server holding its real certificate and answering every call
OK. Each refusal is asserted with its code and words, and with what did not happen: no
call reached the impostor, and no row was written at the clearing or at any node.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import threading
import uuid

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fedmall import pki, tls
from fedmall.config_file import ConfigError
from fedmall.pki import Identity, TlsCredentials
from fedmall.v1 import clearing_pb2, marketplace_pb2 as mp, money_pb2, node_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import cli as clearing_cli, credentials
from clearing.config import ClearingConfig
from clearing.membership import Membership
from clearing.operator import OperatorAction
from clearing.server import Clearing
from node import certificates as node_certificates, cli as node_cli
from node.config import load_config
from node.server import build_node

from tests.node.market.world import database_url, market  # noqa: F401
from tests.support.certificates import legacy_certificate
from tests.support.federation import wait_until

A, B, C = "bank-a", "bank-b", "bank-c"
EUR_100 = 10_000


# A hostile member's server ------------------------------------------------------------------

class Impostor:
    """A member's own server (its certificate and key, which every party's trust bundle accepts)
    that answers every Fedmall call as the clearing or another bank would, OK, and records
    each call it is sent: every bank lives at its address, every quote is good, its
    catalogue sells what the real seller sells."""

    def __init__(self, credentials: TlsCredentials, *, bank_ids: list[str]) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._bank_ids = bank_ids
        self._server = tls.new_server(threads=4)
        self._server.add_generic_rpc_handlers((_AnswerEverything(self),))
        self.port = self._server.add_secure_port("127.0.0.1:0", tls.server_credentials(credentials))
        self._server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def record(self, method_name: str) -> None:
        with self._lock:
            self.calls.append(method_name)

    def fill(self, request, response) -> None:
        if "result" in response.DESCRIPTOR.fields_by_name:
            response.result = rc.RESULT_CODE_OK
        if isinstance(response, clearing_pb2.ListParticipantsResponse):
            response.participants.extend(clearing_pb2.Participant(
                bank_id=bank_id, currency="EUR", status=clearing_pb2.PARTICIPANT_STATUS_ACTIVE,
                node_address=self.address) for bank_id in self._bank_ids)
        elif isinstance(response, node_pb2.QuoteTransfersResponse):
            response.results.extend(node_pb2.QuoteResult(
                transfer_id=item.transfer_id, result=rc.RESULT_CODE_OK,
                condition=hashlib.sha256(item.transfer_id.encode()).digest()) for item in request.items)
        elif isinstance(response, mp.SearchCatalogueResponse):
            response.products.append(mp.Product(merchant_id="potter", merchant_name="Potter Ltd", sku="tea",
                                                title="tea pot", price=eur(1_500), stock_available=100))

    def close(self) -> None:
        self._server.stop(0)


class _AnswerEverything(grpc.GenericRpcHandler):
    def __init__(self, impostor: Impostor) -> None:
        self._impostor = impostor

    def service(self, handler_call_details):
        service_name, _, method_name = handler_call_details.method.strip("/").rpartition("/")
        try:
            method = descriptor_pool.Default().FindMethodByName(f"{service_name}.{method_name}")
        except KeyError:
            return None
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)

        def unary(request, context):
            self._impostor.record(method_name)
            response = response_class()
            self._impostor.fill(request, response)
            return response

        def stream(request, context):
            self._impostor.record(method_name)
            return iter(())

        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=request_class.FromString,
                                                        response_serializer=response_class.SerializeToString)
        return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=request_class.FromString,
                                                   response_serializer=response_class.SerializeToString)


@pytest.fixture
def impostors():
    """impostors(bank_id): a server with that member's certificate, answering as anyone."""
    started = []

    def start(bank_id: str, world) -> Impostor:
        impostor = Impostor(world.banks[bank_id].tls, bank_ids=sorted(world.banks))
        started.append(impostor)
        return impostor

    yield start
    for impostor in started:
        impostor.close()


# What nothing changed means ---------------------------------------------------------------

def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {name: connection.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
                for name in sa.inspect(connection).get_table_names()}


def everything(market) -> dict[str, dict[str, int]]:
    """The row count of every table at the clearing and at every running node: a transfer, an
    order, an entry, a delivery or an audit row anywhere shows as a difference."""
    counts = {"clearing": row_counts(market.world.clearing.store.engine)}
    counts.update({bank_id: row_counts(node.engine) for bank_id, node in market.nodes.items()})
    return counts


def funds_in(bank_id: str, amount_minor: int) -> clearing_pb2.RecordFundsInRequest:
    return clearing_pb2.RecordFundsInRequest(reason="top up", terms=clearing_pb2.FundsMovementTerms(
        movement_id=f"in-{uuid.uuid4().hex[:8]}", bank_id=bank_id, amount=eur(amount_minor),
        external_reference="RTGS-1"))


def participants(world) -> list:
    return [tuple(world.participant(bank_id)) for bank_id in sorted(world.banks)]


def move_address(world, bank_id: str, address: str) -> None:
    """The registry names address for bank_id's node (an address set to another's, or what a
    hijacked DNS name would resolve to)."""
    Membership(world.clearing.store, clock_ms=world.clock).set_address(
        bank_id, address, action=OperatorAction(operator="mallory", reason="hijack"))


def provision(market) -> None:
    """alice at A with 100.00; bob at B and, with the same account id, at C; the merchant
    potter selling tea at B, and a copy of it at C."""
    market.open_account(A, "alice", deposit_minor=EUR_100)
    for bank_id in (B, C):
        market.open_account(bank_id, "bob")
        market.merchant(bank_id, "potter")
        market.product(bank_id, "potter", "tea", title="tea pot", price_minor=1_500, stock=5)


# The node and its clearing ----------------------------------------------------------------

@pytest.mark.parametrize("answering", ["bank-b's node", "a server with bank-b's certificate"])
def test_node__a_member_answering_as_its_clearing_is_refused_and_nothing_moves(market, impostors, answering, caplog):
    provision(market)
    impostor = impostors(B, market.world)
    address = market.world.banks[B].node_port if answering == "bank-b's node" else impostor.port
    market.stop_node(A)
    with caplog.at_level(logging.ERROR, logger="node.server"):
        market.start_node(A, clearing_address=f"127.0.0.1:{address}")
    assert f"the server at 127.0.0.1:{address} is not the clearing: its certificate does not name " \
           "clearing.fedmall" in caplog.text   # At start, in the node's log.
    before, positions = everything(market), participants(market.world)

    transfer_id, response = market.send(A, "alice", B, "bob", 1_000)
    assert response.result == rc.RESULT_CODE_UNAVAILABLE
    wait_until(lambda: "worker bank-a-deliveries: UNAVAILABLE (the server's certificate does not name the party "
                       "dialled" in caplog.text)  # And again on every retry of its workers.
    assert market.record(A, transfer_id).result == rc.RESULT_CODE_TRANSFER_NOT_FOUND
    assert market.balance(A, "alice") == EUR_100
    search = market.market(A).Search(mp.SearchRequest(query="tea"))
    assert [product.bank_id for product in search.products] == []  # Its registry answer never came.

    assert impostor.calls == []   # Not a registry read, a prepare, a stream cursor or a revocation list.
    assert everything(market) == before and participants(market.world) == positions


# A peer at another bank's address ---------------------------------------------------------

def test_peer__bank_bs_address_served_by_bank_cs_node_is_refused_and_nothing_moves(market, caplog):
    provision(market)
    world = market.world
    move_address(world, B, f"127.0.0.1:{world.banks[C].node_port}")   # bank-c's node answers at B's address.
    before, positions = everything(market), participants(world)

    transfer_id, response = market.send(A, "alice", B, "bob", 1_000)
    assert response.result == rc.RESULT_CODE_UNAVAILABLE
    assert f"quote from bank-b failed: the server at 127.0.0.1:{world.banks[C].node_port} is not bank bank-b: its " \
           "certificate does not name bank-b.bank.fedmall, so nothing was sent to it" in caplog.text
    assert market.record(A, transfer_id).result == rc.RESULT_CODE_TRANSFER_NOT_FOUND

    search = market.market(A).Search(mp.SearchRequest(query="tea"))
    assert sorted(product.bank_id for product in search.products) == [C]  # Not bank-c's tea as bank-b's too.
    assert list(search.banks_not_answering) == [B]

    assert market.balance(A, "alice") == EUR_100
    assert market.products(C, "potter")["tea"].stock_available == 5
    assert everything(market) == before and participants(world) == positions


def test_peer__an_order_for_bank_b_placed_at_bank_cs_server_fails_with_the_money_back(market, impostors):
    provision(market)
    world = market.world
    impostor = impostors(C, world)
    move_address(world, B, impostor.address)
    seller_counts = {bank_id: row_counts(market.nodes[bank_id].engine) for bank_id in (B, C)}

    response = market.checkout(A, "alice", [(B, "potter", "tea", 1, 1_500)])
    [order] = response.orders
    assert order.state == mp.ORDER_STATE_FAILED and order.problem == rc.RESULT_CODE_UNAVAILABLE, order
    assert market.balance(A, "alice") == EUR_100 and market.escrow(A) == 0
    assert impostor.calls == []   # Its PlaceOrder never came: it holds no order and named no account to pay.
    assert {bank_id: row_counts(market.nodes[bank_id].engine) for bank_id in (B, C)} == seller_counts
    move_address(world, B, f"127.0.0.1:{world.banks[B].node_port}")  # Back: bank-b is told the order failed.


# The operator's and the bank's own tools ----------------------------------------------------

@pytest.mark.parametrize("answering", ["bank-b's node", "a server with bank-b's certificate"])
def test_operator__the_admin_client_refuses_a_server_that_is_not_the_clearing(market, impostors, answering):
    world = market.world
    impostor = impostors(B, world)
    address = f"127.0.0.1:{world.banks[B].node_port}" if answering == "bank-b's node" else impostor.address
    before, positions = everything(market), participants(world)
    admin = world.operator_stub(address=address)
    for call, request in ((admin.SuspendParticipant, clearing_pb2.SuspendParticipantRequest(bank_id=A)),
                          (admin.RecordFundsIn, funds_in(A, EUR_100))):
        with pytest.raises(grpc.RpcError) as refused:
            call(request, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE and tls.is_wrong_server(refused.value)
    assert impostor.calls == []
    assert everything(market) == before and participants(world) == positions


def test_node_cli__a_server_at_the_nodes_listen_address_that_is_not_the_bank_is_refused(market, impostors,
                                                                                    monkeypatch, capsys):
    market.open_account(A, "alice", deposit_minor=EUR_100)
    impostor = impostors(B, market.world)
    monkeypatch.setenv("FEDMALL_NODE_LISTEN_ADDRESS", impostor.address)
    before = everything(market)
    code = node_cli.main(["deposit", "alice", "50.00", "--home", str(market.world.banks[A].bundle)])
    assert code == 1
    assert f"the server at {impostor.address} is not bank bank-a: its certificate does not name " \
           "bank-a.bank.fedmall" in capsys.readouterr().err
    assert impostor.calls == [] and everything(market) == before
    monkeypatch.delenv("FEDMALL_NODE_LISTEN_ADDRESS")
    assert node_cli.main(["deposit", "alice", "50.00", "--home", str(market.world.banks[A].bundle)]) == 0
    assert market.balance(A, "alice") == EUR_100 + 5_000


def test_node_cli__rotate_key_at_a_server_that_is_not_the_clearing_keeps_the_current_key(market, impostors,
                                                                                      monkeypatch, capsys):
    """A member answering OK would have had the bank sign with a key the clearing never saw."""
    bundle = market.world.banks[A].bundle
    impostor = impostors(B, market.world)
    monkeypatch.setenv("FEDMALL_CLEARING_ADDRESS", impostor.address)
    config_before, key_before, before = (bundle / "fedmall.toml").read_text(), (bundle / "signing.key").read_bytes(), \
        everything(market)
    assert node_cli.main(["rotate-key", "--home", str(bundle)]) == 1
    assert f"the server at {impostor.address} is not the clearing: its certificate does not name clearing.fedmall" \
           in capsys.readouterr().err
    assert impostor.calls == [] and everything(market) == before
    assert (bundle / "fedmall.toml").read_text() == config_before and (bundle / "signing.key").read_bytes() == key_before
    monkeypatch.delenv("FEDMALL_CLEARING_ADDRESS")
    assert node_cli.main(["rotate-key", "--home", str(bundle)]) == 0   # The key made then, registered now.
    assert 'signing_key_id = "bank-a/k2"' in (bundle / "fedmall.toml").read_text()


# The honest paths -------------------------------------------------------------------------

def test_honest_paths__every_client_reaches_the_party_it_names(market):
    provision(market)
    world = market.world
    transfer_id, response = market.send(A, "alice", B, "bob", 1_000)
    assert response.result == rc.RESULT_CODE_OK
    assert market.wait_final(A, transfer_id).status == "COMMITTED"
    wait_until(lambda: market.balance(B, "bob") == 1_000)

    search = market.market(A).Search(mp.SearchRequest(query="tea"))
    assert sorted(product.bank_id for product in search.products) == [B, C] and not search.banks_not_answering
    [order] = market.checkout(A, "alice", [(B, "potter", "tea", 1, 1_500)]).orders
    assert order.state == mp.ORDER_STATE_PAID, order
    assert market.seller_order(B, "potter", order.order_id).state == mp.ORDER_STATE_PAID

    admin = world.operator_stub()
    assert admin.SuspendParticipant(clearing_pb2.SuspendParticipantRequest(bank_id=C)).result == rc.RESULT_CODE_OK
    assert admin.ResumeParticipant(clearing_pb2.ResumeParticipantRequest(bank_id=C)).result == rc.RESULT_CODE_OK
    liquidity_minor = world.participant(A).liquidity_minor
    assert admin.RecordFundsIn(funds_in(A, EUR_100)).result == rc.RESULT_CODE_OK
    assert world.participant(A).liquidity_minor == liquidity_minor + EUR_100
    assert node_cli.main(["account", "alice", "--home", str(world.banks[A].bundle)]) == 0


def test_honest_paths__a_bank_that_moved_is_asked_at_its_new_address_after_a_refusal_at_the_old(market):
    """An address answered by the wrong bank is a failed call: the registry is read again, and
    the payee's node at its new address is asked."""
    provision(market)
    world = market.world
    move_address(world, B, f"127.0.0.1:{world.banks[C].node_port}")
    _, refused = market.send(A, "alice", B, "bob", 1_000)
    assert refused.result == rc.RESULT_CODE_UNAVAILABLE
    move_address(world, B, f"127.0.0.1:{world.banks[B].node_port}")
    transfer_id, response = market.send(A, "alice", B, "bob", 1_000)
    assert response.result == rc.RESULT_CODE_OK, response
    assert market.wait_final(A, transfer_id).status == "COMMITTED"


# What certificates name ---------------------------------------------------------------------

def names_in(path) -> list[str]:
    return sorted(credentials.hosts_of(path.read_bytes()))


def test_certificates__name_their_party_and_no_loopback_name_at_init_admission_and_renewal(world, tmp_path):
    assert names_in(world.home / "tls.crt") == ["clearing.fedmall"]          # It listens on 127.0.0.1.
    assert names_in(world.home / "operator" / "tls.crt") == ["operator.fedmall"]
    for bank_id, bank in world.banks.items():
        assert names_in(bank.bundle / "tls.crt") == [f"{bank_id}.bank.fedmall"]

    move_address(world, B, "node-b.bank.example:7102")
    for args in (["bank", B, "--out", str(tmp_path / "renewed")], ["clearing"], ["operator"]):
        assert clearing_cli.main(["--home", str(world.home), "certificates", "renew", *args]) == 0
    assert names_in(tmp_path / "renewed" / "tls.crt") == ["bank-b.bank.fedmall", "node-b.bank.example"]
    assert names_in(world.home / "tls.crt") == ["clearing.fedmall"]
    assert names_in(world.home / "operator" / "tls.crt") == ["operator.fedmall"]


def test_named_hosts__loopback_wildcard_and_party_names_are_never_named_beside_the_party():
    assert credentials.named_hosts(["localhost", "LOCALHOST.", "a.localhost", "127.0.0.1", "127.8.9.1", "::1",
                                    "0.0.0.0", "::", "", "bank-a.bank.fedmall", "Clearing.Fedmall.", "fedmall",
                                    "node-a.bank.example", "10.0.0.7", "2001:db8::7", "lb.clearing.example"]) == [
        "10.0.0.7", "2001:db8::7", "lb.clearing.example", "node-a.bank.example"]
    assert credentials.bank_hosts("bank-b.bank.fedmall:7101") == []   # A node address cannot name another party.


# Certificates issued before certificates named their party ------------------------------------

def test_transition__a_node_whose_certificate_predates_party_names_refuses_to_start_and_says_renew(market):
    world = market.world
    bundle = world.banks[A].bundle
    market.stop_node(A)
    ca = pki.load_ca(world.home / "ca.key", world.home / "ca.pem")
    key = pki.load_private_key((bundle / "tls.key").read_bytes())
    legacy = legacy_certificate(ca, Identity(A, "bank"), hosts=["localhost", "127.0.0.1"], key=key)
    pki.replace_file(bundle / "tls.crt", legacy)
    with pytest.raises(ConfigError) as refused:
        build_node(load_config(bundle))
    message = str(refused.value)
    assert "does not name bank-a.bank.fedmall: it was issued before certificates named their party" in message
    assert "fedmall-clearing certificates renew bank bank-a" in message


def test_transition__a_clearing_whose_certificate_predates_party_names_refuses_to_start_and_says_renew(world):
    ca = pki.load_ca(world.home / "ca.key", world.home / "ca.pem")
    key = pki.load_private_key((world.home / "tls.key").read_bytes())
    pki.replace_file(world.home / "tls.crt", legacy_certificate(ca, pki.CLEARING, hosts=["127.0.0.1"], key=key))
    with pytest.raises(ConfigError) as refused:
        Clearing(dataclasses.replace(ClearingConfig.load(world.home), database_url=world.database_url))
    assert "does not name clearing.fedmall" in str(refused.value)
    assert "certificates renew clearing" in str(refused.value)
    # The running clearing reads its changed files before a new connection, but does not take this one up.
    assert world.stub(A).GetPosition(clearing_pb2.GetPositionRequest()).bank_id == A


def test_transition__a_clearing_still_presenting_an_old_certificate_is_refused_by_its_members(world):
    """As a clearing of the previous version serves it, its certificate naming 'localhost'
    and '127.0.0.1' but no party: a member's client refuses it; the renewed clearing answers."""
    ca = pki.load_ca(world.home / "ca.key", world.home / "ca.pem")
    key = pki.new_tls_key()
    old = TlsCredentials(ca_pem=(world.home / "ca.pem").read_bytes(), key_pem=pki.private_key_pem(key),
                         certificate_pem=legacy_certificate(ca, pki.CLEARING, hosts=["localhost", "127.0.0.1"],
                                                            key=key))
    server = tls.new_server(threads=2)
    tls.add_health_and_reflection(server, [])
    port = server.add_secure_port("127.0.0.1:0", tls.server_credentials(old))
    server.start()
    try:
        channel = world.channel(world.banks[A].tls, address=f"127.0.0.1:{port}")  # As bank-a's node dials it.
        with pytest.raises(grpc.RpcError) as refused:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert tls.is_wrong_server(refused.value)
    finally:
        server.stop(0)
    assert world.stub(A).GetPosition(clearing_pb2.GetPositionRequest()).bank_id == A  # The renewed one answers.


def test_transition__install_certificate_refuses_one_without_the_party_name(market, tmp_path):
    world = market.world
    bundle = world.banks[A].bundle
    ca = pki.load_ca(world.home / "ca.key", world.home / "ca.pem")
    key = pki.load_private_key((bundle / "tls.key").read_bytes())
    renewal = tmp_path / "renewal"
    renewal.mkdir()
    (renewal / "ca.pem").write_bytes((world.home / "ca.pem").read_bytes())
    (renewal / "tls.crt").write_bytes(legacy_certificate(ca, Identity(A, "bank"), hosts=["127.0.0.1"], key=key))
    before = (bundle / "tls.crt").read_bytes()
    with pytest.raises(node_certificates.InstallRefused, match="does not name bank-a.bank.fedmall"):
        node_certificates.install(bundle, renewal, now=dt.datetime.now(dt.timezone.utc))
    assert (bundle / "tls.crt").read_bytes() == before
