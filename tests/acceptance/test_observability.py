"""Metrics, health and status of a running federation: the real clearing and three real nodes,
their /metrics scraped over HTTP during a small load, and their status commands."""
from __future__ import annotations

import json
import urllib.request
import uuid

from prometheus_client.parser import text_string_to_metric_families

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from clearing import cli as clearing_cli
from node import cli as node_cli

from tests.acceptance import test_marketplace as market
from tests.support.federation import close_and_issue, wait_until
from tests.support.http import get

# payer -> payee, how many transfers of 10.00 EUR.
LOAD = {("bank-a", "bank-b"): 12, ("bank-b", "bank-c"): 10, ("bank-c", "bank-a"): 8}


def scrape(address: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics by (name, labels)."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def by_label(samples: dict, name: str, label: str) -> dict[str, float]:
    return {dict(key)[label]: v for (sample_name, key), v in samples.items() if sample_name == name}


def run_load(federation) -> None:
    for bank_id in federation.nodes:
        federation.open_account(bank_id, "payer", deposit_minor=100_000)
        federation.open_account(bank_id, "payee")
    sent = [federation.send(payer, "payer", payee, "payee", 1_000)[0]
            for (payer, payee), count in LOAD.items() for _ in range(count)]
    for transfer_id, ((payer, _), count) in zip(sent, [pair for pair in LOAD.items() for _ in range(pair[1])]):
        assert federation.wait_final(payer, transfer_id).status == "COMMITTED"


def test_metrics__a_running_clearing_and_nodes_export_their_families_with_the_load_they_carried(federation):
    market.provision(federation)
    run_load(federation)
    found = federation.market("bank-a").Search(mp.SearchRequest(query="kitchen", page_size=10))
    by_bank = {p.bank_id: p for p in found.products}
    checkout = federation.market("bank-a").Checkout(mp.CheckoutRequest(
        checkout_id=str(uuid.uuid4()), buyer_account_id=market.BUYER, items=[
            mp.CartItem(seller_bank_id=b, merchant_id=by_bank[b].merchant_id, sku=by_bank[b].sku, quantity=1,
                        unit_price=by_bank[b].price) for b in ("bank-a", "bank-b")]))
    assert checkout.result == rc.RESULT_CODE_OK and len(checkout.orders) == 2
    world = federation.world
    clearing_address = world.clearing.observability.address
    sent_total = sum(LOAD.values())

    # Every member's stream has taken every delivery: the lag comes to zero.
    samples = wait_until(lambda: (s := scrape(clearing_address)) and all(
        v == 0 for v in by_label(s, "fedmall_clearing_delivery_lag", "bank").values()) and s)
    assert value(samples, "fedmall_clearing_database_up") == 1
    assert value(samples, "fedmall_clearing_transfers", state="COMMITTED", result="OK") == sent_total
    assert value(samples, "fedmall_clearing_results_total", kind="prepare", result="OK") == sent_total
    assert value(samples, "fedmall_clearing_results_total", kind="decision", result="OK") == sent_total
    assert value(samples, "fedmall_clearing_transfer_decision_seconds_count", state="COMMITTED") == sent_total
    assert value(samples, "fedmall_clearing_batch_items_sum", kind="prepare") == sent_total
    positions = by_label(samples, "fedmall_clearing_position_minor", "bank")
    assert sum(positions.values()) == 0
    assert positions == {b: world.participant(b).position_minor for b in federation.nodes}
    assert positions == {"bank-a": 12_000 - 8_000, "bank-b": 10_000 - 12_000, "bank-c": 8_000 - 10_000}
    for bank_id in federation.nodes:
        row = world.participant(bank_id)
        assert value(samples, "fedmall_clearing_headroom_minor", bank=bank_id, currency="EUR") == min(
            row.net_debit_cap_minor, row.liquidity_minor) - row.position_minor - row.reserved_minor
        assert value(samples, "fedmall_clearing_stream_connected", bank=bank_id) == 1
        assert value(samples, "fedmall_clearing_participant_status", bank=bank_id, status="active") == 1
        assert value(samples, "fedmall_clearing_certificate_expiry_seconds", role="bank", party=bank_id) > 80 * 86_400
    assert value(samples, "fedmall_clearing_windows", state="OPEN") == 1
    assert value(samples, "fedmall_clearing_window_open_id") == 1
    assert value(samples, "fedmall_clearing_audit_entries") >= 2 * sent_total / max(LOAD.values())
    assert value(samples, "fedmall_clearing_rpc_seconds_count", method="SubmitPrepares") >= 1

    nodes = {bank_id: scrape(node.observability.address) for bank_id, node in federation.nodes.items()}
    for (payer, payee), count in LOAD.items():
        assert value(nodes[payer], "fedmall_node_outgoing_transfers", status="COMMITTED") == count
        assert value(nodes[payer], "fedmall_node_transfer_booked_seconds_count", status="COMMITTED") == count
        assert value(nodes[payer], "fedmall_node_rpc_seconds_count", method="SendTransfer") == count
        assert value(nodes[payer], "fedmall_node_quote_seconds_count") >= 1
        assert value(nodes[payer], "fedmall_node_outbox_batch_items_sum") == count
    for bank_id, node_samples in nodes.items():
        assert value(node_samples, "fedmall_node_database_up") == 1
        assert value(node_samples, "fedmall_node_stream_connected") == 1
        assert value(node_samples, "fedmall_node_outbox_backlog") == 0
        assert value(node_samples, "fedmall_node_outbox_oldest_age_seconds") == 0
        assert value(node_samples, "fedmall_node_delivery_cursor") == federation.applied_cursor(bank_id)
        assert value(node_samples, "fedmall_node_certificate_expiry_seconds") > 80 * 86_400
        # Once booked, the node's @clearing account equals the clearing's position for it.
        assert value(node_samples, "fedmall_node_internal_balance_minor", account="@clearing",
                     currency="EUR") == positions[bank_id]
    assert value(nodes["bank-a"], "fedmall_node_search_seconds_count") == 1
    assert by_label(nodes["bank-a"], "fedmall_node_buyer_orders", "state") == {"PAID": 2}
    assert by_label(nodes["bank-b"], "fedmall_node_seller_orders", "state") == {"RESERVED": 1}

    # The window closes and is issued: every member answers its statement, and both sides count the answers.
    window_id = close_and_issue(world.clearing.windows)
    samples = wait_until(lambda: (s := scrape(clearing_address)) and value(
        s, "fedmall_clearing_reconciliation_answers", answer="acknowledged") == 3 and s)
    assert value(samples, "fedmall_clearing_windows", state="PENDING_SETTLEMENT") == 1
    assert value(samples, "fedmall_clearing_window_open_id") == window_id + 1
    assert value(samples, "fedmall_clearing_reconciliation_answers", answer="silent") == 0
    for bank_id, node in federation.nodes.items():
        assert wait_until(lambda: by_label(scrape(node.observability.address), "fedmall_node_reconciliations",
                                           "answer") == {"acknowledged": 1})


def test_health__healthz_and_readyz_answer_beside_the_metrics(federation):
    for address in [federation.world.clearing.observability.address,
                    *(node.observability.address for node in federation.nodes.values())]:
        assert get(address, "/healthz") == (200, "ok\n")
        wait_until(lambda: get(address, "/readyz") == (200, "ready\n"))
        assert get(address, "/nothing")[0] == 404


def run_cli(capsys, main, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().out


def test_status__running_and_stopped_clearing_and_node(federation, capsys):
    world = federation.world
    run_load(federation)
    home = str(world.home)
    bundle = str(world.banks["bank-a"].bundle)

    code, out = run_cli(capsys, clearing_cli.main, ["--home", home, "status", "--json"])
    document = json.loads(out)
    assert code == 0 and document["process"]["running"] and document["process"]["ready"]
    assert [(m["bank_id"], m["connected"]) for m in document["members"]] == [
        ("bank-a", True), ("bank-b", True), ("bank-c", True)]
    wait_until(lambda: all(m["delivery_lag"] == 0 for m in json.loads(
        run_cli(capsys, clearing_cli.main, ["--home", home, "status", "--json"])[1])["members"]))
    assert document["last_minute"]["committed"] == sum(LOAD.values())
    assert document["open_window"]["window_id"] == 1 and document["certificate"]["days_left"] > 80
    code, out = run_cli(capsys, clearing_cli.main, ["--home", home, "status"])
    assert code == 0 and "ready" in out and "connected" in out and "last minute" in out

    code, out = run_cli(capsys, node_cli.main, ["status", "--home", bundle, "--json"])
    document = json.loads(out)
    assert code == 0 and document["stream_connected"] is True and document["process"]["ready"]
    assert document["last_minute"]["sent_committed"] == LOAD[("bank-a", "bank-b")]
    assert document["backlogs"]["outbox"] == 0 and document["window_last_seen"] == 1
    code, out = run_cli(capsys, node_cli.main, ["status", "--home", bundle])
    assert code == 0 and "delivery stream connected" in out

    # Stopped: said plainly, exit 1, and what the home and the database hold is still shown.
    federation.stop_node("bank-a")
    code, out = run_cli(capsys, node_cli.main, ["status", "--home", bundle, "--json"])
    document = json.loads(out)
    assert code == 1 and document["process"]["running"] is False and "not running" in document["process"]["why"]
    assert document["last_minute"]["sent_committed"] == LOAD[("bank-a", "bank-b")]
    code, out = run_cli(capsys, node_cli.main, ["status", "--home", bundle])
    assert code == 1 and "not running" in out

    address = world.address
    world.clearing.stop()
    code, out = run_cli(capsys, clearing_cli.main, ["--home", home, "status"])
    assert code == 1 and "not running" in out and "bank-a" in out
    world.start(listen_address=address)  # The fixture's end stops it (and checks the books).
