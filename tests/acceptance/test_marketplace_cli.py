"""The marketplace commands of fedmall-node against real nodes: a buyer's and a merchant's
day on the command line, with --json for programs."""
from __future__ import annotations

import json

from node.cli import main as node_cli

from tests.acceptance.test_marketplace import BUYER, provision
from tests.support.federation import wait_until


def cli(capsys, bank_home: str, *args: str) -> tuple[int, dict | list]:
    code = node_cli([*args, "--home", bank_home, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_a_buyer_and_a_merchant_on_the_command_line(federation, capsys):
    provision(federation)
    home_a = str(federation.world.banks["bank-a"].bundle)
    home_b = str(federation.world.banks["bank-b"].bundle)

    code, found = cli(capsys, home_a, "search", "mug")
    assert code == 0
    [mug] = [p for p in found["products"] if p["sku"] == "mug-1"]
    assert mug["bank_id"] == "bank-b"

    code, checkout = cli(capsys, home_a, "checkout", "--buyer", BUYER, "--item", "bank-b/mug-works/mug-1:2@12.00")
    assert code == 0
    [order] = checkout["orders"]
    assert order["state"] == "PAID"

    assert cli(capsys, home_b, "ship", "--merchant", "mug-works", order["order_id"], "--tracking", "TRK-9")[0] == 0
    wait_until(lambda: cli(capsys, home_a, "order", order["order_id"], "--buyer", BUYER)[1]["order"]["state"] == "SHIPPED")
    assert cli(capsys, home_a, "confirm", "--buyer", BUYER, order["order_id"])[0] == 0
    wait_until(lambda: cli(capsys, home_a, "order", order["order_id"], "--buyer", BUYER)[1]["order"]["state"] == "COMPLETED")
    assert cli(capsys, home_a, "confirm", "--buyer", BUYER, order["order_id"])[0] == 1  # ORDER_STATE_INVALID

    wait_until(lambda: cli(capsys, home_b, "order", order["order_id"], "--merchant", "mug-works")[1]["order"]["state"] == "COMPLETED")
    assert cli(capsys, home_b, "refund", "--merchant", "mug-works", order["order_id"], "5.00")[0] == 0
    wait_until(lambda: cli(capsys, home_a, "order", order["order_id"], "--buyer", BUYER)[1]["order"]["state"] == "REFUNDED")
    code, orders = cli(capsys, home_b, "orders", "--merchant", "mug-works")
    assert code == 0
    federation.assert_invariants()
