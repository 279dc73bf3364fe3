"""A loan payoff racing sends from the same merchant account, on SQLite and PostgreSQL: each
is judged on the balance under the account's row lock, so the account never goes below zero
and every cent is accounted for."""
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from node.bank import ledger, store
from node.bank.fulfilment import FulfilmentKey
from node.bank.transfers import SendRequest, TransferService
from node.credit.loan_views import loan_book_problems
from tests.node.bank.test_services import FakeQuoter
from tests.node.books import balance, books_problems
from tests.node.credit.test_lending import clock, lending, node_engine  # noqa: F401
from tests.support.concurrency import at_once

ACCOUNT = "acct-m-good"


def test_payoff_and_sends__racing_on_one_account_never_overdraw_it(lending, node_engine, clock):
    lending.apply(application_id="loan-1", merchant_id="m-good", amount_minor=100_000, currency="EUR")
    with node_engine.begin() as connection:   # 1 500.00 in all; the loan needs 1 025.00 to pay off.
        store.write_entries(connection, [ledger.move("deposit:extra", "deposit", source=ledger.internal_account_id(
            ledger.CASH, "EUR"), destination=ACCOUNT, amount_minor=50_000, currency="EUR")], now_ms=clock.now_ms)
    transfers = TransferService(node_engine, bank_id="bank-a", fulfilment_key=FulfilmentKey(b"a" * 32),
                                quoter=FakeQuoter(), clock=clock, transfer_expiry_ms=30_000)
    def pay_off() -> int:
        try:
            return lending.pay_off(merchant_id="m-good", loan_id="loan-1")[0]
        except FedmallError as error:
            return error.code

    def send(index: int):
        return lambda: transfers.send_many([SendRequest(
            transfer_id=f"t{index}", from_account_id=ACCOUNT, payee_bank_id="bank-b", payee_account_id="bob",
            amount_minor=20_000, currency="EUR")])[0].result

    payoff, *sends = at_once([pay_off] + [send(index) for index in range(4)])
    paid_off = payoff == rc.RESULT_CODE_OK
    sent = sends.count(rc.RESULT_CODE_OK)
    assert set(sends) | {payoff} <= {rc.RESULT_CODE_OK, rc.RESULT_CODE_INSUFFICIENT_FUNDS}
    assert sent == (2 if paid_off else 4)   # 1 025.00 + 2 x 200.00 fit in 1 500.00; a third 200.00 does not.
    assert balance(node_engine, ACCOUNT) == 150_000 - (102_500 if paid_off else 0) - 20_000 * sent >= 0
    assert books_problems(node_engine) == []
    with node_engine.connect() as connection:
        assert loan_book_problems(connection) == []
