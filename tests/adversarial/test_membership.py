"""A hostile member cannot hurt the others (class 5): only members in good standing are served.

At the clearing (a real clearing on loopback over mTLS, SQLite and PostgreSQL), every
ClearingService call passes clearing.servicer.MembershipGate first: a suspended bank may
finish what it started (decide transfers reserved before its suspension, read its stream
and statements, answer them) but starts nothing (no prepare, no signing key); a bank that
left, a certificate from the consortium CA for a bank that is no participant, and any role
other than a bank get PERMISSION_DENIED. At every node (real nodes, node.callers) every peer
call from a bank that is not an ACTIVE participant is refused the same way. Each refusal is
checked for its answer AND for having changed nothing: every table of the clearing (the audit
log too) or of the node called is read before and after.
"""
from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import message_factory

from fedmall import pki, tls
from fedmall.pki import Identity, TlsCredentials
from fedmall.v1 import (
    clearing_pb2, marketplace_pb2, marketplace_pb2_grpc, money_pb2, node_pb2, node_pb2_grpc, transfer_pb2)
from fedmall.v1 import result_pb2 as rc

from clearing import operator, rules
from clearing import store as clearing_store
from clearing.membership import Membership
from node import callers
from node.migrations import all_tables
from node.server import SERVICE_NAMES

from tests.acceptance.conftest import Federation, closed_at_rest
from tests.clearing.test_transfers import accept, submit_decisions, submit_prepares
from tests.clearing.test_windows import answer
from tests.support.federation import CURRENCY, close_and_issue, make_prepare, wait_until

RESERVED = transfer_pb2.TRANSFER_STATE_RESERVED
COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED
DENIED = "PERMISSION_DENIED"
CLEARING_SERVICE = clearing_pb2.DESCRIPTOR.services_by_name["ClearingService"]
PEER_SERVICES = [node_pb2.DESCRIPTOR.services_by_name["PeerService"],
                 marketplace_pb2.DESCRIPTOR.services_by_name["MarketplacePeerService"]]
EUR_100 = 10_000
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # Whole federations: SQLite.


# Reading everything ----------------------------------------------------------------------------

def every_row(engine: sa.Engine, metadata: sa.MetaData, *, leave_out=()) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as connection:
        return {table.name: sorted((tuple(row) for row in connection.execute(sa.select(table))), key=repr)
                for table in metadata.sorted_tables if table.name not in leave_out}


def clearing_rows(world, *, leave_out=()) -> dict[str, list[tuple]]:
    return every_row(world.clearing.store.engine, clearing_store.metadata, leave_out=leave_out)


def node_rows(federation: Federation, bank_id: str) -> dict[str, list[tuple]]:
    """A node's every table but node_state (its stream cursor moves with each delivery)."""
    return every_row(federation.nodes[bank_id].engine, all_tables(), leave_out=("node_state",))


# Calling everything ----------------------------------------------------------------------------

def outsider_credentials(world, party_id: str = "bank-x", role: str = "bank") -> TlsCredentials:
    """A valid certificate from the consortium CA for a party the registry does not list."""
    now = dt.datetime.now(dt.timezone.utc)
    ca = pki.load_ca(world.home / "ca.key", world.home / "ca.pem")
    certificate_pem, key_pem = pki.issue_certificate(ca, Identity(party_id, role), hosts=["localhost"],
                                                     not_before=now - dt.timedelta(minutes=1),
                                                     not_after=now + dt.timedelta(days=1))
    return TlsCredentials(ca_pem=(world.home / "ca.pem").read_bytes(), certificate_pem=certificate_pem,
                          key_pem=key_pem)


def call_every_method(channel: grpc.Channel, service) -> dict[str, str]:
    """Each method of service called once with an empty request: its gRPC status name, or the
    name of the result code its response carries."""
    answers = {}
    for method in service.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        path = f"/{service.full_name}/{method.name}"
        try:
            if method.server_streaming:
                call = channel.unary_stream(path, request_serializer=request_class.SerializeToString,
                                            response_deserializer=response_class.FromString)(request_class(), timeout=5)
                try:
                    response = next(call)
                finally:
                    call.cancel()
            else:
                response = channel.unary_unary(path, request_serializer=request_class.SerializeToString,
                                               response_deserializer=response_class.FromString)(request_class(),
                                                                                                timeout=5)
        except grpc.RpcError as error:
            answers[method.name] = error.code().name
            continue
        result = getattr(response, "result", None)
        answers[method.name] = rc.ResultCode.Name(result) if result is not None else "OK"
    return answers


def left_bank(world, tmp_path, bank_id: str = "bank-d") -> None:
    """A bank admitted, connected, suspended and gone: it never held money, so it may leave at once."""
    world.admit(bank_id, cap_minor=0, liquidity_minor=0, folder=tmp_path / "gone")
    world.clearing.registry.set_status(bank_id, rules.SUSPENDED)
    Membership(world.clearing.store, clock_ms=world.clock).leave(
        bank_id, action=operator.checked("olga", "wound up"))
    assert world.participant(bank_id).status == rules.LEFT


def signing_key_change(world, bank_id: str, *, revoke: bool = False) -> int:
    key = world.banks[bank_id].signing_key
    if revoke:
        change = transfer_pb2.SigningKeyChange(bank_id=bank_id, key_id=f"{bank_id}/k0", revoke=True)
    else:
        new = pki.new_signing_key(f"{bank_id}/k2")
        change = transfer_pb2.SigningKeyChange(bank_id=bank_id, key_id=new.key_id,
                                               public_key=pki.public_key_raw(new.private_key.public_key()))
    return world.stub(bank_id).ChangeSigningKey(clearing_pb2.ChangeSigningKeyRequest(envelope=key.sign(change))).result


# The clearing ----------------------------------------------------------------------------------

def test_clearing__every_rpc_has_a_membership_rule():
    """A method added to ClearingService without a rule would be refused to every bank: decide first."""
    assert set(rules.MEMBER_CALLS) == {method.name for method in CLEARING_SERVICE.methods}


def test_clearing__a_suspended_bank_starts_nothing_and_nothing_changes(world):
    world.clearing.registry.set_status("bank-a", rules.SUSPENDED)
    before = clearing_rows(world)
    prepared = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 500, now_ms=world.clock()))
    assert (prepared.result, list(prepared.results)) == (rc.RESULT_CODE_PARTICIPANT_SUSPENDED, [])
    assert signing_key_change(world, "bank-a") == rc.RESULT_CODE_PARTICIPANT_SUSPENDED
    assert signing_key_change(world, "bank-a", revoke=True) == rc.RESULT_CODE_PARTICIPANT_SUSPENDED
    assert clearing_rows(world) == before      # Not a row, not even an audit entry.

    world.clearing.registry.set_status("bank-a", rules.ACTIVE)   # Resumed: the same calls are served.
    prepared = submit_prepares(world, "bank-a", make_prepare("bank-a", "bank-b", 500, now_ms=world.clock()))
    assert [r.result for r in prepared.results] == [rc.RESULT_CODE_OK]
    assert signing_key_change(world, "bank-a") == rc.RESULT_CODE_OK


def test_clearing__a_suspended_bank_finishes_what_it_started(world):
    """Transfers reserved before the suspension commit or abort normally, either way round, and the
    suspended bank reads its stream and position and answers its statement, so its window settles."""
    to_b = make_prepare("bank-a", "bank-b", 1_000, now_ms=world.clock())
    refused_by_b = make_prepare("bank-a", "bank-b", 2_000, now_ms=world.clock())
    from_b = make_prepare("bank-b", "bank-a", 300, now_ms=world.clock())
    assert [r.result for r in submit_prepares(world, "bank-a", to_b, refused_by_b).results] == [rc.RESULT_CODE_OK] * 2
    assert [r.result for r in submit_prepares(world, "bank-b", from_b).results] == [rc.RESULT_CODE_OK]
    world.clearing.registry.set_status("bank-b", rules.SUSPENDED)

    decided = submit_decisions(world, "bank-b", accepts=[accept(to_b.transfer_id)], rejects=[
        transfer_pb2.Reject(transfer_id=refused_by_b.transfer_id, reason_code=rc.RESULT_CODE_ACCOUNT_CLOSED)])
    assert [(r.result, r.state) for r in decided.results] == [(rc.RESULT_CODE_OK, COMMITTED),
                                                              (rc.RESULT_CODE_OK, ABORTED)]
    paid = submit_decisions(world, "bank-a", accepts=[accept(from_b.transfer_id)])   # A suspended payer's.
    assert [(r.result, r.state) for r in paid.results] == [(rc.RESULT_CODE_OK, COMMITTED)]

    stub = world.stub("bank-b")
    assert stub.GetTransfer(clearing_pb2.GetTransferRequest(transfer_id=to_b.transfer_id)).state == COMMITTED
    position = stub.GetPosition(clearing_pb2.GetPositionRequest())
    assert (position.position.amount_minor, position.reserved.amount_minor) == (300 - 1_000, 0)
    listed = {p.bank_id: p.status for p in stub.ListParticipants(clearing_pb2.ListParticipantsRequest()).participants}
    assert listed["bank-b"] == clearing_pb2.PARTICIPANT_STATUS_SUSPENDED
    stub.ListRevokedCertificates(clearing_pb2.ListRevokedCertificatesRequest())
    call = stub.StreamDeliveries(clearing_pb2.StreamDeliveriesRequest(after_sequence=0), timeout=10)
    assert next(call).deliveries
    call.cancel()

    window_id = close_and_issue(world.clearing.windows)
    for bank_id in world.banks:   # The suspended bank answers its statement like the others.
        assert answer(world, bank_id, window_id) == rc.RESULT_CODE_OK
    world.clearing.windows.settle(window_id)
    assert world.participant("bank-b").liquidity_minor == 200_000 + 700


@pytest.mark.parametrize("who", ["left", "outsider", "operator"])
def test_clearing__a_bank_that_left_an_outsider_or_another_role_gets_nothing(world, tmp_path, who):
    if who == "left":
        left_bank(world, tmp_path)
        credentials = world.banks["bank-d"].tls
    else:
        credentials = outsider_credentials(world, *(("operator", "operator") if who == "operator" else ()))
    before = clearing_rows(world)
    answers = call_every_method(world.channel(credentials), CLEARING_SERVICE)
    assert answers == {method.name: DENIED for method in CLEARING_SERVICE.methods}
    assert clearing_rows(world) == before


def test_clearing__an_onboarding_banks_first_call_makes_it_active_and_it_is_served(world, tmp_path):
    world.admit("bank-d", cap_minor=0, liquidity_minor=0, folder=tmp_path / "new", connect=False)
    assert world.participant("bank-d").status == rules.ONBOARDING
    world.stub("bank-d").ListParticipants(clearing_pb2.ListParticipantsRequest())
    assert world.participant("bank-d").status == rules.ACTIVE


# The nodes -------------------------------------------------------------------------------------

@pytest.fixture
def federation(world, request):
    federation = Federation(world)
    for bank_id in world.banks:
        federation.start_node(bank_id)
    yield federation
    closed_at_rest(request, federation)


def peer_channel(federation: Federation, callee: str, credentials: TlsCredentials) -> grpc.Channel:
    channel = tls.secure_channel(f"127.0.0.1:{federation.world.banks[callee].node_port}", credentials,
                                 server=pki.Identity(callee, "bank"))
    federation.world._channels.append(channel)
    return channel


def peer_answers(federation: Federation, callee: str, credentials: TlsCredentials) -> dict[str, str]:
    channel = peer_channel(federation, callee, credentials)
    return {name: code for service in PEER_SERVICES for name, code in call_every_method(channel, service).items()}


def refused_at_peers(code_name: str) -> dict[str, str]:
    """A refused caller's answers: the result code where the response carries one, else denied."""
    return {"QuoteTransfers": DENIED, "GetLimits": DENIED, "SearchCatalogue": DENIED, "PlaceOrder": code_name,
            "NotifyOrderEvent": code_name, "SubmitReview": code_name}


def test_nodes__every_peer_service_is_guarded():
    """A peer service is every service named ...PeerService: each is behind node.callers."""
    peer_services = [name for name in SERVICE_NAMES if name.endswith("PeerService")]
    assert sorted(callers.PEER_SERVICES) == sorted(peer_services)
    assert {m.name for s in PEER_SERVICES for m in s.methods} == set(refused_at_peers("x"))


@sqlite_only
def test_nodes__a_bank_not_active_or_not_a_participant_is_refused_every_peer_call(federation, tmp_path):
    world = federation.world
    world.admit("bank-d", cap_minor=0, liquidity_minor=0, folder=tmp_path / "onboarding", connect=False)
    left_bank(world, tmp_path, "bank-e")
    world.clearing.registry.set_status("bank-a", rules.SUSPENDED)
    before = node_rows(federation, "bank-b")
    wait_until(lambda: peer_answers(federation, "bank-b", world.banks["bank-a"].tls)["PlaceOrder"]
               == "RESULT_CODE_PARTICIPANT_SUSPENDED", timeout_s=10)   # bank-b reads the registry again.
    assert peer_answers(federation, "bank-b", world.banks["bank-a"].tls) == refused_at_peers(
        "RESULT_CODE_PARTICIPANT_SUSPENDED")
    assert peer_answers(federation, "bank-b", world.banks["bank-d"].tls) == refused_at_peers(
        "RESULT_CODE_PARTICIPANT_ONBOARDING")
    assert peer_answers(federation, "bank-b", world.banks["bank-e"].tls) == refused_at_peers(
        "RESULT_CODE_PARTICIPANT_LEFT")
    for credentials in (outsider_credentials(world), outsider_credentials(world, "operator", "operator")):
        assert peer_answers(federation, "bank-b", credentials) == {name: DENIED for name in refused_at_peers("x")}
    # Not even a remembered cancellation for an order bank-b never saw (as a member's would be).
    event = marketplace_pb2.NotifyOrderEventRequest(event_id=str(uuid.uuid4()), order_id=str(uuid.uuid4()),
                                                    kind=marketplace_pb2.ORDER_EVENT_KIND_CANCELLED)
    stub = marketplace_pb2_grpc.MarketplacePeerServiceStub(peer_channel(federation, "bank-b",
                                                                        outsider_credentials(world)))
    with pytest.raises(grpc.RpcError) as denied:
        stub.NotifyOrderEvent(event, timeout=5)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert node_rows(federation, "bank-b") == before

    # A member in good standing is served, and bank-a once resumed.
    quote = node_pb2.QuoteTransfersRequest(items=[node_pb2.QuoteItem(
        transfer_id=str(uuid.uuid4()), payee_account="nobody",
        amount=money_pb2.Money(amount_minor=1, currency=CURRENCY))])
    quoted = node_pb2_grpc.PeerServiceStub(peer_channel(federation, "bank-b", world.banks["bank-c"].tls))
    assert [r.result for r in quoted.QuoteTransfers(quote, timeout=5).results] == [rc.RESULT_CODE_ACCOUNT_UNKNOWN]
    world.clearing.registry.set_status("bank-a", rules.ACTIVE)
    wait_until(lambda: quote_answer(federation, "bank-a", "bank-b", quote) == "OK", timeout_s=10)


def quote_answer(federation: Federation, payer: str, payee: str, request=node_pb2.QuoteTransfersRequest()) -> str:
    """OK, or the gRPC status a quote of the payee's node ends in."""
    stub = node_pb2_grpc.PeerServiceStub(peer_channel(federation, payee, federation.world.banks[payer].tls))
    try:
        stub.QuoteTransfers(request, timeout=5)
    except grpc.RpcError as error:
        return error.code().name
    return "OK"


@sqlite_only
def test_nodes__a_suspended_payee_finishes_transfers_reserved_before_and_takes_no_new_ones(federation):
    """bank-b's node quotes, bank-a reserves, then bank-b is suspended before its node hears of it:
    its node, started again, still decides and the transfer commits; a new one is refused
    at bank-a's node, and bank-b's own customers can start none (no quote, nothing moves)."""
    world = federation.world
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob", deposit_minor=EUR_100)
    federation.stop_node("bank-b")
    federation.start_node("bank-b", workers=False)     # Serves quotes; decides nothing yet.
    transfer_id, sent = federation.send("bank-a", "alice", "bank-b", "bob", 2_500)
    assert sent.result == rc.RESULT_CODE_OK
    wait_until(lambda: world.participant("bank-a").reserved_minor == 2_500)
    world.clearing.registry.set_status("bank-b", rules.SUSPENDED)

    federation.stop_node("bank-b")
    federation.start_node("bank-b")                     # Its stream, its decision, its commit.
    assert federation.wait_final("bank-a", transfer_id, timeout_s=30).status == "COMMITTED"
    wait_until(lambda: federation.balance("bank-b", "bob") == EUR_100 + 2_500, timeout_s=30)
    assert federation.position("bank-a") == (2_500, 0) and federation.position("bank-b") == (-2_500, 0)

    # A new one: refused at bank-a's node once it reads the registry again, by the clearing before.
    late, response = federation.send("bank-a", "alice", "bank-b", "bob", 100)
    if response.result == rc.RESULT_CODE_OK:
        record = federation.wait_final("bank-a", late)
        assert (record.status, record.abort_reason) == ("ABORTED", rc.RESULT_CODE_PARTICIPANT_SUSPENDED)
    else:
        assert response.result == rc.RESULT_CODE_PARTICIPANT_SUSPENDED
    assert federation.balance("bank-a", "alice") == EUR_100 - 2_500

    wait_until(lambda: quote_answer(federation, "bank-b", "bank-a") == DENIED, timeout_s=10)
    before = node_rows(federation, "bank-b")
    _, own = federation.send("bank-b", "bob", "bank-a", "alice", 100)
    assert own.result == rc.RESULT_CODE_FORBIDDEN                 # bank-a's node quotes it nothing.
    assert node_rows(federation, "bank-b") == before
    assert federation.balance("bank-b", "bob") == EUR_100 + 2_500
    world.clearing.registry.set_status("bank-b", rules.ACTIVE)   # Resumed: at rest, every invariant holds.


@sqlite_only
def test_nodes__a_suspended_payers_waiting_prepares_are_refused_and_reversed(federation):
    """bank-a's node wrote a send to its outbox, then bank-a was suspended before submitting it:
    the clearing refuses the batch (PARTICIPANT_SUSPENDED) and the node gives alice her money back."""
    world = federation.world
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    federation.stop_node("bank-a")
    federation.start_node("bank-a", workers=False)     # Takes the send, submits nothing yet.
    transfer_id, sent = federation.send("bank-a", "alice", "bank-b", "bob", 2_500)
    assert sent.result == rc.RESULT_CODE_OK and federation.balance("bank-a", "alice") == EUR_100 - 2_500
    world.clearing.registry.set_status("bank-a", rules.SUSPENDED)
    before = clearing_rows(world, leave_out=("participants",))   # bank-a's stream acknowledgement moves.

    federation.stop_node("bank-a")
    federation.start_node("bank-a")
    record = federation.wait_final("bank-a", transfer_id, timeout_s=30)
    assert (record.status, record.abort_reason) == ("ABORTED", rc.RESULT_CODE_PARTICIPANT_SUSPENDED)
    assert federation.balance("bank-a", "alice") == EUR_100
    assert clearing_rows(world, leave_out=("participants",)) == before
    assert federation.position("bank-a") == (0, 0)
    world.clearing.registry.set_status("bank-a", rules.ACTIVE)
