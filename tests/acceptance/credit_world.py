"""A small credit world on real nodes: a bakery at bank B selling to buyers at A (across
banks) and at B (book releases), and shortcuts to its bank's CreditService and the clearing's
settlement windows."""
from __future__ import annotations

from fedmall import tls
from fedmall.pki import Identity
from fedmall.v1 import credit_pb2 as cr, credit_pb2_grpc, marketplace_pb2 as mp
from fedmall.v1 import result_pb2 as rc

from tests.node.market.world import Market
from tests.support.federation import close_and_issue, wait_until

SELLER, MERCHANT, PRICE = "bank-b", "bakery", 30_000
ANN, BOB = ("bank-a", "ann"), ("bank-b", "bob")     # A buyer across banks, a buyer at the merchant's bank.


def provision(market: Market) -> Market:
    """Buyers at A and B with money; at B the bakery (selling loaves) and a florist."""
    for bank_id, buyer in (ANN, BOB):
        market.open_account(bank_id, buyer, deposit_minor=500_000)
    market.merchant(SELLER, MERCHANT)
    market.merchant(SELLER, "florist")
    market.product(SELLER, MERCHANT, "loaf", title="Sourdough crate", price_minor=PRICE, stock=100)
    return market


def credit(market: Market, bank_id: str = SELLER, *, as_bank: str | None = None) -> credit_pb2_grpc.CreditServiceStub:
    """The bank's CreditService, called with its own certificate (or another bank's)."""
    caller = market.world.banks[as_bank or bank_id]
    channel = tls.secure_channel(f"127.0.0.1:{market.world.banks[bank_id].node_port}", caller.tls,
                                 server=Identity(bank_id, "bank"))
    market.world._channels.append(channel)
    return credit_pb2_grpc.CreditServiceStub(channel)


def settlement_balance(market: Market) -> int:
    return market.balance(SELLER, f"settle-{MERCHANT}")


def sell(market: Market, buyer: tuple[str, str], *, paid_minor: int) -> str:
    """One loaf: checkout, ship, confirm; returns when paid_minor reached the merchant's account."""
    bank_id, account = buyer
    before = settlement_balance(market)
    checkout = market.checkout(bank_id, account, [(SELLER, MERCHANT, "loaf", 1, PRICE)])
    assert checkout.result == rc.RESULT_CODE_OK, checkout
    order_id = checkout.orders[0].order_id
    assert market.market(SELLER).ShipOrder(mp.ShipOrderRequest(
        merchant_id=MERCHANT, order_id=order_id, tracking_reference="T")).result == rc.RESULT_CODE_OK
    market.wait_buyer_state(bank_id, account, order_id, mp.ORDER_STATE_SHIPPED)
    assert market.market(bank_id).ConfirmReceipt(mp.ConfirmReceiptRequest(
        buyer_account_id=account, order_id=order_id)).result == rc.RESULT_CODE_OK
    wait_until(lambda: settlement_balance(market) == before + paid_minor, timeout_s=15)
    market.wait_seller_state(SELLER, MERCHANT, order_id, mp.ORDER_STATE_COMPLETED)
    return order_id


def settle_window(market: Market) -> None:
    """Close the open window; once every bank acknowledged its statement, settle it."""
    windows = market.world.clearing.windows
    window_id = close_and_issue(windows)
    wait_until(lambda: {answer.status for answer in windows.answers(window_id)} == {"acknowledged"}, timeout_s=20)
    windows.settle(window_id)
    for bank_id in market.world.banks:
        wait_until(lambda: market.internal(bank_id, "clearing") == 0)


def loan_of(market: Market, loan_id: str, merchant_id: str = MERCHANT) -> cr.GetLoanResponse:
    return credit(market).GetLoan(cr.GetLoanRequest(merchant_id=merchant_id, loan_id=loan_id))


def assert_loan_book_agrees(market: Market) -> None:
    book = credit(market).GetLoanBook(cr.GetLoanBookRequest())
    assert book.result == rc.RESULT_CODE_OK
    for totals in book.totals:
        assert totals.outstanding.amount_minor == totals.lending_account.amount_minor, totals
