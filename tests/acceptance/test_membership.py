"""Membership with a real clearing and real nodes: a new bank becomes active when its node
first connects, a bank's node moves and the others reach it at its new address without a
restart, and a bank leaves (its node stopped) and is no longer offered to pay. Each run
ends with every ledger invariant checked (the federation fixture)."""
from __future__ import annotations

import json
import time
import uuid

import grpc
import pytest
import sqlalchemy as sa

from fedmall.v1 import clearing_pb2
from fedmall.v1 import result_pb2 as rc

from clearing import rules
from clearing.cli import main
from clearing.store import audit_log
from node.peers import PeerDirectory

from scripts.postgres_cluster import free_port
from tests.support.federation import close_and_issue, wait_until

EUR_100 = 10_000
OPERATOR = ("--operator", "olga", "--reason")


def clearing_cli(world, capsys, *args) -> tuple[int, dict]:
    code = main(["--home", str(world.home), *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def activations(world) -> list[tuple[str, str]]:
    with world.clearing.store.read() as connection:
        rows = connection.execute(sa.select(audit_log.c.party_id, audit_log.c.body)
                                  .where(audit_log.c.kind == "participant.active")).all()
    return [(row.party_id, json.loads(row.body)["bank_id"]) for row in rows]


def test_onboarding__a_new_bank_is_paid_once_its_node_has_connected(federation, tmp_path):
    world = federation.world
    world.admit("bank-d", cap_minor=100_000, liquidity_minor=200_000, folder=tmp_path / "new", connect=False)
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    assert world.participant("bank-d").status == rules.ONBOARDING
    _, early = federation.send("bank-a", "alice", "bank-d", "dora", 1_000)
    assert early.result == rc.RESULT_CODE_PARTICIPANT_ONBOARDING   # Refused at bank-a's node: nothing moved.
    assert federation.balance("bank-a", "alice") == EUR_100

    federation.start_node("bank-d")                                 # Its node's first call makes it active.
    assert world.participant("bank-d").status == rules.ACTIVE
    assert activations(world)[-1] == ("clearing", "bank-d")
    federation.open_account("bank-d", "dora")
    transfer_id = str(uuid.uuid4())   # bank-a reads the registry again within registry_refresh_ms_min.
    wait_until(lambda: federation.send("bank-a", "alice", "bank-d", "dora", 1_000, transfer_id=transfer_id)[1]
               .result == rc.RESULT_CODE_OK)
    assert federation.wait_final("bank-a", transfer_id).status == "COMMITTED"
    wait_until(lambda: federation.balance("bank-d", "dora") == 1_000)
    federation.stop_node("bank-d")
    federation.start_node("bank-d")                                 # Later starts change nothing.
    assert activations(world).count(("clearing", "bank-d")) == 1


def test_set_address__other_nodes_reach_a_moved_node_without_a_restart(federation, capsys):
    world = federation.world
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-b", "bob")
    first, _ = federation.send("bank-a", "alice", "bank-b", "bob", 1_000)   # bank-a caches bank-b's address.
    assert federation.wait_final("bank-a", first).status == "COMMITTED"

    federation.stop_node("bank-b")                                 # bank-b moves its node to another port...
    new_port = free_port()
    world.banks["bank-b"].node_port = new_port
    federation.start_node("bank-b", listen_address=f"127.0.0.1:{new_port}")
    code, document = clearing_cli(world, capsys, "participants", "set-address", "bank-b", f"127.0.0.1:{new_port}",
                                  *OPERATOR, "bank-b moved its node")  # ...and the operator records it.
    assert code == 0 and document["changed"] and not document["certificate_renewal_needed"]

    moved, response = federation.send("bank-a", "alice", "bank-b", "bob", 2_000)  # bank-a was not restarted.
    assert response.result == rc.RESULT_CODE_OK
    assert federation.wait_final("bank-a", moved).status == "COMMITTED"
    wait_until(lambda: federation.balance("bank-b", "bob") == 3_000)
    assert PeerDirectory(world.stub("bank-c"), tls=world.banks["bank-c"].tls, clock=time.time).participant(
        "bank-b").node_address == f"127.0.0.1:{new_port}"


def test_leave__a_bank_that_left_is_not_offered_to_pay_and_its_node_is_refused(federation, capsys):
    world = federation.world
    federation.open_account("bank-a", "alice", deposit_minor=EUR_100)
    federation.open_account("bank-c", "carol")
    paid, _ = federation.send("bank-a", "alice", "bank-c", "carol", 1_000)
    assert federation.wait_final("bank-a", paid).status == "COMMITTED"
    window_id = close_and_issue(world.clearing.windows)
    wait_until(lambda: {a.status for a in world.clearing.windows.answers(window_id)} == {"acknowledged"}, timeout_s=30)
    world.clearing.windows.settle(window_id)
    assert clearing_cli(world, capsys, "suspend", "bank-c")[0] == 0
    payout = world.participant("bank-c").liquidity_minor   # Its liquidity is paid back (funds out)...
    assert clearing_cli(world, capsys, "funds", "out", "bank-c", f"{payout / 100:.2f}", "--id", "payout-c",
                        "--reference", "RTGS-OUT-1", *OPERATOR, "wound up")[0] == 0
    assert clearing_cli(world, capsys, "funds", "commit", "payout-c", *OPERATOR, "paid")[0] == 0
    payout_window = close_and_issue(world.clearing.windows)   # ...and listed on its last statement.
    world.clearing.windows.settle(payout_window)              # Nobody paid in it: no answer needed.
    wait_until(lambda: federation.applied_cursor("bank-c") == world.participant("bank-c").delivery_sequence,
               timeout_s=30)
    federation.stop_node("bank-c")                                 # The bank shuts its node down...
    code, document = clearing_cli(world, capsys, "participants", "leave", "bank-c", *OPERATOR, "wound up")
    assert code == 0 and document["left"]                          # ...and leaves.

    _, refused = federation.send("bank-a", "alice", "bank-c", "carol", 500)
    assert refused.result == rc.RESULT_CODE_PARTICIPANT_LEFT       # Refused at bank-a's node: nothing moved.
    assert federation.balance("bank-a", "alice") == EUR_100 - 1_000
    peers = PeerDirectory(world.stub("bank-a"), tls=world.banks["bank-a"].tls, clock=time.time)
    assert peers.other_active_bank_ids() == ["bank-a", "bank-b"]
    with pytest.raises(grpc.RpcError) as denied:                   # Its node, were it started again.
        next(world.stub("bank-c").StreamDeliveries(clearing_pb2.StreamDeliveriesRequest()))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert main(["--home", str(world.home), "resume", "bank-c"]) == 1
    assert "PARTICIPANT_LEFT" in capsys.readouterr().err and world.participant("bank-c").status == rules.LEFT

    federation.open_account("bank-b", "bob")                       # The others settle on without it.
    later, _ = federation.send("bank-a", "alice", "bank-b", "bob", 700)
    assert federation.wait_final("bank-a", later).status == "COMMITTED"
    window_id = close_and_issue(world.clearing.windows)
    wait_until(lambda: {a.bank_id: a.status for a in world.clearing.windows.answers(window_id)} == {
        "bank-a": "acknowledged", "bank-b": "acknowledged"}, timeout_s=30)
    world.clearing.windows.settle(window_id)
