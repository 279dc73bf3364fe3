"""`fedmall-node credit plans | plan | instalment-book` against a fake CreditService over real mTLS."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fedmall.v1 import credit_pb2 as C, credit_pb2_grpc, money_pb2, result_pb2 as R

from node.cli import main as cli_main
from tests.node.cli_support import fake_node_home, json_out

NOW_MS = 1_893_456_000_000  # 2030-01-01 00:00:00 UTC.
DAY_MS = 86_400_000
PLAN_ID = "7d0e4c1a-2b3c-4d5e-8f60-718293a4b5c6"


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


PLAN = C.InstalmentPlan(
    plan_id=PLAN_ID, buyer_account_id="ann", policy_name="Instalments 2026", instalments=3, principal=eur(12_000),
    fee=eur(0), late_fees=eur(1_000), repaid=eur(5_000), outstanding=eur(8_000), status=C.PLAN_STATUS_LATE,
    opened_at_unix_ms=NOW_MS, schedule=[
        C.Instalment(number=1, due_at_unix_ms=NOW_MS + 30 * DAY_MS, amount=eur(5_000), collected=eur(5_000),
                     status=C.INSTALMENT_STATUS_COLLECTED, attempts=3),
        C.Instalment(number=2, due_at_unix_ms=NOW_MS + 60 * DAY_MS, amount=eur(4_000), collected=eur(0),
                     status=C.INSTALMENT_STATUS_SCHEDULED),
        C.Instalment(number=3, due_at_unix_ms=NOW_MS + 90 * DAY_MS, amount=eur(4_000), collected=eur(0),
                     status=C.INSTALMENT_STATUS_SCHEDULED)])
TOTALS = C.InstalmentBookTotals(
    currency="EUR", plans=1, plans_open=1, financed=eur(12_000), fees=eur(0), late_fees=eur(1_000),
    repaid=eur(5_000), outstanding=eur(8_000), late=eur(8_000), defaulted=eur(0), lending_account=eur(8_000))


@dataclass
class FakeCredit(credit_pb2_grpc.CreditServiceServicer):
    requests: list = field(default_factory=list)
    result: int = R.RESULT_CODE_OK

    def GetInstalmentPlan(self, request, context):
        self.requests.append(request)
        if self.result != R.RESULT_CODE_OK:
            return C.GetInstalmentPlanResponse(result=self.result, detail="no plan")
        return C.GetInstalmentPlanResponse(result=R.RESULT_CODE_OK, plan=PLAN)

    def ListInstalmentPlans(self, request, context):
        self.requests.append(request)
        return C.ListInstalmentPlansResponse(result=R.RESULT_CODE_OK, plans=[PLAN])

    def GetInstalmentBook(self, request, context):
        self.requests.append(request)
        return C.GetInstalmentBookResponse(result=R.RESULT_CODE_OK, totals=[TOTALS], plans=[PLAN])


@pytest.fixture
def node(consortium):
    fake = FakeCredit()
    with fake_node_home(consortium, lambda server: credit_pb2_grpc.add_CreditServiceServicer_to_server(
            fake, server)) as home:
        yield fake, lambda *argv: cli_main(["credit", *argv, "--home", home])


def test_plan__the_schedule_as_a_table(node, capsys):
    fake, run = node
    assert run("plan", "--buyer", "ann", PLAN_ID) == 0
    out = capsys.readouterr().out
    assert "status       LATE" in out and "late fees    10.00 EUR" in out and "outstanding  80.00 EUR" in out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert rows == [["1", "2030-01-31", "50.00", "EUR", "50.00", "EUR", "COLLECTED", "3"],
                    ["2", "2030-03-02", "40.00", "EUR", "0.00", "EUR", "SCHEDULED", "0"],
                    ["3", "2030-04-01", "40.00", "EUR", "0.00", "EUR", "SCHEDULED", "0"]]
    assert (fake.requests[0].buyer_account_id, fake.requests[0].plan_id) == ("ann", PLAN_ID)


def test_plan__json_in_minor_units_and_a_refusal_exits_1(node, capsys):
    fake, run = node
    assert run("plan", "--buyer", "ann", PLAN_ID, "--json") == 0
    plan = json_out(capsys)
    assert (plan["outstanding_minor"], plan["status"], [item["status"] for item in plan["schedule"]]) == (
        8_000, "LATE", ["COLLECTED", "SCHEDULED", "SCHEDULED"])
    fake.result = R.RESULT_CODE_ORDER_UNKNOWN
    assert run("plan", "--buyer", "bob", PLAN_ID) == 1
    assert capsys.readouterr().err.strip() == "ORDER_UNKNOWN: no plan"


def test_plans_and_the_book__tables_and_json(node, capsys):
    _, run = node
    assert run("plans", "--buyer", "ann") == 0
    assert PLAN_ID in capsys.readouterr().out
    assert run("instalment-book") == 0
    out = capsys.readouterr().out
    assert "@consumer-lending" in out and "yes" in out and "ann" in out
    assert run("instalment-book", "--json") == 0
    [totals] = json_out(capsys)["totals"]
    assert (totals["outstanding_minor"], totals["lending_account_minor"], totals["books_agree"]) == (8_000, 8_000, True)
