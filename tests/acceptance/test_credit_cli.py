"""The credit commands of fedmall-node against a real node with a credit policy: a merchant
with a few completed sales gets an offer, is refused above its limit, borrows, repays a
share of its next sale, pays off the rest; the bank reads its loan book as CSV. The books
balance and @lending equals what is owed at every step."""
from __future__ import annotations

import csv
import json
import uuid

from fedmall.v1 import marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from node.cli import main as node_cli

from tests.node.market.world import Market
from tests.support.credit import permissive_policy
from tests.support.federation import CURRENCY

BANK = "bank-a"
BUYER = "ana"
MERCHANT = "tea-house"
SKU = "tea-1"
PRICE_MINOR = 20_000


def cli(capsys, home: str, *args: str) -> tuple[int, dict]:
    code = node_cli(["credit", *args, "--home", home, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def sell(market: Market) -> None:
    """One order from the buyer, shipped and confirmed: the escrow is released to the merchant."""
    response = market.checkout(BANK, BUYER, [(BANK, MERCHANT, SKU, 1, PRICE_MINOR)])
    assert response.result == rc.RESULT_CODE_OK, response
    [order] = response.orders
    market.wait_seller_state(BANK, MERCHANT, order.order_id, mp.ORDER_STATE_PAID)
    shipped = market.market(BANK).ShipOrder(mp.ShipOrderRequest(
        merchant_id=MERCHANT, order_id=order.order_id, tracking_reference="TRK-1"))
    assert shipped.result == rc.RESULT_CODE_OK, shipped
    market.wait_buyer_state(BANK, BUYER, order.order_id, mp.ORDER_STATE_SHIPPED)
    confirmed = market.market(BANK).ConfirmReceipt(mp.ConfirmReceiptRequest(
        buyer_account_id=BUYER, order_id=order.order_id))
    assert confirmed.result == rc.RESULT_CODE_OK, confirmed
    market.wait_seller_state(BANK, MERCHANT, order.order_id, mp.ORDER_STATE_COMPLETED)


def lending(market: Market) -> int:
    """What the bank's books say merchants owe it: minus the @lending balance."""
    return -market.internal(BANK, "lending")


def test_a_merchant_borrows_repays_from_a_sale_and_pays_off_on_the_command_line(world, tmp_path, capsys):
    market = Market(world)
    try:
        market.start_node(BANK, credit_policy_path=permissive_policy(tmp_path))
        home = str(world.banks[BANK].bundle)
        market.open_account(BANK, BUYER, deposit_minor=1_000_000)
        settlement = market.merchant(BANK, MERCHANT)
        market.product(BANK, MERCHANT, SKU, title="Green tea", price_minor=PRICE_MINOR, stock=10)

        # No sales yet: declined, with the rule named.
        code, offer = cli(capsys, home, "offer", "--merchant", MERCHANT)
        assert code == 0 and offer["limit_minor"] == 0
        assert [knockout["rule"] for knockout in offer["knockouts"]] == ["sales_too_low"]
        assert cli(capsys, home, "apply", "--merchant", MERCHANT, "10.00") == (1, {
            "result": "CREDIT_DECLINED", "detail": offer_detail(offer)})

        for _ in range(3):
            sell(market)
        assert market.balance(BANK, settlement) == 3 * PRICE_MINOR

        # Three sales of 200.00 in 90 days: 200.00 a month, a limit at the grade's multiple.
        code, offer = cli(capsys, home, "offer", "--merchant", MERCHANT)
        assert code == 0 and offer["knockouts"] == []
        assert offer["features"]["gross_sales_minor_90d"] == 3 * PRICE_MINOR
        assert offer["monthly_sales_minor"] == PRICE_MINOR and offer["limit_currency"] == CURRENCY
        assert 0 < offer["available_minor"] == offer["limit_minor"]
        assert sum(line["points"] for line in offer["scores"]) == offer["total_points"]
        assert node_cli(["credit", "offer", "--merchant", MERCHANT, "--home", home]) == 0
        assert f"grade            {offer['grade']}" in capsys.readouterr().out

        # Above the limit: refused with the reason, nothing posted.
        above = str(offer["available_minor"] // 100 + 1)
        code, refusal = cli(capsys, home, "apply", "--merchant", MERCHANT, above)
        assert (code, refusal["result"]) == (1, "CREDIT_LIMIT_EXCEEDED")
        assert lending(market) == 0

        # The whole available amount: disbursed into the settlement account, the fee owed on top.
        application_id = str(uuid.uuid4())
        code, applied = cli(capsys, home, "apply", "--merchant", MERCHANT, offer["available"],
                            "--application-id", application_id)
        assert (code, applied["result"], applied["application_id"]) == (0, "OK", application_id)
        loan = applied["loan"]
        principal_minor, fee_minor = loan["principal_minor"], loan["fee_minor"]
        assert principal_minor == offer["available_minor"] and fee_minor == principal_minor * offer["fee_bp"] // 10_000
        assert (loan["loan_id"], loan["status"], loan["outstanding_minor"]) == (
            application_id, "CURRENT", principal_minor + fee_minor)
        assert loan["schedule"][-1]["cumulative_due_minor"] == principal_minor + fee_minor
        assert market.balance(BANK, settlement) == 3 * PRICE_MINOR + principal_minor
        assert lending(market) == principal_minor + fee_minor

        # The same application again: EXISTS and the same loan. Another while it is open: LOAN_OPEN.
        code, again = cli(capsys, home, "apply", "--merchant", MERCHANT, offer["available"],
                          "--application-id", application_id)
        assert (code, again["result"], again["loan"]["loan_id"]) == (0, "EXISTS", application_id)
        code, refusal = cli(capsys, home, "apply", "--merchant", MERCHANT, "1.00")
        assert (code, refusal["result"]) == (1, "LOAN_OPEN") and application_id in refusal["detail"]

        # The next sale repays its share inside the release.
        sell(market)
        share_minor = PRICE_MINOR * loan["repayment_share_bp"] // 10_000
        code, shown = cli(capsys, home, "loan", "--merchant", MERCHANT, application_id)
        assert code == 0
        assert [(line["kind"], line["credit_minor"], line["amount_minor"], line["outstanding_after_minor"])
                for line in shown["statement"]] == [
            ("DISBURSED", 0, principal_minor + fee_minor, principal_minor + fee_minor),
            ("SALES", PRICE_MINOR, share_minor, principal_minor + fee_minor - share_minor)]
        owed_minor = principal_minor + fee_minor - share_minor
        assert shown["loan"]["outstanding_minor"] == owed_minor == lending(market)
        assert node_cli(["credit", "loan", "--merchant", MERCHANT, application_id, "--home", home]) == 0
        statement = capsys.readouterr().out.split("\n\n")[-1].splitlines()
        assert statement[0].split() == ["time", "kind", "entry", "credit", "amount", "outstanding", "after"]
        assert [line.split()[3] for line in statement[2:]] == ["DISBURSED", "SALES"]

        # Another merchant cannot see it.
        code, refusal = cli(capsys, home, "loan", "--merchant", "someone-else", application_id)
        assert (code, refusal["result"]) == (1, "LOAN_UNKNOWN")

        # The bank's loan book as CSV: the loan, and @lending equal to what is owed.
        book_csv = tmp_path / "book.csv"
        code, book = cli(capsys, home, "book", "--csv", str(book_csv))
        assert code == 0
        [totals] = book["totals"]
        assert (totals["loans"], totals["loans_open"], totals["outstanding_minor"], totals["books_agree"]) == (
            1, 1, owed_minor, True)
        with book_csv.open(newline="") as file:
            [row] = list(csv.DictReader(file))
        assert (row["loan_id"], row["merchant_id"], row["account_id"], row["status"], row["outstanding_minor"],
                row["repaid_minor"], row["closed_at"]) == (
            application_id, MERCHANT, settlement, "CURRENT", str(owed_minor), str(share_minor), "")

        # Pay off the rest from the settlement account; a second payoff is EXISTS.
        code, paid = cli(capsys, home, "payoff", "--merchant", MERCHANT, application_id)
        assert (code, paid["result"], paid["loan"]["status"], paid["loan"]["outstanding_minor"]) == (
            0, "OK", "REPAID", 0)
        assert cli(capsys, home, "payoff", "--merchant", MERCHANT, application_id)[1]["result"] == "EXISTS"
        assert market.balance(BANK, settlement) == 4 * PRICE_MINOR - share_minor + principal_minor - owed_minor
        assert lending(market) == 0
        code, book = cli(capsys, home, "book")
        assert (book["totals"][0]["loans_open"], book["totals"][0]["outstanding_minor"],
                book["totals"][0]["books_agree"]) == (0, 0, True)
        assert market.books_problems(BANK) == []
    finally:
        market.close()


def offer_detail(offer: dict) -> str:
    """The refusal's detail: every knockout, as node.credit.lending words it."""
    return "; ".join(f"{knockout['rule']}: {knockout['reason']}" for knockout in offer["knockouts"])
