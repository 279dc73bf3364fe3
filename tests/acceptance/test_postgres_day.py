"""A day of the whole federation on PostgreSQL, the production store: the clearing and every
node on their own databases. Payments across banks, marketplace orders across banks and
inside one, a loan repaid from both kinds of sale and paid off, a settlement window
reconciled and settled; every ledger, the loan book and the audit chain agree at the end."""
from __future__ import annotations

import uuid

import pytest

from fedmall.v1 import credit_pb2 as cr
from fedmall.v1 import result_pb2 as rc

from node.cli import main as node_cli
from tests.acceptance.credit_world import (
    ANN, BOB, MERCHANT, PRICE, assert_loan_book_agrees, credit, loan_of, provision, sell, settle_window)
from tests.acceptance.conftest import closed_at_rest
from tests.node.market.world import Market, eur
from tests.support.credit import permissive_policy


@pytest.fixture
def database_url(postgres_cluster):
    """The clearing's store (the world fixture reads it)."""
    return postgres_cluster.new_database()


@pytest.fixture
def market(world, postgres_cluster, tmp_path, request):
    market = Market(world)
    for bank_id in world.banks:
        market.start_node(bank_id, database_url=postgres_cluster.new_database(),
                          credit_policy_path=permissive_policy(tmp_path))
    yield provision(market)
    closed_at_rest(request, market)


def test_a_day_on_postgresql__payments_orders_a_loan_and_settlement_all_agree(market, monkeypatch, capsys):
    for bank_id in market.world.banks:
        assert market.nodes[bank_id].engine.dialect.name == "postgresql"
    market.open_account("bank-c", "cleo", deposit_minor=50_000)
    paid = [market.send("bank-a", "ann", "bank-c", "cleo", 1_250)[0], market.send("bank-c", "cleo", "bank-a", "ann", 700)[0]]
    assert [market.wait_final(payer, transfer_id).status for payer, transfer_id in zip(("bank-a", "bank-c"), paid)] \
        == ["COMMITTED", "COMMITTED"]

    for buyer in (ANN, BOB, BOB):
        sell(market, buyer, paid_minor=PRICE)
    loan_id = str(uuid.uuid4())
    applied = credit(market).ApplyForLoan(cr.ApplyForLoanRequest(
        application_id=loan_id, merchant_id=MERCHANT, amount=eur(20_000)))
    assert applied.result == rc.RESULT_CODE_OK, applied
    sell(market, ANN, paid_minor=PRICE - 6_000)
    sell(market, BOB, paid_minor=PRICE - 6_000)
    loan = loan_of(market, loan_id)
    assert [(line.kind, line.entry_id.split(":")[0]) for line in loan.statement] == [
        ("DISBURSED", "disburse"), ("SALES", "receive"), ("SALES", "release")]
    assert credit(market).PayOffLoan(cr.PayOffLoanRequest(
        merchant_id=MERCHANT, loan_id=loan_id)).loan.status == cr.LOAN_STATUS_REPAID

    settle_window(market)
    assert_loan_book_agrees(market)
    market.assert_invariants()
    for bank_id, bank in market.world.banks.items():  # The operator's check, on the node's database.
        monkeypatch.setenv("FEDMALL_NODE_DATABASE_URL", market.nodes[bank_id].config.database_url)
        assert node_cli(["ledger-check", "--home", str(bank.bundle), "--json"]) == 0, capsys.readouterr()
