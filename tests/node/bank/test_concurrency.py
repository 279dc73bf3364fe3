"""Concurrent sends from one account, on SQLite and PostgreSQL: the funds check holds under
the account's row lock, no balance goes below zero, and the totals are exact. The database
refuses a customer balance below zero as well (migration 0008)."""
import pytest
import sqlalchemy as sa

from fedmall.v1 import result_pb2 as R

from node.bank import ledger, store
from node.bank.transfers import SendRequest
from tests.node.bank.test_services import OWED, FakeQuoter, Bank
from tests.support.concurrency import at_once
from tests.support.ids import uuid_of



@pytest.fixture(params=["sqlite", "postgresql"])
def bank(request, tmp_path):
    url = "" if request.param == "sqlite" else request.getfixturevalue("postgres_cluster").new_database()
    bank = Bank(tmp_path, "bank-a", FakeQuoter(), database_url=url)
    bank.accounts.open_account(account_id="alice", holder_name="Alice", currency="EUR")
    bank.accounts.deposit(deposit_id=uuid_of("d1"), account_id="alice", amount_minor=10_000, currency="EUR")
    yield bank
    bank.engine.dispose()


def test_sends__eight_at_once_from_one_account_never_overdraw_it(bank):
    def send(index: int):
        return lambda: bank.transfers.send_many([SendRequest(
            transfer_id=uuid_of(f"t{index}"), from_account_id="alice", payee_bank_id="bank-b", payee_account_id="bob",
            amount_minor=3_000, currency="EUR")])[0].result

    outcomes = at_once([send(index) for index in range(8)])
    assert sorted(outcomes) == sorted([R.RESULT_CODE_OK] * 3 + [R.RESULT_CODE_INSUFFICIENT_FUNDS] * 5)
    assert (bank.balance("alice"), bank.balance(OWED)) == (1_000, 9_000)
    assert bank.books_problems() == []


def test_database__refuses_a_customer_balance_below_zero_and_allows_an_internal_one(bank):
    cash = ledger.internal_account_id(ledger.CASH, "EUR")
    with pytest.raises(sa.exc.IntegrityError):
        with bank.engine.begin() as connection:
            store.write_entries(connection, [ledger.move("test:overdraft", "test", source="alice", destination=cash,
                                                         amount_minor=10_001, currency="EUR")], now_ms=1)
    assert bank.balance("alice") == 10_000 and bank.books_problems() == []
    assert bank.balance(cash) == -10_000   # The teller's deposit: internal accounts go below zero.
