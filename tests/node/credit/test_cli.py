"""The credit commands of fedmall-node against a fake CreditService over real mTLS."""
from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field

import pytest

from fedmall.results import name_of
from fedmall.v1 import credit_pb2, credit_pb2_grpc, money_pb2, result_pb2

from node.cli import main as cli_main
from node.credit.cli import CSV_COLUMNS
from tests.node.cli_support import fake_node_home, json_out, labelled

C = credit_pb2
R = result_pb2
NOW_MS = 1_893_456_000_000  # 2030-01-01 00:00:00 UTC.
DAY_MS = 86_400_000
APPLICATION_ID = "7d0e4c1a-2b3c-4d5e-8f60-718293a4b5c6"


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


OFFER = C.CreditOffer(
    merchant_id="acme", policy_name="example-2030-01",
    features={"tenure_days": 400, "gross_sales_minor_90d": 450_000, "refund_rate_bp": 1_600, "suspended": 0},
    scores=[C.FeatureScore(feature="tenure_days", value=400, band="365..<730", weight=1, points=20),
            C.FeatureScore(feature="refund_rate_bp", value=1_600, band="1000+", weight=1, points=-15),
            C.FeatureScore(feature="loans_repaid_late", value=0, band="..<1", weight=2, points=0)],
    total_points=5, grade="E", knockouts=[C.Knockout(rule="refund_rate_too_high", reason="16.00 % > 15.00 %")],
    monthly_sales=eur(150_000), limit=eur(1_000_000), available=eur(80_000), fee_bp=250, repayment_share_bp=2_000,
    term_days=180, computed_at_unix_ms=NOW_MS)
LOAN = C.Loan(
    loan_id=APPLICATION_ID, merchant_id="acme", account_id="acme-settle", principal=eur(50_000), fee=eur(1_250),
    repaid=eur(10_250), outstanding=eur(41_000), status=C.LOAN_STATUS_CURRENT, grade="B", repayment_share_bp=2_000,
    disbursed_at_unix_ms=NOW_MS, maturity_at_unix_ms=NOW_MS + 180 * DAY_MS,
    last_repaid_at_unix_ms=NOW_MS + 3 * DAY_MS, due_by_now=eur(0),
    schedule=[C.Installment(installment=1, due_at_unix_ms=NOW_MS + 30 * DAY_MS, cumulative_due=eur(8_542)),
              C.Installment(installment=2, due_at_unix_ms=NOW_MS + 60 * DAY_MS, cumulative_due=eur(17_084)),
              C.Installment(installment=6, due_at_unix_ms=NOW_MS + 180 * DAY_MS, cumulative_due=eur(51_250))])
OLD_LOAN = C.Loan(
    loan_id="loan-0", merchant_id="zed", account_id="zed-settle", principal=eur(200_000), fee=eur(8_000),
    repaid=eur(208_000), outstanding=eur(0), status=C.LOAN_STATUS_REPAID, grade="C", repayment_share_bp=1_500,
    disbursed_at_unix_ms=NOW_MS - 200 * DAY_MS, maturity_at_unix_ms=NOW_MS - 20 * DAY_MS,
    last_repaid_at_unix_ms=NOW_MS - DAY_MS, closed_at_unix_ms=NOW_MS - DAY_MS, ever_overdue=True)
STATEMENT = [
    C.StatementLine(at_unix_ms=NOW_MS, kind="DISBURSED", entry_id=f"disburse:{APPLICATION_ID}", credit=eur(0),
                    amount=eur(51_250), outstanding_after=eur(51_250)),
    C.StatementLine(at_unix_ms=NOW_MS + 3 * DAY_MS, kind="SALES", entry_id="receive:t-1", credit=eur(51_250),
                    amount=eur(10_250), outstanding_after=eur(41_000))]
TOTALS = C.LoanBookTotals(
    currency="EUR", loans=2, loans_open=1, disbursed=eur(250_000), fees=eur(9_250), repaid=eur(218_250),
    outstanding=eur(41_000), overdue=eur(0), non_performing=eur(0), non_performing_ratio_bp=0,
    lending_account=eur(41_000))


@dataclass
class FakeCredit(credit_pb2_grpc.CreditServiceServicer):
    """Records every request and answers with canned responses; result and detail overridable per method."""
    requests: list = field(default_factory=list)  # (method, request)
    results: dict = field(default_factory=dict)  # method -> (ResultCode, detail) to answer
    loans: list = field(default_factory=lambda: [LOAN, OLD_LOAN])
    totals: list = field(default_factory=lambda: [TOTALS])

    def _answer(self, method, request, response_type, **fields):
        self.requests.append((method, request))
        result, detail = self.results.get(method, (R.RESULT_CODE_OK, ""))
        if result not in (R.RESULT_CODE_OK, R.RESULT_CODE_EXISTS):
            return response_type(result=result, detail=detail)
        return response_type(result=result, detail=detail, **fields)

    def sent(self, method: str) -> list:
        return [request for name, request in self.requests if name == method]

    def GetCreditOffer(self, request, context):
        return self._answer("GetCreditOffer", request, C.GetCreditOfferResponse, offer=OFFER)

    def ApplyForLoan(self, request, context):
        loan = C.Loan()
        loan.CopyFrom(LOAN)
        loan.loan_id = request.application_id
        return self._answer("ApplyForLoan", request, C.ApplyForLoanResponse, loan=loan, offer=OFFER)

    def PayOffLoan(self, request, context):
        loan = C.Loan()
        loan.CopyFrom(LOAN)
        loan.repaid.amount_minor, loan.outstanding.amount_minor = 51_250, 0
        loan.status, loan.closed_at_unix_ms = C.LOAN_STATUS_REPAID, NOW_MS + 4 * DAY_MS
        return self._answer("PayOffLoan", request, C.PayOffLoanResponse, loan=loan)

    def GetLoan(self, request, context):
        return self._answer("GetLoan", request, C.GetLoanResponse, loan=LOAN, statement=STATEMENT)

    def ListLoans(self, request, context):
        return self._answer("ListLoans", request, C.ListLoansResponse, loans=self.loans)

    def GetLoanBook(self, request, context):
        return self._answer("GetLoanBook", request, C.GetLoanBookResponse, totals=self.totals, loans=self.loans)


@dataclass
class Node:
    fake: FakeCredit
    home: str

    def run(self, *argv: str) -> int:
        return cli_main(["credit", *argv, "--home", self.home])


@pytest.fixture
def node(consortium):
    """A fake of bank-a's CreditService on port 0 over mTLS, and bank-a's bundle pointing at it."""
    fake = FakeCredit()
    with fake_node_home(consortium, lambda server: credit_pb2_grpc.add_CreditServiceServicer_to_server(
            fake, server)) as home:
        yield Node(fake=fake, home=home)






def blocks(out: str) -> list[list[str]]:
    """The output's blank-line-separated blocks, as lists of lines."""
    return [block.splitlines() for block in out.strip("\n").split("\n\n")]


# Offer.

def test_offer__terms_every_scored_feature_and_the_knockouts(node, capsys):
    assert node.run("offer", "--merchant", "acme") == 0
    assert node.fake.sent("GetCreditOffer")[0].merchant_id == "acme"
    out = capsys.readouterr().out
    assert labelled(out) == {
        "merchant": "acme", "policy": "example-2030-01", "score": "5 points", "grade": "E",
        "limit": "10000.00 EUR", "available": "800.00 EUR", "monthly sales": "1500.00 EUR", "fee": "2.50 %",
        "repayment share": "20.00 % of each incoming credit", "term": "180 days",
        "computed": "2030-01-01 00:00:00 UTC"}
    head, features, knockouts = blocks(out)
    assert [line.split() for line in features] == [
        ["feature", "value", "band", "weight", "points"], ["-" * 17, "-" * 5, "-" * 9, "-" * 6, "-" * 6],
        ["tenure_days", "400", "365..<730", "1", "20"], ["refund_rate_bp", "1600", "1000+", "1", "-15"],
        ["loans_repaid_late", "0", "..<1", "2", "0"]]
    assert knockouts == ["declined: refund_rate_too_high: 16.00 % > 15.00 %"]
    limit, available = (line for line in head if line.startswith(("limit", "available")))
    assert limit.index(".00 EUR") == available.index(".00 EUR")


def test_offer__json_is_the_whole_offer_in_minor_units(node, capsys):
    assert node.run("offer", "--merchant", "acme", "--json") == 0
    assert json_out(capsys) == {
        "merchant_id": "acme", "policy_name": "example-2030-01",
        "features": {"tenure_days": 400, "gross_sales_minor_90d": 450_000, "refund_rate_bp": 1_600, "suspended": 0},
        "scores": [{"feature": "tenure_days", "value": 400, "band": "365..<730", "weight": 1, "points": 20},
                   {"feature": "refund_rate_bp", "value": 1_600, "band": "1000+", "weight": 1, "points": -15},
                   {"feature": "loans_repaid_late", "value": 0, "band": "..<1", "weight": 2, "points": 0}],
        "total_points": 5, "grade": "E",
        "knockouts": [{"rule": "refund_rate_too_high", "reason": "16.00 % > 15.00 %"}],
        "monthly_sales_minor": 150_000, "monthly_sales": "1500.00", "monthly_sales_currency": "EUR",
        "limit_minor": 1_000_000, "limit": "10000.00", "limit_currency": "EUR",
        "available_minor": 80_000, "available": "800.00", "available_currency": "EUR",
        "fee_bp": 250, "repayment_share_bp": 2_000, "term_days": 180, "computed_at_unix_ms": NOW_MS}


def test_offer__credit_disabled_names_the_code_and_the_detail_and_exits_1(node, capsys):
    node.fake.results["GetCreditOffer"] = (R.RESULT_CODE_CREDIT_DISABLED, "this bank has no credit policy")
    assert node.run("offer", "--merchant", "acme", "--json") == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "CREDIT_DISABLED: this bank has no credit policy"
    assert json.loads(captured.out) == {"result": "CREDIT_DISABLED", "detail": "this bank has no credit policy"}


# Apply.

def test_apply__sends_minor_units_and_shows_the_loan_and_its_schedule(node, capsys):
    assert node.run("apply", "--merchant", "acme", "500.00", "--application-id", APPLICATION_ID) == 0
    [request] = node.fake.sent("ApplyForLoan")
    assert (request.application_id, request.merchant_id, request.amount) == (APPLICATION_ID, "acme", eur(50_000))
    out = capsys.readouterr().out
    assert labelled(out) == {
        "application": APPLICATION_ID, "result": "OK", "loan": APPLICATION_ID, "merchant": "acme",
        "account": "acme-settle", "status": "CURRENT", "grade": "B", "principal": "500.00 EUR",
        "fee": "12.50 EUR", "repaid": "102.50 EUR", "outstanding": "410.00 EUR", "due by now": "0.00 EUR",
        "repayment share": "20.00 % of each incoming credit", "disbursed": "2030-01-01 00:00:00 UTC",
        "maturity": "2030-06-30 00:00:00 UTC", "last repaid": "2030-01-04 00:00:00 UTC", "ever overdue": "no"}
    [_, schedule] = blocks(out)
    assert [line.split() for line in schedule[:1] + schedule[2:]] == [
        ["installment", "due", "cumulative", "due"], ["1", "2030-01-31", "00:00:00", "UTC", "85.42", "EUR"],
        ["2", "2030-03-02", "00:00:00", "UTC", "170.84", "EUR"], ["6", "2030-06-30", "00:00:00", "UTC", "512.50", "EUR"]]
    assert schedule[2].index("85.42") + 5 == schedule[4].index("512.50") + 6


def test_apply__default_id_is_a_fresh_uuid_printed_for_a_retry(node, capsys):
    assert node.run("apply", "--merchant", "acme", "500") == 0
    assert node.run("apply", "--merchant", "acme", "500", "--json") == 0
    first, second = (request.application_id for request in node.fake.sent("ApplyForLoan"))
    assert uuid.UUID(first).version == 4 and first != second
    out = capsys.readouterr().out
    assert labelled(out)["application"] == first
    document = json.loads(out.splitlines()[-1])
    assert (document["application_id"], document["result"], document["loan"]["loan_id"]) == (second, "OK", second)
    assert document["loan"]["principal_minor"] == 50_000 and document["offer"]["grade"] == "E"
    assert document["loan"]["schedule"][0] == {"installment": 1, "due_at_unix_ms": NOW_MS + 30 * DAY_MS,
                                               "cumulative_due_minor": 8_542, "cumulative_due": "85.42",
                                               "cumulative_due_currency": "EUR"}


def test_apply__currency_flag_sets_the_minor_units(node):
    assert node.run("apply", "--merchant", "acme", "1500", "--currency", "JPY") == 0
    assert node.fake.sent("ApplyForLoan")[0].amount == money_pb2.Money(amount_minor=1_500, currency="JPY")


def test_apply__exists_on_a_repeated_application_is_success(node, capsys):
    node.fake.results["ApplyForLoan"] = (R.RESULT_CODE_EXISTS, "")
    assert node.run("apply", "--merchant", "acme", "500.00", "--application-id", APPLICATION_ID) == 0
    assert labelled(capsys.readouterr().out)["result"] == "EXISTS"


@pytest.mark.parametrize("code, detail", [
    (R.RESULT_CODE_CREDIT_DECLINED, "too_new: onboarded 3 days ago, the policy needs 90"),
    (R.RESULT_CODE_CREDIT_LIMIT_EXCEEDED, "50000 is above the 8000 EUR minor units available (limit 8000, grade D)"),
    (R.RESULT_CODE_LOAN_OPEN, "loan 'loan-0' is open; one loan at a time")])
def test_apply__refusal_prints_the_code_and_the_reason_and_exits_1(node, capsys, code, detail):
    node.fake.results["ApplyForLoan"] = (code, detail)
    assert node.run("apply", "--merchant", "acme", "500.00") == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"{name_of(code)}: {detail}"
    assert captured.out == ""
    assert node.run("apply", "--merchant", "acme", "500.00", "--json") == 1
    assert json_out(capsys) == {"result": name_of(code), "detail": detail}


@pytest.mark.parametrize("extra", [
    ["12.505"], ["12,50"], ["0"], ["-1"], ["abc"], ["1e3"], ["12.50", "--currency", "XXX"],
    ["12.5", "--currency", "JPY"], ["12.50", "--application-id", "has space"],
    ["12.50", "--application-id", ""], ["12.50", "--application-id", ".dotted"], ["12.50", "--application-id", "café"]])
def test_apply__bad_amount_currency_or_id_exits_2_and_sends_nothing(node, capsys, extra):
    assert node.run("apply", "--merchant", "acme", *extra) == 2
    assert node.fake.requests == []
    assert capsys.readouterr().err.startswith("fedmall-node: ")


def test_apply__node_not_answering_names_the_id_to_retry_with(consortium, capsys):
    home = consortium.bundle("bank-z", listen_address="127.0.0.1:1")
    assert cli_main(["credit", "apply", "--merchant", "acme", "5.00", "--application-id", APPLICATION_ID,
                     "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fedmall-node: node did not answer: UNAVAILABLE")
    assert err.rstrip().endswith(f"to retry, give --application-id {APPLICATION_ID}")


# Loans, one loan, payoff.

def test_loans__table_of_the_merchants_loans(node, capsys):
    assert node.run("loans", "--merchant", "acme") == 0
    assert node.fake.sent("ListLoans")[0].merchant_id == "acme"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["loan", "status", "grade", "principal", "fee", "repaid", "outstanding", "disbursed",
                                "maturity"]
    assert lines[2].split() == [APPLICATION_ID, "CURRENT", "B", "500.00", "EUR", "12.50", "EUR", "102.50", "EUR",
                                "410.00", "EUR", "2030-01-01", "2030-06-30"]
    assert lines[3].split()[:3] == ["loan-0", "REPAID", "C"]
    assert lines[2].index("500.00") + 6 == lines[3].index("2000.00") + 7


def test_loans__json_and_none(node, capsys):
    assert node.run("loans", "--merchant", "acme", "--json") == 0
    document = json_out(capsys)
    assert document["merchant_id"] == "acme"
    assert [(loan["loan_id"], loan["status"], loan["outstanding_minor"], loan["ever_overdue"])
            for loan in document["loans"]] == [(APPLICATION_ID, "CURRENT", 41_000, False),
                                               ("loan-0", "REPAID", 0, True)]
    node.fake.loans = []
    assert node.run("loans", "--merchant", "acme") == 0
    assert capsys.readouterr().out == "acme has no loans\n"


def test_loan__the_loan_its_schedule_and_its_statement(node, capsys):
    assert node.run("loan", "--merchant", "acme", APPLICATION_ID) == 0
    [request] = node.fake.sent("GetLoan")
    assert (request.merchant_id, request.loan_id) == ("acme", APPLICATION_ID)
    out = capsys.readouterr().out
    assert labelled(out)["outstanding"] == "410.00 EUR"
    [_, schedule, statement] = blocks(out)
    assert len(schedule) == 5
    assert statement[0].split() == ["time", "kind", "entry", "credit", "amount", "outstanding", "after"]
    assert statement[2].split() == ["2030-01-01", "00:00:00", "UTC", "DISBURSED", f"disburse:{APPLICATION_ID}",
                                    "512.50", "EUR", "512.50", "EUR"]
    assert statement[3].split() == ["2030-01-04", "00:00:00", "UTC", "SALES", "receive:t-1", "512.50", "EUR",
                                    "102.50", "EUR", "410.00", "EUR"]


def test_loan__json_has_the_statement(node, capsys):
    assert node.run("loan", "--merchant", "acme", APPLICATION_ID, "--json") == 0
    document = json_out(capsys)
    assert document["loan"]["loan_id"] == APPLICATION_ID and document["statement_truncated"] is False
    assert document["statement"][1] == {
        "at_unix_ms": NOW_MS + 3 * DAY_MS, "kind": "SALES", "entry_id": "receive:t-1",
        "credit_minor": 51_250, "credit": "512.50", "credit_currency": "EUR",
        "amount_minor": 10_250, "amount": "102.50", "amount_currency": "EUR",
        "outstanding_after_minor": 41_000, "outstanding_after": "410.00", "outstanding_after_currency": "EUR"}


def test_loan__another_merchants_loan_is_unknown(node, capsys):
    node.fake.results["GetLoan"] = (R.RESULT_CODE_LOAN_UNKNOWN, "no loan 'loan-0' of merchant 'acme'")
    assert node.run("loan", "--merchant", "acme", "loan-0") == 1
    assert capsys.readouterr().err.strip() == "LOAN_UNKNOWN: no loan 'loan-0' of merchant 'acme'"


def test_payoff__shows_the_loan_after(node, capsys):
    assert node.run("payoff", "--merchant", "acme", APPLICATION_ID) == 0
    [request] = node.fake.sent("PayOffLoan")
    assert (request.merchant_id, request.loan_id) == ("acme", APPLICATION_ID)
    shown = labelled(capsys.readouterr().out)
    assert (shown["result"], shown["status"], shown["outstanding"], shown["closed"]) == (
        "OK", "REPAID", "0.00 EUR", "2030-01-05 00:00:00 UTC")
    assert node.run("payoff", "--merchant", "acme", APPLICATION_ID, "--json") == 0
    document = json_out(capsys)
    assert (document["result"], document["loan"]["status"], document["loan"]["repaid_minor"]) == (
        "OK", "REPAID", 51_250)


def test_payoff__short_of_funds_is_refused_with_the_reason(node, capsys):
    node.fake.results["PayOffLoan"] = (R.RESULT_CODE_INSUFFICIENT_FUNDS,
                                       "the settlement account holds 100, the loan needs 41000")
    assert node.run("payoff", "--merchant", "acme", APPLICATION_ID) == 1
    assert capsys.readouterr().err.strip() == (
        "INSUFFICIENT_FUNDS: the settlement account holds 100, the loan needs 41000")


# The loan book.

def test_book__totals_per_currency_and_the_loans(node, capsys):
    assert node.run("book") == 0
    assert len(node.fake.sent("GetLoanBook")) == 1
    totals, loans = blocks(capsys.readouterr().out)
    assert totals[0].split() == ["currency", "loans", "open", "disbursed", "fees", "repaid", "outstanding",
                                 "overdue", "non-performing", "NPL", "ratio", "@lending", "=", "outstanding"]
    assert totals[2].split() == ["EUR", "2", "1", "2500.00", "92.50", "2182.50", "410.00", "0.00", "0.00",
                                 "0.00", "%", "410.00", "yes"]
    assert loans[0].split()[:3] == ["loan", "merchant", "status"]
    assert [line.split()[:3] for line in loans[2:]] == [[APPLICATION_ID, "acme", "CURRENT"],
                                                        ["loan-0", "zed", "REPAID"]]


def test_book__a_lending_account_apart_from_outstanding_shows(node, capsys):
    node.fake.totals = [C.LoanBookTotals(currency="EUR", loans=1, loans_open=1, outstanding=eur(41_000),
                                         non_performing=eur(10_250), non_performing_ratio_bp=2_500,
                                         lending_account=eur(40_000))]
    assert node.run("book") == 0
    row = blocks(capsys.readouterr().out)[0][2].split()
    assert row[-5:] == ["102.50", "25.00", "%", "400.00", "NO"]
    assert node.run("book", "--json") == 0
    [totals] = json_out(capsys)["totals"]
    assert (totals["books_agree"], totals["non_performing_ratio_bp"], totals["lending_account_minor"]) == (
        False, 2_500, 40_000)


def test_book__json_has_totals_and_loans(node, capsys):
    assert node.run("book", "--json") == 0
    document = json_out(capsys)
    assert document["loans_truncated"] is False
    [totals] = document["totals"]
    assert (totals["currency"], totals["loans"], totals["loans_open"], totals["outstanding_minor"],
            totals["fees"], totals["books_agree"]) == ("EUR", 2, 1, 41_000, "92.50", True)
    assert [loan["loan_id"] for loan in document["loans"]] == [APPLICATION_ID, "loan-0"]


def test_book__csv_file_has_one_row_per_loan(node, capsys, tmp_path):
    path = tmp_path / "book.csv"
    assert node.run("book", "--csv", str(path)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote 2 loans to {path}"
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert tuple(reader.fieldnames) == CSV_COLUMNS
    assert rows[0] == {
        "loan_id": APPLICATION_ID, "merchant_id": "acme", "account_id": "acme-settle", "currency": "EUR",
        "principal_minor": "50000", "fee_minor": "1250", "repaid_minor": "10250", "outstanding_minor": "41000",
        "status": "CURRENT", "grade": "B", "repayment_share_bp": "2000", "disbursed_at": "2030-01-01T00:00:00Z",
        "maturity_at": "2030-06-30T00:00:00Z", "last_repaid_at": "2030-01-04T00:00:00Z", "closed_at": "",
        "ever_overdue": "false"}
    assert (rows[1]["loan_id"], rows[1]["closed_at"], rows[1]["ever_overdue"]) == (
        "loan-0", "2029-12-31T00:00:00Z", "true")


def test_book__csv_to_stdout_is_only_the_csv(node, capsys):
    assert node.run("book", "--csv", "-") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(row["loan_id"], row["status"]) for row in rows] == [(APPLICATION_ID, "CURRENT"), ("loan-0", "REPAID")]


@pytest.mark.parametrize("target", ["-", "missing-folder/book.csv", "."])
def test_book__csv_that_cannot_be_written_exits_2_and_sends_nothing(node, capsys, tmp_path, target):
    extra = ["--json"] if target == "-" else []
    assert node.run("book", "--csv", target if target == "-" else str(tmp_path / target), *extra) == 2
    assert node.fake.requests == []
    assert capsys.readouterr().err.startswith("fedmall-node: --csv ")


def test_book__empty(node, capsys):
    node.fake.loans, node.fake.totals = [], []
    assert node.run("book") == 0
    assert capsys.readouterr().out == "no loans yet\n"
