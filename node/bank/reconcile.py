"""Reconciliation: a window's statement from the clearing against this bank's own books. Pure.

The statement lists every transfer the clearing committed for this bank in the
window. The books are what the node itself posted: one BookEntry per interbank
commit it recorded in that window (node.bank.settlement reads them). Every difference
is a break:

    MISSING_AT_NODE       on the statement, not in the books
    MISSING_AT_CLEARING   in the books for this window, not on the statement
    AMOUNT_DIFFERS        the same transfer with another amount or currency
    COUNTERPARTY_DIFFERS  the same transfer with another counterparty bank
    DIRECTION_DIFFERS     the same transfer, paid on one side and received on the other
    DUPLICATE             a transfer listed again on the statement (one break per repeat)
    OPENING_POSITION_DIFFERS  the statement's opening position is not what the books say
                          this bank owed, net, from the windows not settled when it opened
    OPENING_LIQUIDITY_DIFFERS the statement's opening liquidity is not what the books say
    STATEMENT_INCONSISTENT    the statement contradicts itself (entries against net,
                          opening - net against closing, movements against the liquidity):
                          one break per contradiction

The statement also lists the bank's liquidity movements stamped with the window (funds
in and out, settlements of earlier windows). They are matched by movement id against
the movements the books recorded for the window, with the same kinds of break (the
break's transfer_id then holds the movement id).

One transfer can break in several ways at once (amount and counterparty): each is
listed. No breaks is an acknowledgement; any break makes the answer a dispute.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from fedmall.statement_hash import statement_sha256
from fedmall.v1 import money_pb2, settlement_pb2

DEBIT = settlement_pb2.ENTRY_DIRECTION_DEBIT     # We paid.
CREDIT = settlement_pb2.ENTRY_DIRECTION_CREDIT   # We were paid.

MISSING_AT_NODE = settlement_pb2.BREAK_KIND_MISSING_AT_NODE
MISSING_AT_CLEARING = settlement_pb2.BREAK_KIND_MISSING_AT_CLEARING
AMOUNT_DIFFERS = settlement_pb2.BREAK_KIND_AMOUNT_DIFFERS
COUNTERPARTY_DIFFERS = settlement_pb2.BREAK_KIND_COUNTERPARTY_DIFFERS
DIRECTION_DIFFERS = settlement_pb2.BREAK_KIND_DIRECTION_DIFFERS
DUPLICATE = settlement_pb2.BREAK_KIND_DUPLICATE
OPENING_POSITION_DIFFERS = settlement_pb2.BREAK_KIND_OPENING_POSITION_DIFFERS
OPENING_LIQUIDITY_DIFFERS = settlement_pb2.BREAK_KIND_OPENING_LIQUIDITY_DIFFERS
STATEMENT_INCONSISTENT = settlement_pb2.BREAK_KIND_STATEMENT_INCONSISTENT

StatementEntry = settlement_pb2.StatementEntry
LiquidityMovement = settlement_pb2.LiquidityMovement
Break = settlement_pb2.ReconciliationBreak


@dataclass(frozen=True, slots=True)
class BookEntry:
    """One interbank commit as the node's books show it."""
    transfer_id: str
    direction: int              # DEBIT or CREDIT.
    counterparty_bank_id: str
    amount_minor: int
    currency: str
    reference: str
    committed_at_unix_ms: int

    def as_statement_entry(self) -> StatementEntry:
        return StatementEntry(
            transfer_id=self.transfer_id, direction=self.direction, counterparty_bank_id=self.counterparty_bank_id,
            amount=money_pb2.Money(amount_minor=self.amount_minor, currency=self.currency),
            reference=self.reference, committed_at_unix_ms=self.committed_at_unix_ms)


def find_breaks(statement_entries: Sequence[StatementEntry], book_entries: Sequence[BookEntry]) -> list[Break]:
    """Every break between the statement's transfers and the books: statement order, then
    book-only entries by id."""
    return _matched(statement_entries, [entry.as_statement_entry() for entry in book_entries],
                    id_of=lambda entry: entry.transfer_id, differences=_differences,
                    listed_field="clearing_entry", book_field="node_entry")


def _differences(listed: StatementEntry, book: StatementEntry) -> list[int]:
    kinds = []
    if listed.direction != book.direction:
        kinds.append(DIRECTION_DIFFERS)
    if listed.counterparty_bank_id != book.counterparty_bank_id:
        kinds.append(COUNTERPARTY_DIFFERS)
    if (listed.amount.amount_minor, listed.amount.currency) != (book.amount.amount_minor, book.amount.currency):
        kinds.append(AMOUNT_DIFFERS)
    return kinds


def find_movement_breaks(statement_movements: Sequence[LiquidityMovement],
                         book_movements: Sequence[LiquidityMovement]) -> list[Break]:
    """Every break between the liquidity movements listed and those in the books."""
    return _matched(statement_movements, book_movements, id_of=lambda movement: movement.movement_id,
                    differences=_movement_differences, listed_field="clearing_movement", book_field="node_movement")


def _movement_differences(listed: LiquidityMovement, book: LiquidityMovement) -> list[int]:
    kinds = [DIRECTION_DIFFERS] if listed.direction != book.direction else []
    if (listed.amount.amount_minor, listed.amount.currency) != (book.amount.amount_minor, book.amount.currency):
        kinds.append(AMOUNT_DIFFERS)
    return kinds


def _matched(listed_items: Sequence, book_items: Sequence, *, id_of: Callable[[object], str],
             differences: Callable[[object, object], list[int]], listed_field: str, book_field: str) -> list[Break]:
    """Match what the statement lists with the books by id: a repeat is DUPLICATE, one only listed
    MISSING_AT_NODE, one only in the books MISSING_AT_CLEARING, and each difference its break."""
    books = {id_of(item): item for item in book_items}
    assert len(books) == len(book_items), "the books list an item twice"
    breaks: list[Break] = []
    seen: set[str] = set()
    for listed in listed_items:
        item_id = id_of(listed)
        book = books.get(item_id)
        both = {listed_field: listed, book_field: book}
        if item_id in seen:
            breaks.append(Break(kind=DUPLICATE, transfer_id=item_id, **both))
        elif book is None:
            breaks.append(Break(kind=MISSING_AT_NODE, transfer_id=item_id, **{listed_field: listed}))
        else:
            breaks += [Break(kind=kind, transfer_id=item_id, **both) for kind in differences(listed, book)]
        seen.add(item_id)
    for item_id in sorted(set(books) - seen):
        breaks.append(Break(kind=MISSING_AT_CLEARING, transfer_id=item_id, **{book_field: books[item_id]}))
    return breaks


def liquidity_change_minor(movements: Sequence[LiquidityMovement], currency: str) -> int:
    """What the movements did to the bank's liquidity in currency."""
    return sum(m.amount.amount_minor if m.direction == CREDIT else -m.amount.amount_minor
               for m in movements if m.amount.currency == currency)


def net_minor(book_entries: Sequence[BookEntry], currency: str) -> int:
    """The books' credits - debits in currency."""
    return sum(entry.amount_minor if entry.direction == CREDIT else -entry.amount_minor
               for entry in book_entries if entry.currency == currency)


def parse_pages(pages: Sequence[bytes]) -> list[settlement_pb2.Statement]:
    """The pages of one statement, already verified and stored in page order."""
    statements = [settlement_pb2.Statement.FromString(page) for page in pages]
    assert statements, "a statement has at least one page"
    assert [s.page_index for s in statements] == list(range(len(statements))), "pages out of order"
    assert {(s.window_id, s.bank_id, s.page_count) for s in statements} == {
        (statements[0].window_id, statements[0].bank_id, len(statements))}, "pages of different statements"
    return statements


def statement_problems(statements: Sequence[settlement_pb2.Statement]) -> list[str]:
    """Where a complete statement contradicts itself (the clearing's bug, not a break); empty if sound."""
    first = statements[0]
    problems = [f"page {s.page_index} has another summary than page 0" for s in statements[1:]
                if _summary(s) != _summary(first)]
    entries = [entry for statement in statements for entry in statement.entries]
    if len(entries) != first.entry_count:
        problems.append(f"{len(entries)} entries on the pages, entry_count says {first.entry_count}")
    listed_net = sum(e.amount.amount_minor if e.direction == CREDIT else -e.amount.amount_minor
                     for e in entries if e.amount.currency == first.net.currency)
    if listed_net != first.net.amount_minor:
        problems.append(f"entries net to {listed_net}, the statement says {first.net.amount_minor}")
    currencies = {first.opening_position.currency, first.closing_position.currency, first.net.currency}
    if len(currencies) > 1:
        problems.append(f"opening, net and closing positions in different currencies: {sorted(currencies)}")
    elif first.opening_position.amount_minor - first.net.amount_minor != first.closing_position.amount_minor:
        problems.append(f"opening {first.opening_position.amount_minor} - net {first.net.amount_minor} is not "
                        f"the closing position {first.closing_position.amount_minor}")
    movements = [movement for statement in statements for movement in statement.movements]
    if len(movements) != first.movement_count:
        problems.append(f"{len(movements)} movements on the pages, movement_count says {first.movement_count}")
    opening, closing = first.opening_liquidity, first.closing_liquidity
    change_minor = liquidity_change_minor(movements, opening.currency)
    if opening.currency != closing.currency or opening.amount_minor + change_minor != closing.amount_minor:
        problems.append(f"opening liquidity {opening.amount_minor} {opening.currency} + movements {change_minor} is "
                        f"not the closing liquidity {closing.amount_minor} {closing.currency}")
    return problems


def _summary(statement: settlement_pb2.Statement) -> tuple:
    """What every page of one statement repeats."""
    return (statement.opening_position, statement.closing_position, statement.net, statement.entry_count,
            statement.audit_head, statement.movement_count, statement.opening_liquidity, statement.closing_liquidity)


def position_breaks(statements: Sequence[settlement_pb2.Statement], *, opening_minor: int,
                    opening_liquidity_minor: int | None = None) -> list[Break]:
    """The statement against itself, and its opening position and liquidity against the books'
    (in the statement's currency; opening_minor positive: this bank owed)."""
    breaks = [Break(kind=STATEMENT_INCONSISTENT, detail=problem) for problem in statement_problems(statements)]
    for kind, listed, books_minor in (
            (OPENING_POSITION_DIFFERS, statements[0].opening_position, opening_minor),
            (OPENING_LIQUIDITY_DIFFERS, statements[0].opening_liquidity, opening_liquidity_minor)):
        if books_minor is not None and listed.amount_minor != books_minor:
            breaks.append(Break(kind=kind, clearing_position=listed,
                                node_position=money_pb2.Money(amount_minor=books_minor, currency=listed.currency)))
    return breaks


def reconcile(*, window_id: int, bank_id: str, pages: Sequence[bytes], book_entries: Sequence[BookEntry],
              opening_minor: int, book_movements: Sequence[LiquidityMovement] = (),
              opening_liquidity_minor: int | None = None) -> settlement_pb2.Reconciliation:
    """This bank's answer to its statement for window_id: the breaks, the hash and its own net.
    opening_minor is what the books say this bank owed when the window opened, and
    opening_liquidity_minor its liquidity then (None: not checked)."""
    statements = parse_pages(pages)
    assert (statements[0].window_id, statements[0].bank_id) == (window_id, bank_id), "another statement"
    currency = statements[0].net.currency
    entries = [entry for statement in statements for entry in statement.entries]
    movements = [movement for statement in statements for movement in statement.movements]
    return settlement_pb2.Reconciliation(
        window_id=window_id, bank_id=bank_id, statement_sha256=statement_sha256(pages),
        breaks=(position_breaks(statements, opening_minor=opening_minor,
                                opening_liquidity_minor=opening_liquidity_minor)
                + find_breaks(entries, book_entries) + find_movement_breaks(movements, book_movements)),
        node_net=money_pb2.Money(amount_minor=net_minor(book_entries, currency), currency=currency))
