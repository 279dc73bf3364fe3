"""Notices that contradict what the node already recorded (late, repeated, reordered): each is
ignored and nothing moves. These are the double-pay paths."""
import pytest

from fedmall.v1 import result_pb2 as R
from fedmall.v1 import transfer_pb2

from tests.node.bank.test_services import (  # noqa: F401
    CLEARING, OWED, bank_a, bank_b, consumer, delivery, incoming_prepare, notice, quoter, send)
from tests.support.ids import uuid_of

RESERVED, COMMITTED, ABORTED = (transfer_pb2.TRANSFER_STATE_RESERVED, transfer_pb2.TRANSFER_STATE_COMMITTED,
                                transfer_pb2.TRANSFER_STATE_ABORTED)


def payer_books(bank) -> tuple:
    return bank.balance("alice"), bank.balance(OWED), bank.balance(CLEARING), bank.postings_count()


@pytest.mark.parametrize("first, then, status", [
    (COMMITTED, ABORTED, "COMMITTED"),    # A late abort must not give the money back a second time.
    (ABORTED, COMMITTED, "ABORTED"),      # A commit after the reversal must not take it again.
    (COMMITTED, RESERVED, "COMMITTED"),   # Reordered: a reservation after the outcome.
    (ABORTED, RESERVED, "ABORTED"),
])
def test_payer__a_notice_contradicting_the_outcome_moves_nothing(bank_a, first, then, status):
    bank_a.transfers.send(send())
    [prepare] = bank_a.transfers.pending_prepares(limit=10)
    handler = consumer(bank_a, "bank-a")
    handler.handle(delivery(1, "bank-a", [notice(prepare, first, result=R.RESULT_CODE_OK if first == COMMITTED
                                                 else R.RESULT_CODE_EXPIRED)]))
    books = payer_books(bank_a)
    handler.handle(delivery(2, "bank-a", [notice(prepare, then, result=R.RESULT_CODE_OK if then != ABORTED
                                                 else R.RESULT_CODE_EXPIRED)]))
    assert payer_books(bank_a) == books
    assert bank_a.transfers.get_record(uuid_of("t1")).status == status
    assert bank_a.books_problems() == []


@pytest.mark.parametrize("then", [ABORTED, RESERVED, COMMITTED])
def test_payee__after_a_commit_a_later_notice_moves_nothing(bank_b, then):
    prepare = incoming_prepare(None)
    handler = consumer(bank_b, "bank-b")
    handler.handle(delivery(1, "bank-b", [notice(prepare, RESERVED)]))
    handler.handle(delivery(2, "bank-b", [notice(prepare, COMMITTED)]))
    books = (bank_b.balance("bob"), bank_b.balance(CLEARING), bank_b.postings_count())
    assert books[0] == 2_500
    handler.handle(delivery(3, "bank-b", [notice(prepare, then, result=R.RESULT_CODE_EXPIRED if then == ABORTED
                                                 else R.RESULT_CODE_OK)]))
    assert (bank_b.balance("bob"), bank_b.balance(CLEARING), bank_b.postings_count()) == books
    assert bank_b.books_problems() == []


def test_payee__a_commit_after_an_abort_moves_nothing_and_is_left_to_reconciliation(bank_b):
    """The clearing never commits an aborted transfer; if the stream said so, the node keeps
    its books as they are and the window's statement shows the transfer as a break."""
    prepare = incoming_prepare(None)
    handler = consumer(bank_b, "bank-b")
    handler.handle(delivery(1, "bank-b", [notice(prepare, RESERVED)]))
    handler.handle(delivery(2, "bank-b", [notice(prepare, ABORTED, result=R.RESULT_CODE_EXPIRED)]))
    books = (bank_b.balance("bob"), bank_b.balance(CLEARING), bank_b.postings_count())
    handler.handle(delivery(3, "bank-b", [notice(prepare, COMMITTED)]))
    assert (bank_b.balance("bob"), bank_b.balance(CLEARING), bank_b.postings_count()) == books == (0, 0, books[2])
    assert bank_b.books_problems() == []
