"""Instalments, reviews and order lists on the fedmall-node command line against real nodes: a
buyer at bank A pays a bank B merchant in 3 instalments, reads the schedule, rates the order once
it completed; the bank pages through its orders and reads its instalment book, all with --json."""
from __future__ import annotations

import pytest

from tests.acceptance.conftest import closed_at_rest
from tests.acceptance.test_instalments import BUYER_BANK, MERCHANT, PRICE, SELLER
from tests.acceptance.test_marketplace_cli import cli
from tests.node.market.world import Market
from tests.support.credit import consumer_policy
from tests.support.federation import wait_until


@pytest.fixture
def market(world, tmp_path, request):
    market = Market(world)
    for bank_id in world.banks:
        market.start_node(bank_id, consumer_credit_policy_path=consumer_policy(tmp_path))
    market.merchant(SELLER, MERCHANT)
    market.product(SELLER, MERCHANT, "loaf", title="Sourdough crate", price_minor=PRICE, stock=100)
    market.open_account(BUYER_BANK, "ann", deposit_minor=50_000)
    yield market
    closed_at_rest(request, market)


def test_instalments_a_review_and_paged_orders_on_the_command_line(market, capsys):
    home_a, home_b = (str(market.world.banks[bank].bundle) for bank in (BUYER_BANK, SELLER))
    item = f"{SELLER}/{MERCHANT}/loaf:1@120.00"
    code, refused = cli(capsys, home_a, "checkout", "--buyer", "ann", "--item", item, "--instalments", "5")
    assert (code, refused["result"]) == (1, "INSTALMENTS_TERM_NOT_OFFERED")

    code, checkout = cli(capsys, home_a, "checkout", "--buyer", "ann", "--item", item, "--instalments", "3")
    assert code == 0, checkout
    [order] = checkout["orders"]
    assert (order["state"], order["instalments"]) == ("PAID", 3)
    code, plan = cli(capsys, home_a, "credit", "plan", "--buyer", "ann", order["order_id"])
    assert code == 0 and [item["amount_minor"] for item in plan["schedule"]] == [4_000] * 3
    code, early = cli(capsys, home_a, "review", "--buyer", "ann", order["order_id"], "--rating", "5")
    assert (code, early["result"]) == (1, "REVIEW_ORDER_NOT_COMPLETED")

    assert cli(capsys, home_b, "ship", "--merchant", MERCHANT, order["order_id"], "--tracking", "T-1")[0] == 0
    wait_until(lambda: cli(capsys, home_a, "order", order["order_id"], "--buyer", "ann")[1]["order"]["state"]
               == "SHIPPED")
    assert cli(capsys, home_a, "confirm", "--buyer", "ann", order["order_id"])[0] == 0
    wait_until(lambda: cli(capsys, home_b, "order", order["order_id"], "--merchant", MERCHANT)[1]["order"]["state"]
               == "COMPLETED")
    code, review = cli(capsys, home_a, "review", "--buyer", "ann", order["order_id"], "--rating", "4", "--text", "ok")
    assert (code, review["result"], review["delivered"]) == (0, "OK", True)
    code, again = cli(capsys, home_a, "review", "--buyer", "ann", order["order_id"], "--rating", "1")
    assert (code, again["result"]) == (1, "REVIEW_ALREADY_GIVEN")

    # A second order, then the bank's orders two pages of one: newest first, the cursor carries on.
    code, second = cli(capsys, home_a, "checkout", "--buyer", "ann", "--item", item)
    assert code == 0
    code, first_page = cli(capsys, home_a, "orders", "--limit", "1")
    assert [o["order_id"] for o in first_page["orders"]] == [second["orders"][0]["order_id"]]
    code, next_page = cli(capsys, home_a, "orders", "--limit", "1", "--cursor", first_page["next_cursor"])
    assert ([o["order_id"] for o in next_page["orders"]], next_page["next_cursor"]) == ([order["order_id"]], "")
    code, completed = cli(capsys, home_a, "orders", "--state", "COMPLETED")
    assert [o["order_id"] for o in completed["orders"]] == [order["order_id"]]

    code, book = cli(capsys, home_a, "credit", "instalment-book")
    assert code == 0 and book["totals"][0]["books_agree"] and book["totals"][0]["outstanding_minor"] == 12_000
    code, check = cli(capsys, home_a, "ledger-check")
    assert (code, check["problems"]) == (0, [])
    assert cli(capsys, home_a, "cancel", "--buyer", "ann", second["orders"][0]["order_id"])[0] == 0
