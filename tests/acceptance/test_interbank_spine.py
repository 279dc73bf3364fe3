"""The clearing spine end to end, in the style of Mojaloop's golden path: provision,
act, and assert balances, positions and states at every step, then every way it can
go wrong. Real clearing, real nodes, mTLS on loopback, real SQLite files."""
from __future__ import annotations


import json

from fedmall.v1 import clearing_pb2, transfer_pb2
from fedmall.v1 import result_pb2 as rc

from fedmall import served_limits, tls
from fedmall.pki import Identity
from fedmall.v1 import node_pb2, node_pb2_grpc
from node.bank import store
from node.cli import main as node_main

from tests.support.federation import make_prepare, wait_until

EUR_100 = 10_000


def test_golden_path__bank_a_customer_pays_bank_b_customer(federation):
    # Provision: Alice at bank A with 100.00, Bob at bank B with nothing.
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    assert federation.balance("bank-a", "alice") == EUR_100
    assert federation.internal("bank-a", "cash") == -EUR_100  # The teller's cash came in.

    # Act: Alice sends 25.00 to Bob.
    transfer_id, response = federation.send("bank-a", "alice", "bank-b", "bob", 2_500)
    assert (response.result, response.status) == (rc.RESULT_CODE_OK, "PENDING")
    # The money left Alice at once, into "owed to clearing", in the outbox transaction.
    assert federation.balance("bank-a", "alice") == 7_500

    record = federation.wait_final("bank-a", transfer_id)
    assert (record.status, record.direction) == ("COMMITTED", "outgoing")
    wait_until(lambda: federation.record("bank-b", transfer_id).status == "COMMITTED")

    # Assert: customers, the banks' clearing accounts and the clearing's positions agree.
    assert federation.balance("bank-a", "alice") == 7_500
    assert federation.balance("bank-b", "bob") == 2_500
    assert federation.internal("bank-a", "owed-to-clearing") == 0
    assert federation.internal("bank-a", "clearing") == 2_500
    assert federation.internal("bank-b", "clearing") == -2_500
    assert federation.position("bank-a") == (2_500, 0)
    assert federation.position("bank-b") == (-2_500, 0)
    federation.assert_invariants()


def test_retry__same_transfer_id_same_content_is_exists_and_moves_nothing_twice(federation):
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    transfer_id, _ = federation.send("bank-a", "alice", "bank-b", "bob", 1_000)
    federation.wait_final("bank-a", transfer_id)
    _, again = federation.send("bank-a", "alice", "bank-b", "bob", 1_000, transfer_id=transfer_id)
    assert (again.result, again.status) == (rc.RESULT_CODE_EXISTS, "COMMITTED")
    _, modified = federation.send("bank-a", "alice", "bank-b", "bob", 1_001, transfer_id=transfer_id)
    assert modified.result == rc.RESULT_CODE_MODIFIED_REQUEST
    federation.assert_invariants()   # Waits until bank-b applied the commit too: then neither moved twice.
    assert federation.balance("bank-a", "alice") == 9_000
    assert federation.balance("bank-b", "bob") == 1_000


def test_send__unknown_payee_account_is_refused_at_quote_and_moves_nothing(federation):
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    transfer_id, response = federation.send("bank-a", "alice", "bank-b", "nobody", 1_000)
    assert response.result == rc.RESULT_CODE_ACCOUNT_UNKNOWN
    assert federation.balance("bank-a", "alice") == EUR_100
    assert federation.position("bank-a") == (0, 0)
    federation.assert_invariants()


def test_send__insufficient_funds_is_refused_at_the_node(federation):
    federation.open_account("bank-a", "alice", deposit_minor=1_000)
    federation.open_account("bank-b", "bob")
    _, response = federation.send("bank-a", "alice", "bank-b", "bob", 1_001)
    assert response.result == rc.RESULT_CODE_INSUFFICIENT_FUNDS
    assert federation.balance("bank-a", "alice") == 1_000
    assert federation.position("bank-a") == (0, 0)


def test_cap__over_the_net_debit_cap_aborts_and_the_payer_gets_the_money_back(federation):
    # bank-a may owe at most 1000.00 (its cap; its liquidity is 2000.00).
    federation.open_account("bank-a", "alice", deposit_minor=200_000)
    federation.open_account("bank-b", "bob")
    transfer_id, response = federation.send("bank-a", "alice", "bank-b", "bob", 100_001)
    assert response.result == rc.RESULT_CODE_OK  # Accepted by the node; the clearing decides.
    record = federation.wait_final("bank-a", transfer_id)
    assert (record.status, record.abort_reason) == ("ABORTED", rc.RESULT_CODE_NET_DEBIT_CAP_EXCEEDED)
    assert federation.balance("bank-a", "alice") == 200_000
    assert federation.position("bank-a") == (0, 0)


def test_liquidity__a_cap_set_above_the_liquidity_is_bounded_by_the_liquidity(federation):
    # bank-c: cap 800.00, prefunded liquidity only 500.00.
    federation.open_account("bank-c", "carol", deposit_minor=100_000)
    federation.open_account("bank-a", "alice")
    transfer_id, response = federation.send("bank-c", "carol", "bank-a", "alice", 50_001)
    assert response.result == rc.RESULT_CODE_OK
    record = federation.wait_final("bank-c", transfer_id)
    assert (record.status, record.abort_reason) == ("ABORTED", rc.RESULT_CODE_INSUFFICIENT_LIQUIDITY)
    assert federation.balance("bank-c", "carol") == 100_000
    assert federation.position("bank-c") == (0, 0)

    # Within the cap it goes through; then the next one over the remaining headroom does not.
    first, _ = federation.send("bank-c", "carol", "bank-a", "alice", 40_000)
    assert federation.wait_final("bank-c", first).status == "COMMITTED"
    second, _ = federation.send("bank-c", "carol", "bank-a", "alice", 10_001)
    assert federation.wait_final("bank-c", second).status == "ABORTED"
    assert federation.balance("bank-c", "carol") == 60_000
    assert federation.position("bank-c") == (40_000, 0)
    federation.assert_invariants()


def test_payee_rejects__prepare_whose_condition_the_payee_never_quoted(federation):
    """The payee bank checks every prepare against its own fulfilment; a prepare it did not
    quote is rejected with a signed reject and the clearing aborts it. The payee keeps no
    record of it (tests/adversarial/test_unsolicited.py: a flood of them leaves no row)."""
    federation.open_account("bank-b", "bob")
    prepare = make_prepare("bank-a", "bank-b", 700, now_ms=federation.world.clock(), account="bob")
    envelope = federation.world.banks["bank-a"].signing_key.sign(transfer_pb2.PrepareBatch(prepares=[prepare]))
    response = federation.world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert response.results[0].result == rc.RESULT_CODE_OK

    def aborted():
        status = federation.world.stub("bank-a").GetTransfer(
            clearing_pb2.GetTransferRequest(transfer_id=prepare.transfer_id))
        return status.state == transfer_pb2.TRANSFER_STATE_ABORTED and status

    status = wait_until(aborted)
    assert status.abort_reason == rc.RESULT_CODE_PAYEE_REJECTED
    assert federation.position("bank-a") == (0, 0)
    assert federation.balance("bank-b", "bob") == 0
    wait_until(lambda: federation.applied_cursor("bank-b") == federation.world.participant("bank-b").delivery_sequence)
    assert federation.record("bank-b", prepare.transfer_id).result == rc.RESULT_CODE_TRANSFER_NOT_FOUND
    assert federation.balance("bank-b", "bob") == 0


def test_payee_rejects__its_reason_reaches_the_payers_record_and_command_output(federation, capsys):
    """The payee's signed Reject carries a code and words; the clearing passes both on in the
    ABORTED notice, and the payer's node keeps them with the transfer and shows them."""
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    federation.stop_node("bank-b")
    node_b = federation.start_node("bank-b", workers=False)  # Quotes, but reads no deliveries yet.
    transfer_id, response = federation.send("bank-a", "alice", "bank-b", "bob", 3_000)
    assert response.result == rc.RESULT_CODE_OK
    wait_until(lambda: federation.position("bank-a") == (0, 3_000))  # Reserved at the clearing.
    with node_b.engine.begin() as connection:  # Bob's account closes between the quote and the prepare.
        connection.execute(store.accounts.update().where(store.accounts.c.account_id == "bob").values(closed=True))
    federation.stop_node("bank-b")
    federation.start_node("bank-b")

    record = federation.wait_final("bank-a", transfer_id)
    assert (record.status, record.abort_reason, record.payee_reason_code, record.payee_reason) == (
        "ABORTED", rc.RESULT_CODE_PAYEE_REJECTED, rc.RESULT_CODE_ACCOUNT_CLOSED, "the payee's account is closed")
    assert federation.balance("bank-a", "alice") == EUR_100
    assert federation.position("bank-a") == (0, 0)

    home = str(federation.world.banks["bank-a"].bundle)
    assert node_main(["transfer", transfer_id, "--home", home, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["abort_reason"], shown["payee_reason_code"], shown["payee_reason"]) == (
        "PAYEE_REJECTED", "ACCOUNT_CLOSED", "the payee's account is closed")
    assert node_main(["transfer", transfer_id, "--home", home]) == 0
    assert "payee's reason  ACCOUNT_CLOSED: the payee's account is closed" in capsys.readouterr().out

    # A malformed send is refused with the field at fault, over gRPC and on the command line.
    _, refused = federation.send("bank-a", "alice", "bank-b", "bob and carol", 100)
    assert (refused.result, refused.field) == (rc.RESULT_CODE_INVALID_FIELD, "payee_account_id")
    assert node_main(["send", "--from", "alice", "--to-bank", "bank-b", "--to-account", "bob and carol", "1.00",
                      "--home", home]) == 1
    assert "INVALID_FIELD: the field at fault is payee_account_id" in capsys.readouterr().err
    federation.assert_invariants()


def test_expiry__payee_that_never_answers_times_out_and_the_payer_is_refunded(federation):
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    federation.stop_node("bank-b")
    federation.start_node("bank-b", workers=False)  # Answers quotes, never reads its deliveries.

    transfer_id, _ = federation.send("bank-a", "alice", "bank-b", "bob", 3_000)
    wait_until(lambda: federation.position("bank-a") == (0, 3_000))  # Reserved at the clearing.
    federation.world.clock.advance(ms=60_000)  # Past the node's 30 s expiry.

    record = federation.wait_final("bank-a", transfer_id)
    assert (record.status, record.abort_reason) == ("ABORTED", rc.RESULT_CODE_EXPIRED)
    assert federation.balance("bank-a", "alice") == EUR_100
    assert federation.position("bank-a") == (0, 0)

    # When bank B comes back it learns of the expired transfer and books nothing.
    federation.stop_node("bank-b")
    federation.start_node("bank-b")
    wait_until(lambda: federation.record("bank-b", transfer_id).status == "ABORTED")
    assert federation.balance("bank-b", "bob") == 0
    federation.assert_invariants()


def test_restart__payee_node_restarted_mid_stream_resumes_without_lost_or_doubled_postings(federation):
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    sent = [federation.send("bank-a", "alice", "bank-b", "bob", 100 * (i + 1))[0] for i in range(5)]
    federation.wait_final("bank-a", sent[0])
    federation.stop_node("bank-b")  # Possibly between deliveries: the cursor is with each effect.
    federation.start_node("bank-b")
    for transfer_id in sent:
        assert federation.wait_final("bank-a", transfer_id).status == "COMMITTED"
        wait_until(lambda: federation.record("bank-b", transfer_id).status == "COMMITTED")
    assert federation.balance("bank-b", "bob") == 100 + 200 + 300 + 400 + 500
    assert federation.balance("bank-a", "alice") == EUR_100 - 1_500
    federation.assert_invariants()


def test_restart__deliveries_queued_while_the_payee_was_down_are_applied_once(federation):
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    federation.stop_node("bank-b")
    federation.start_node("bank-b", workers=False)
    sent = [federation.send("bank-a", "alice", "bank-b", "bob", 1_000)[0] for _ in range(3)]
    wait_until(lambda: federation.position("bank-a") == (0, 3_000))
    federation.stop_node("bank-b")
    federation.start_node("bank-b")
    for transfer_id in sent:
        assert federation.wait_final("bank-a", transfer_id).status == "COMMITTED"
    wait_until(lambda: federation.balance("bank-b", "bob") == 3_000)
    federation.assert_invariants()   # Waits until bank-b applied its whole stream...
    assert federation.balance("bank-b", "bob") == 3_000   # ...and nothing was applied twice.


def test_restart__clearing_restarted_with_reserved_prepares_still_commits_them(federation):
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    federation.stop_node("bank-b")
    federation.start_node("bank-b", workers=False)
    transfer_id, _ = federation.send("bank-a", "alice", "bank-b", "bob", 4_200)
    wait_until(lambda: federation.position("bank-a") == (0, 4_200))

    federation.world.restart()  # Same database, same port.
    assert federation.position("bank-a") == (0, 4_200)
    federation.stop_node("bank-b")
    federation.start_node("bank-b")  # Reads the prepare, accepts; the clearing commits.

    assert federation.wait_final("bank-a", transfer_id, timeout_s=30).status == "COMMITTED"
    wait_until(lambda: federation.balance("bank-b", "bob") == 4_200, timeout_s=30)
    assert federation.position("bank-a") == (4_200, 0)
    federation.assert_invariants()


def test_suspended_payee__refused_by_the_node_or_aborted_by_the_clearing(federation):
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    warm_up, _ = federation.send("bank-a", "alice", "bank-b", "bob", 1_000)  # bank A now caches B as active.
    assert federation.wait_final("bank-a", warm_up).status == "COMMITTED"

    federation.world.clearing.registry.set_status("bank-b", "suspended")
    transfer_id, response = federation.send("bank-a", "alice", "bank-b", "bob", 1_000)
    assert response.result == rc.RESULT_CODE_OK  # The node's directory is stale; the clearing is not.
    record = federation.wait_final("bank-a", transfer_id)
    assert (record.status, record.abort_reason) == ("ABORTED", rc.RESULT_CODE_PARTICIPANT_SUSPENDED)
    assert federation.balance("bank-a", "alice") == EUR_100 - 1_000
    assert federation.position("bank-a") == (1_000, 0)
    federation.assert_invariants()


def test_key_rotation__the_bank_switches_keys_without_downtime(federation, capsys):
    from node.cli import main as node_cli

    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    home = str(federation.world.banks["bank-a"].bundle)

    assert node_cli(["rotate-key", "--home", home, "--json"]) == 0
    assert '"signing_key_id": "bank-a/k2"' in capsys.readouterr().out
    # The running node still signs with k1, which stays valid: no downtime.
    first, _ = federation.send("bank-a", "alice", "bank-b", "bob", 100)
    assert federation.wait_final("bank-a", first).status == "COMMITTED"

    federation.stop_node("bank-a")
    federation.start_node("bank-a")  # Now signing with k2.
    assert node_cli(["revoke-key", "bank-a/k1", "--home", home]) == 0
    second, _ = federation.send("bank-a", "alice", "bank-b", "bob", 100)
    assert federation.wait_final("bank-a", second).status == "COMMITTED"

    old_key = federation.world.banks["bank-a"].signing_key  # k1, revoked.
    envelope = old_key.sign(transfer_pb2.PrepareBatch(prepares=[
        make_prepare("bank-a", "bank-b", 5, now_ms=federation.world.clock(), account="bob")]))
    response = federation.world.stub("bank-a").SubmitPrepares(clearing_pb2.SubmitPreparesRequest(envelope=envelope))
    assert response.result == rc.RESULT_CODE_UNKNOWN_KEY
    federation.assert_invariants()


def test_peer_get_limits__a_member_reads_the_bounds_another_node_enforces(federation):
    world = federation.world
    channel = tls.secure_channel(f"127.0.0.1:{world.banks['bank-b'].node_port}", world.banks["bank-a"].tls,
                                 server=Identity("bank-b", "bank"))
    try:
        served = node_pb2_grpc.PeerServiceStub(channel).GetLimits(node_pb2.PeerServiceGetLimitsRequest()).limits
    finally:
        channel.close()
    assert served == served_limits.limits_message()
