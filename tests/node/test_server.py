"""A whole node over real gRPC with mTLS, against a fake clearing and a real peer node."""
import uuid
import sys

import grpc
import pytest

from fedmall.pki import Identity
from fedmall.tls import secure_channel
from fedmall import delivery_kinds
from fedmall.v1 import clearing_pb2, money_pb2, node_pb2, node_pb2_grpc, result_pb2, transfer_pb2

from node.cli import main as cli_main
from node.config import load_config
from node.server import build_node
from tests.support.federation import wait_until
from tests.support.signals import linux_x86_64_only, stops_on_sigterm_to_another_thread
from tests.support.ids import uuid_of

R = result_pb2


@pytest.fixture
def federation(consortium, fake_clearing):
    """bank-a and bank-b nodes started on port 0, registered with the fake clearing."""
    nodes = {}
    for bank_id in ("bank-a", "bank-b"):
        home = consortium.bundle(bank_id, clearing_address=fake_clearing.address)
        nodes[bank_id] = build_node(load_config(home, environ={}))
        port = nodes[bank_id].start()
        fake_clearing.fake.participants.append(clearing_pb2.Participant(
            bank_id=bank_id, currency="EUR", status=clearing_pb2.PARTICIPANT_STATUS_ACTIVE,
            node_address=f"127.0.0.1:{port}"))
    yield nodes
    for node in nodes.values():
        node.stop(grace_s=0)


def node_stub(consortium, node, as_party="bank-a", role="bank"):
    channel = secure_channel(f"127.0.0.1:{node.port}", consortium.credentials(as_party, role),
                             server=Identity(node.config.bank_id, "bank"))
    return node_pb2_grpc.NodeServiceStub(channel)


def eur(amount_minor):
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def test_node_service__other_banks_certificate_is_forbidden(consortium, federation):
    stub = node_stub(consortium, federation["bank-a"], as_party="bank-b")
    assert stub.OpenAccount(node_pb2.OpenAccountRequest(
        account_id="x", holder_name="X", currency="EUR")).result == R.RESULT_CODE_FORBIDDEN
    assert stub.GetAccount(node_pb2.GetAccountRequest(account_id="x")).result == R.RESULT_CODE_FORBIDDEN
    assert stub.SendTransfer(node_pb2.SendTransferRequest(transfer_id="t")).result == R.RESULT_CODE_FORBIDDEN


def test_peer_service__quotes_only_for_banks(consortium, federation):
    channel = secure_channel(f"127.0.0.1:{federation['bank-b'].port}", consortium.credentials("operator", "operator"),
                             server=Identity("bank-b", "bank"))
    with pytest.raises(grpc.RpcError) as denied:
        node_pb2_grpc.PeerServiceStub(channel).QuoteTransfers(node_pb2.QuoteTransfersRequest())
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_send__goes_through_quote_outbox_and_commit(consortium, federation, fake_clearing):
    a = node_stub(consortium, federation["bank-a"], as_party="bank-a")
    b = node_stub(consortium, federation["bank-b"], as_party="bank-b")
    assert a.OpenAccount(node_pb2.OpenAccountRequest(account_id="alice", holder_name="Alice", currency="EUR")).result == R.RESULT_CODE_OK
    assert b.OpenAccount(node_pb2.OpenAccountRequest(account_id="bob", holder_name="Bob", currency="EUR")).result == R.RESULT_CODE_OK
    deposit = a.Deposit(node_pb2.DepositRequest(deposit_id=uuid_of("d1"), account_id="alice", amount=eur(10_000)))
    assert (deposit.result, deposit.balance.amount_minor) == (R.RESULT_CODE_OK, 10_000)

    sent = a.SendTransfer(node_pb2.SendTransferRequest(
        transfer_id=uuid_of("t1"), from_account_id="alice", payee_bank_id="bank-b", payee_account_id="bob",
        amount=eur(2_500), reference="order 7"))
    assert (sent.result, sent.status) == (R.RESULT_CODE_OK, "PENDING")
    assert a.GetAccount(node_pb2.GetAccountRequest(account_id="alice")).balance.amount_minor == 7_500

    # The outbox submitter signs and submits at once.
    wait_until(lambda: fake_clearing.fake.prepare_batches)
    envelope = fake_clearing.fake.prepare_batches[0]
    assert envelope.key_id == "bank-a/k1"
    [prepare] = transfer_pb2.PrepareBatch.FromString(envelope.payload).prepares
    assert (prepare.payer_bank_id, prepare.payee_account, prepare.reference) == ("bank-a", "bob", "order 7")

    # The clearing delivers the prepare to bank-b, which accepts with the fulfilment.
    def deliver(sequence, recipient, state, fulfilment=b""):
        batch = transfer_pb2.NoticeBatch(recipient_bank_id=recipient, notices=[transfer_pb2.TransferNotice(
            prepare=prepare, state=state, fulfilment=fulfilment)])
        fake_clearing.fake.queue_for(recipient).put(delivery_kinds.delivery(
            sequence, consortium.clearing_key.sign(batch)))

    deliver(1, "bank-b", transfer_pb2.TRANSFER_STATE_RESERVED)
    wait_until(lambda: fake_clearing.fake.decision_batches)
    [accept] = transfer_pb2.DecisionBatch.FromString(fake_clearing.fake.decision_batches[0].payload).accepts

    deliver(2, "bank-b", transfer_pb2.TRANSFER_STATE_COMMITTED, accept.fulfilment)
    deliver(1, "bank-a", transfer_pb2.TRANSFER_STATE_COMMITTED, accept.fulfilment)
    wait_until(lambda: b.GetAccount(node_pb2.GetAccountRequest(account_id="bob")).balance.amount_minor == 2_500)
    wait_until(lambda: a.GetTransferRecord(node_pb2.GetTransferRecordRequest(transfer_id=uuid_of("t1"))).status == "COMMITTED")
    incoming = b.GetTransferRecord(node_pb2.GetTransferRecordRequest(transfer_id=uuid_of("t1")))
    assert (incoming.direction, incoming.status, incoming.counterparty_bank_id) == ("incoming", "COMMITTED", "bank-a")
    assert federation["bank-a"].accounts.internal_balances() == {"@cash/EUR": -10_000, "@clearing/EUR": 2_500}


def test_send__unknown_payee_bank_is_refused(consortium, federation):
    a = node_stub(consortium, federation["bank-a"])
    a.OpenAccount(node_pb2.OpenAccountRequest(account_id="alice", holder_name="Alice", currency="EUR"))
    a.Deposit(node_pb2.DepositRequest(deposit_id=uuid_of("d1"), account_id="alice", amount=eur(100)))
    sent = a.SendTransfer(node_pb2.SendTransferRequest(
        transfer_id=uuid_of("t1"), from_account_id="alice", payee_bank_id="bank-z", payee_account_id="bob", amount=eur(50)))
    assert sent.result == R.RESULT_CODE_UNKNOWN_PARTICIPANT


def test_cli__open_deposit_account_and_ledger_check(consortium, fake_clearing, capsys):
    home = consortium.bundle("bank-a", clearing_address=fake_clearing.address)
    node = build_node(load_config(home, environ={}))
    port = node.start()
    try:
        toml = (home / "fedmall.toml").read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}")
        (home / "fedmall.toml").write_text(toml)
        assert cli_main(["open-account", "alice", "--name", "Alice", "--currency", "EUR", "--home", str(home)]) == 0
        assert cli_main(["deposit", "alice", "12.34", "--home", str(home), "--json"]) == 0
        assert '"balance_minor": 1234' in capsys.readouterr().out
        assert cli_main(["deposit", "alice", "1.234", "--home", str(home)]) == 2
        assert cli_main(["account", "nobody", "--home", str(home)]) == 1
        assert "ACCOUNT_UNKNOWN" in capsys.readouterr().err
        assert cli_main(["ledger-check", "--home", str(home)]) == 0
    finally:
        node.stop(grace_s=0)


def test_send_transfers__one_result_per_transfer_in_order(consortium, federation, fake_clearing):
    a = node_stub(consortium, federation["bank-a"])
    b = node_stub(consortium, federation["bank-b"], as_party="bank-b")
    a.OpenAccount(node_pb2.OpenAccountRequest(account_id="alice", holder_name="Alice", currency="EUR"))
    b.OpenAccount(node_pb2.OpenAccountRequest(account_id="bob", holder_name="Bob", currency="EUR"))
    a.Deposit(node_pb2.DepositRequest(deposit_id=uuid_of("d1"), account_id="alice", amount=eur(100)))
    transfers = [node_pb2.SendTransferRequest(
        transfer_id=uuid_of(f"t{i}"), from_account_id="alice", payee_bank_id="bank-b", payee_account_id="bob",
        amount=eur(40)) for i in range(3)]
    response = a.SendTransfers(node_pb2.SendTransfersRequest(transfers=transfers))
    assert [r.result for r in response.results] == [R.RESULT_CODE_OK, R.RESULT_CODE_OK, R.RESULT_CODE_INSUFFICIENT_FUNDS]
    other = node_stub(consortium, federation["bank-a"], as_party="bank-b")
    forbidden = other.SendTransfers(node_pb2.SendTransfersRequest(transfers=transfers))
    assert [r.result for r in forbidden.results] == [R.RESULT_CODE_FORBIDDEN] * 3


def test_offline_node__reconciles_when_it_comes_back_and_cli_shows_it(consortium, fake_clearing, capsys):
    from fedmall.v1 import settlement_pb2 as S

    home = consortium.bundle("bank-a", clearing_address=fake_clearing.address)
    node = build_node(load_config(home, environ={}))
    node.accounts.open_account(account_id="alice", holder_name="Alice", currency="EUR")
    node.stop(grace_s=0)  # Offline while the clearing commits, closes window 3 and issues the statement.

    prepares = [transfer_pb2.Prepare(transfer_id=uuid_of(f"t{i}"), payer_bank_id="bank-b", payee_bank_id="bank-a",
                                     payee_account="alice", amount=eur(100 * i), condition=b"c" * 32,
                                     uetr=str(uuid.uuid4()))
                for i in (1, 2, 3)]
    notices = [transfer_pb2.TransferNotice(prepare=p, state=transfer_pb2.TRANSFER_STATE_COMMITTED,
                                           settlement_window_id=3) for p in prepares]
    entries = [S.StatementEntry(transfer_id=p.transfer_id, direction=S.ENTRY_DIRECTION_CREDIT,
                                counterparty_bank_id="bank-b", amount=p.amount) for p in prepares]
    pages = [S.Statement(window_id=3, bank_id="bank-a", page_index=i, page_count=2, entries=chunk, net=eur(600),
                         opening_position=eur(0), closing_position=eur(-600), entry_count=3)
             for i, chunk in enumerate([entries[:2], entries[2:]])]
    messages = [transfer_pb2.NoticeBatch(recipient_bank_id="bank-a", notices=notices), *pages,
                S.SettlementReport(window_id=3, transfer_count=3)]
    for sequence, message in enumerate(messages, start=1):
        fake_clearing.fake.queue_for("bank-a").put(delivery_kinds.delivery(
            sequence, consortium.clearing_key.sign(message)))

    node = build_node(load_config(home, environ={}))
    node.start()
    try:
        wait_until(lambda: fake_clearing.fake.reconciliations)
        [envelope] = fake_clearing.fake.reconciliations
        answer = S.Reconciliation.FromString(envelope.payload)
        assert (envelope.key_id, answer.window_id, list(answer.breaks), answer.node_net) == (
            "bank-a/k1", 3, [], eur(600))
        wait_until(lambda: node.settlement.pending_reconciliations(limit=1) == [])
    finally:
        node.stop(grace_s=0)

    capsys.readouterr()
    assert cli_main(["reconciliations", "--home", str(home)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["window", "pages", "statement", "net", "node", "net", "breaks", "answer", "sent"]
    assert lines[2].split() == ["3", "2/2", "6.00", "EUR", "6.00", "EUR", "0", "acknowledged", "yes"]
    assert cli_main(["reconciliations", "--home", str(home), "--json"]) == 0
    assert '"answer": "acknowledged"' in capsys.readouterr().out
    assert cli_main(["reconciliation", "3", "--home", str(home), "--json"]) == 0
    assert '"breaks": []' in capsys.readouterr().out
    assert cli_main(["reconciliation", "4", "--home", str(home)]) == 1
    assert "WINDOW_NOT_FOUND" in capsys.readouterr().err


@linux_x86_64_only
def test_serve__stops_when_sigterm_is_taken_by_a_thread_other_than_the_main_one(consortium, tmp_path):
    """The node's serve, like the clearing's (fedmall.stop_signals): no clearing needed to start."""
    home = consortium.bundle("bank-a")
    stops_on_sigterm_to_another_thread([sys.executable, "-m", "node.cli", "serve", "--home", str(home)],
                                       tmp_path / "serve.log")
