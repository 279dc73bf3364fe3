"""Escrow statements: the buyer's bank proves to the seller's bank that it holds an order's money.

The buyer's bank writes escrow:<order> (buyer -x, @escrow +x) with the order, then signs an
EscrowStatement (fedmall.v1) naming the order id, both banks, the merchant, the amount and
currency, and that journal entry, with its own signing key (statement_of, SigningKey.sign),
and sends it with PlaceOrder. The seller's bank:

    1. opens the envelope with the key the clearing registered for the calling bank
       (open_statement: fedmall.envelope.open_envelope checks size, type, that the key is the
       caller's, the signature, and only then parses): UNKNOWN_KEY, SIGNER_NOT_PEER,
       INVALID_SIGNATURE, MALFORMED_PAYLOAD, ENVELOPE_TOO_LARGE; no statement: ESCROW_NOT_PROVED;
    2. checks every field against the order it is asked to reserve (statement_problems, pure):
       any difference is ESCROW_NOT_PROVED. The order's total is the sum of quantity x unit
       price, and every unit price must be the seller's own (node.market.seller_orders), so the
       amount proved is what the seller quotes;
    3. reserves, and keeps the signed bytes with the order (seller_orders.escrow_statement).

A statement is the buyer bank's signed word, not money: the seller's bank still bounds what
one buyer bank may hold reserved and for how long (node.market.seller_orders), and counts a
sale only once the release transfer has reached it. The signed word is what the seller's bank
shows the operator should the buyer's bank not pay.
"""
from __future__ import annotations

from fedmall.envelope import Envelope, KeyLookup, open_envelope
from fedmall.v1 import marketplace_pb2, money_pb2, result_pb2

from node.errors import Refused


def escrow_entry_id(order_id: str) -> str:
    """The buyer bank's journal entry that holds an order's money (node.market.buyer_orders)."""
    return f"escrow:{order_id}"


def statement_of(*, order_id: str, buyer_bank_id: str, seller_bank_id: str, merchant_id: str, amount_minor: int,
                 currency: str, escrowed_at_unix_ms: int) -> marketplace_pb2.EscrowStatement:
    return marketplace_pb2.EscrowStatement(
        order_id=order_id, buyer_bank_id=buyer_bank_id, seller_bank_id=seller_bank_id, merchant_id=merchant_id,
        amount=money_pb2.Money(amount_minor=amount_minor, currency=currency), escrow_entry_id=escrow_entry_id(order_id),
        escrowed_at_unix_ms=escrowed_at_unix_ms)


def statement_problems(statement: marketplace_pb2.EscrowStatement, *, order_id: str, buyer_bank_id: str,
                       seller_bank_id: str, merchant_id: str, total_minor: int, currency: str) -> list[str]:
    """What in a verified statement is not the order the seller is asked to reserve. Pure."""
    expected = dict(order_id=order_id, buyer_bank_id=buyer_bank_id, seller_bank_id=seller_bank_id,
                    merchant_id=merchant_id, escrow_entry_id=escrow_entry_id(order_id))
    problems = [f"{name} is {getattr(statement, name)!r}, not {value!r}"
                for name, value in expected.items() if getattr(statement, name) != value]
    if (statement.amount.amount_minor, statement.amount.currency) != (total_minor, currency):
        problems.append(f"amount is {statement.amount.amount_minor} {statement.amount.currency}, "
                        f"not {total_minor} {currency}")
    if statement.escrowed_at_unix_ms <= 0:
        problems.append("no escrow time")
    return problems


def open_statement(envelope: Envelope | None, *, buyer_bank_id: str, keys: KeyLookup
                   ) -> marketplace_pb2.EscrowStatement:
    """The statement in envelope, verified as signed by buyer_bank_id's registered key; else a
    FedmallError with the envelope's result code, or ESCROW_NOT_PROVED when there is none."""
    if envelope is None or not (envelope.payload or envelope.signature or envelope.key_id):
        raise Refused(result_pb2.RESULT_CODE_ESCROW_NOT_PROVED, "no escrow statement")
    return open_envelope(envelope, marketplace_pb2.EscrowStatement, expected_signer=buyer_bank_id, keys=keys)


def check_statement(envelope: Envelope | None, *, keys: KeyLookup, order_id: str, buyer_bank_id: str,
                    seller_bank_id: str, merchant_id: str, total_minor: int, currency: str) -> None:
    """Open and check the statement for this order; a refusal says why."""
    statement = open_statement(envelope, buyer_bank_id=buyer_bank_id, keys=keys)
    problems = statement_problems(statement, order_id=order_id, buyer_bank_id=buyer_bank_id,
                                  seller_bank_id=seller_bank_id, merchant_id=merchant_id, total_minor=total_minor,
                                  currency=currency)
    if problems:
        raise Refused(result_pb2.RESULT_CODE_ESCROW_NOT_PROVED,
                      f"the escrow statement is not for this order: {'; '.join(problems)}")
