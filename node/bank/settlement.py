"""Settlement windows at the node: statements, reconciliation, final settlement, aborts.

What the clearing says about a window arrives on the delivery stream and is applied
inside that delivery's transaction (node.bank.deliveries), together with the cursor:

    Statement         keep the page; once all page_count pages of the window are held,
                      reconcile them against the books and put the signed answer
                      (a Reconciliation) in the outbox table `reconciliations`
    SettlementReport  nothing beyond keeping the delivery (received_deliveries)
    WindowSettled     entry settlement:<window>: @clearing/<cur> +net, @liquidity/<cur> -net,
                      so @clearing again equals the clearing's position for this bank; and
                      the liquidity movement settlement:<window> for the statement named
    LiquidityMovement funds in or out: entry funds:<id>: @liquidity/<cur> -change,
                      @reserves/<cur> +change (the bank's own money outside the consortium),
                      so @liquidity is always minus the bank's liquidity at the clearing
    WindowAborted     this bank's transfers of the window move to the window named, its
                      liquidity movements to the next window; the window's pages and answer
                      are forgotten (the next statement covers them)

The books for window N are the node's postings on @clearing/<cur> made by the commit
of an interbank transfer (entry settle:<id> as payer: DEBIT, receive:<id> as payee:
CREDIT), joined to the outgoing or incoming row whose window_id is N, which names the
counterparty. The ReconciliationSubmitter (node.bank.reconciliations) sends the answers.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall import logs
from fedmall.database import read_connection, sum_of
from fedmall.envelope import SigningKey
from fedmall import limits as protocol
from fedmall import wellformed
from fedmall.money import CURRENCY_EXPONENTS, format_money, is_valid_amount
from fedmall.v1 import envelope_pb2, money_pb2, result_pb2, settlement_pb2

from node import limits
from node.bank import ledger, reconcile, store
from node.errors import Refused

log = logging.getLogger(__name__)

SETTLEMENT_ENTRY_KIND = "settlement"
FUNDS_ENTRY_KIND = "funds"
FUNDS_IN = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_IN
FUNDS_OUT = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_OUT
SETTLEMENT = settlement_pb2.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT
WAITING, ACKNOWLEDGED, DISPUTED = "waiting for pages", "acknowledged", "disputed"


def settlement_entry_id(window_id: int) -> str:
    return f"settlement:{window_id}"


def needs_answer(statement: settlement_pb2.Statement) -> bool:
    """Does the clearing wait for this bank's answer before it settles the window? Only when
    the bank paid or was paid in it (the rule of clearing.windows.needs_answer, seen from the
    statement). The node answers an idle statement all the same (a dispute still counts), but
    the window may be settled before the answer arrives; the clearing then refuses it
    (WINDOW_STATE_INVALID), which is expected, not an operator's concern."""
    return statement.entry_count > 0


# Checks of what the clearing sent, before anything is applied. Outside input: Refused, never assert.

def _refuse(code: int, message: str) -> None:
    raise Refused(code, message)


def check_statement(statement: settlement_pb2.Statement, *, bank_id: str) -> None:
    if statement.bank_id != bank_id:
        _refuse(result_pb2.RESULT_CODE_FORBIDDEN, f"statement for {statement.bank_id!r}")
    if statement.window_id <= 0:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, f"statement for window {statement.window_id}")
    if not 0 < statement.page_count <= limits.statement_pages_per_window_max:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, f"statement of {statement.page_count} pages")
    if not 0 <= statement.page_index < statement.page_count:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD,
                f"page {statement.page_index} of a statement of {statement.page_count} pages")
    if len(statement.entries) > limits.statement_entries_per_page_max:
        _refuse(result_pb2.RESULT_CODE_BATCH_TOO_LARGE, f"{len(statement.entries)} entries on one page")
    if len(statement.movements) > limits.statement_entries_per_page_max:
        _refuse(result_pb2.RESULT_CODE_BATCH_TOO_LARGE, f"{len(statement.movements)} movements on one page")
    # Ids in their one spelling, references without control or bidirectional characters: what the
    # clearing accepts from members (fedmall.wellformed), so a page that breaks it is refused whole.
    problem = next(filter(None, (wellformed.statement_entry_problem(entry) for entry in statement.entries)), None)
    problem = problem or next(filter(None, (wellformed.movement_problem(m) for m in statement.movements)), None)
    if problem is not None:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, str(problem))


def check_window_settled(settled: settlement_pb2.WindowSettled, *, bank_id: str) -> None:
    if settled.bank_id != bank_id:
        _refuse(result_pb2.RESULT_CODE_FORBIDDEN, f"settlement for {settled.bank_id!r}")
    if settled.window_id <= 0:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, f"settlement of window {settled.window_id}")
    if settled.net.currency not in CURRENCY_EXPONENTS:
        _refuse(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED, f"settlement in {settled.net.currency!r}")
    if abs(settled.net.amount_minor) > protocol.position_minor_max:  # A window's net, not one amount.
        _refuse(result_pb2.RESULT_CODE_INVALID_AMOUNT, f"settlement net {settled.net.amount_minor}")
    if settled.statement_window_id <= settled.window_id:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, f"settlement of window {settled.window_id} listed on the "
                                                      f"statement of window {settled.statement_window_id}")


def check_liquidity_movement(movement: settlement_pb2.LiquidityMovement, *, bank_id: str) -> None:
    """Funds in or out (a settlement arrives as WindowSettled)."""
    if movement.bank_id != bank_id:
        _refuse(result_pb2.RESULT_CODE_FORBIDDEN, f"liquidity movement of {movement.bank_id!r}")
    expected_direction = {FUNDS_IN: reconcile.CREDIT, FUNDS_OUT: reconcile.DEBIT}.get(movement.kind)
    if expected_direction is None or movement.direction != expected_direction:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, f"liquidity movement of kind {movement.kind} "
                                                      f"in direction {movement.direction}")
    if not movement.movement_id.startswith("funds:") or len(movement.movement_id) > limits.movement_id_length_max:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, f"liquidity movement id {movement.movement_id[:100]!r}")
    if movement.window_id <= 0 or wellformed.movement_problem(movement) is not None:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD, f"liquidity movement {movement.movement_id!r}")
    if movement.amount.currency not in CURRENCY_EXPONENTS:
        _refuse(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED, f"liquidity movement in {movement.amount.currency!r}")
    if not is_valid_amount(movement.amount.amount_minor):
        _refuse(result_pb2.RESULT_CODE_INVALID_AMOUNT, f"liquidity movement of {movement.amount.amount_minor}")


def check_window_aborted(aborted: settlement_pb2.WindowAborted) -> None:
    if aborted.window_id <= 0 or aborted.moved_to_window_id <= 0 or aborted.window_id == aborted.moved_to_window_id:
        _refuse(result_pb2.RESULT_CODE_INVALID_FIELD,
                f"window {aborted.window_id} aborted into window {aborted.moved_to_window_id}")


# Reading the books -----------------------------------------------------------------------

def read_window_books(connection: sa.Connection, window_id: int) -> list[reconcile.BookEntry]:
    """This node's interbank commits in window_id, as its @clearing postings show them."""
    postings, journal = store.postings, store.journal_entries
    clearing_accounts = [ledger.internal_account_id(ledger.CLEARING, currency) for currency in sorted(CURRENCY_EXPONENTS)]
    sides = (
        # Table, entry id prefix, direction, counterparty column, sign of the @clearing posting.
        (store.outgoing_transfers, "settle:", reconcile.DEBIT, store.outgoing_transfers.c.payee_bank_id, 1),
        (store.incoming_transfers, "receive:", reconcile.CREDIT, store.incoming_transfers.c.payer_bank_id, -1),
    )
    entries = []
    for table, prefix, direction, counterparty, sign in sides:
        rows = connection.execute(
            sa.select(table.c.transfer_id, counterparty.label("counterparty_bank_id"), table.c.reference,
                      postings.c.currency, sum_of(postings.c.amount_minor).label("posted_minor"),
                      sa.func.min(journal.c.created_at_unix_ms).label("committed_at_unix_ms"))
            .select_from(table
                         .join(postings, postings.c.entry_id == sa.literal(prefix) + table.c.transfer_id)
                         .join(journal, journal.c.entry_id == postings.c.entry_id))
            .where(table.c.window_id == window_id, postings.c.account_id.in_(clearing_accounts))
            .group_by(table.c.transfer_id, counterparty, table.c.reference, postings.c.currency)
            .order_by(table.c.transfer_id))
        entries += [reconcile.BookEntry(
            transfer_id=row.transfer_id, direction=direction, counterparty_bank_id=row.counterparty_bank_id,
            amount_minor=sign * row.posted_minor, currency=row.currency, reference=row.reference,
            committed_at_unix_ms=row.committed_at_unix_ms) for row in rows]
    return entries


def read_opening_position(connection: sa.Connection, window_id: int, currency: str) -> int:
    """What the books say this bank owed through the clearing when window_id opened (positive:
    it owed): its @clearing postings, less those of the commits in window_id and later ones.

    Exact when the statement is applied: the stream is ordered, so a window settled before
    the statement was issued has its settlement entry here already, and one settled after
    it has not."""
    postings, clearing = store.postings, ledger.internal_account_id(ledger.CLEARING, currency)
    posted = sa.func.coalesce(sum_of(postings.c.amount_minor), 0)
    total_minor = connection.scalar(sa.select(posted).where(postings.c.account_id == clearing))
    for table, prefix in ((store.outgoing_transfers, "settle:"), (store.incoming_transfers, "receive:")):
        total_minor -= connection.scalar(
            sa.select(posted)
            .select_from(table.join(postings, postings.c.entry_id == sa.literal(prefix) + table.c.transfer_id))
            .where(table.c.window_id >= window_id, postings.c.account_id == clearing))
    return total_minor


def read_window_movements(connection: sa.Connection, window_id: int) -> list[settlement_pb2.LiquidityMovement]:
    """The liquidity movements the books hold for window_id's statement: those of the windows
    after this bank's previous statement, up to this one (as clearing.movements lists them)."""
    table = store.liquidity_movements
    return [_movement(row) for row in connection.execute(
        sa.select(table).where(table.c.window_id > _previous_statement_window(connection, window_id),
                               table.c.window_id <= window_id).order_by(table.c.movement_id))]


def _previous_statement_window(connection: sa.Connection, window_id: int) -> int:
    """The window of this bank's statement before window_id (0 for none); an aborted window's
    pages are gone (apply_window_aborted)."""
    pages = store.statement_pages
    return connection.scalar(sa.select(sa.func.coalesce(sa.func.max(pages.c.window_id), 0))
                             .where(pages.c.window_id < window_id))


def _movement(row: sa.Row) -> settlement_pb2.LiquidityMovement:
    return settlement_pb2.LiquidityMovement(
        movement_id=row.movement_id, kind=row.kind, direction=row.direction,
        amount=money_pb2.Money(amount_minor=row.amount_minor, currency=row.currency), window_id=row.window_id,
        settled_window_id=row.settled_window_id, external_reference=row.external_reference,
        recorded_at_unix_ms=row.recorded_at_unix_ms)


def read_opening_liquidity(connection: sa.Connection, window_id: int, currency: str) -> int:
    """This bank's liquidity at the clearing, as the books say, before window_id's statement:
    minus @liquidity, less the movements it lists (read_window_movements) and later ones."""
    postings, table = store.postings, store.liquidity_movements
    liquidity_minor = -connection.scalar(
        sa.select(sa.func.coalesce(sum_of(postings.c.amount_minor), 0))
        .where(postings.c.account_id == ledger.internal_account_id(ledger.LIQUIDITY, currency)))
    later = connection.execute(sa.select(table.c.direction, table.c.amount_minor).where(
        table.c.window_id > _previous_statement_window(connection, window_id), table.c.currency == currency))
    return liquidity_minor - sum(amount if direction == reconcile.CREDIT else -amount for direction, amount in later)


# Views for the operator ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WindowView:
    window_id: int
    pages_held: int
    pages_expected: int
    currency: str
    statement_net_minor: int
    node_net_minor: int | None       # None until reconciled.
    break_count: int | None          # None until reconciled.
    answer: str                      # WAITING, ACKNOWLEDGED or DISPUTED.
    sent: bool
    answer_result: int               # The clearing's result code once sent, else 0.


def read_windows(connection: sa.Connection) -> list[WindowView]:
    """One view per window this node holds statement pages for, oldest first."""
    pages = store.statement_pages
    answers = {row.window_id: row for row in connection.execute(sa.select(store.reconciliations))}
    counts = connection.execute(
        sa.select(pages.c.window_id, sa.func.count().label("held"), sa.func.max(pages.c.page_count).label("expected"),
                  sa.func.min(pages.c.page_index).label("first"))
        .group_by(pages.c.window_id).order_by(pages.c.window_id)).all()
    views = []
    for count in counts:  # Every page carries the summary: the first one held will do.
        payload = connection.scalar(sa.select(pages.c.payload).where(
            pages.c.window_id == count.window_id, pages.c.page_index == count.first))
        views.append(_window_view(count, settlement_pb2.Statement.FromString(payload), answers.get(count.window_id)))
    return views


def _window_view(count, statement: settlement_pb2.Statement, answer) -> WindowView:
    node_net_minor = break_count = None
    if answer is not None:
        reconciliation = settlement_pb2.Reconciliation.FromString(
            envelope_pb2.Envelope.FromString(answer.envelope).payload)
        node_net_minor, break_count = reconciliation.node_net.amount_minor, answer.break_count
    return WindowView(
        window_id=count.window_id, pages_held=count.held, pages_expected=count.expected,
        currency=statement.net.currency, statement_net_minor=statement.net.amount_minor,
        node_net_minor=node_net_minor, break_count=break_count,
        answer=WAITING if answer is None else ACKNOWLEDGED if answer.break_count == 0 else DISPUTED,
        sent=bool(answer is not None and answer.sent), answer_result=answer.answer_result if answer is not None else 0)


def read_reconciliation(connection: sa.Connection, window_id: int) -> settlement_pb2.Reconciliation | None:
    """The answer this node signed for window_id, or None."""
    envelope = connection.scalar(
        sa.select(store.reconciliations.c.envelope).where(store.reconciliations.c.window_id == window_id))
    if envelope is None:
        return None
    return settlement_pb2.Reconciliation.FromString(envelope_pb2.Envelope.FromString(envelope).payload)


# The service ---------------------------------------------------------------------------------

class SettlementService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, signing_key: SigningKey,
                 clock: Callable[[], float]) -> None:
        self._engine = engine
        self._bank_id = bank_id
        self._signing_key = signing_key
        self._clock = clock

    # Applied in the delivery's transaction ---------------------------------------------

    def apply_statement(self, connection: sa.Connection, envelope: envelope_pb2.Envelope,
                        statement: settlement_pb2.Statement, *, now_ms: int) -> bool:
        """Keep a verified page; reconcile when it completes its window. True when an answer was written."""
        pages = store.statement_pages
        window_id = statement.window_id
        held = connection.scalar(sa.select(pages.c.payload).where(
            pages.c.window_id == window_id, pages.c.page_index == statement.page_index))
        if held is None:
            connection.execute(pages.insert().values(
                window_id=window_id, page_index=statement.page_index, page_count=statement.page_count,
                payload=envelope.payload, key_id=envelope.key_id, signature=envelope.signature,
                received_at_unix_ms=now_ms))
        elif held != envelope.payload:
            log.error("statement page %d of window %d differs from the one held; the first is kept",
                      statement.page_index, window_id, extra=logs.fields(window_id=window_id))
            return False
        answered = connection.scalar(sa.select(store.reconciliations.c.window_id)
                                     .where(store.reconciliations.c.window_id == window_id))
        if answered is not None:
            return False
        held_pages = connection.execute(sa.select(pages.c.page_count, pages.c.payload)
                                        .where(pages.c.window_id == window_id).order_by(pages.c.page_index)).all()
        if {row.page_count for row in held_pages} != {statement.page_count}:
            log.error("statement pages of window %d disagree on the page count; not reconciled", window_id,
                      extra=logs.fields(window_id=window_id))
            return False
        if len(held_pages) < statement.page_count:
            return False
        self._reconcile(connection, window_id, [row.payload for row in held_pages], now_ms=now_ms)
        return True

    def reconcile_again(self, window_id: int) -> int:
        """Answer a window's statement again from the books as they are now, withdrawing the
        answer sent before (after the books were restored or corrected: an operator's
        decision). The submitter sends it. Returns its break count."""
        pages = store.statement_pages
        with self._engine.begin() as connection:
            held = connection.execute(sa.select(pages.c.page_count, pages.c.payload)
                                      .where(pages.c.window_id == window_id).order_by(pages.c.page_index)).all()
            if not held:
                _refuse(result_pb2.RESULT_CODE_WINDOW_NOT_FOUND, f"no statement held for window {window_id}")
            if len(held) < held[0].page_count:
                _refuse(result_pb2.RESULT_CODE_WINDOW_STATE_INVALID,
                        f"window {window_id}: {len(held)} of {held[0].page_count} statement pages held")
            connection.execute(store.reconciliations.delete().where(store.reconciliations.c.window_id == window_id))
            return self._reconcile(connection, window_id, [row.payload for row in held],
                                   now_ms=int(self._clock() * 1000), withdraws_previous=True)

    def _reconcile(self, connection: sa.Connection, window_id: int, pages: list[bytes], *, now_ms: int,
                   withdraws_previous: bool = False) -> int:
        currency = reconcile.parse_pages(pages)[0].opening_position.currency
        answer = reconcile.reconcile(window_id=window_id, bank_id=self._bank_id, pages=pages,
                                     book_entries=read_window_books(connection, window_id),
                                     opening_minor=read_opening_position(connection, window_id, currency),
                                     book_movements=read_window_movements(connection, window_id),
                                     opening_liquidity_minor=read_opening_liquidity(connection, window_id, currency))
        for found in answer.breaks:
            if found.kind == reconcile.STATEMENT_INCONSISTENT:
                log.error("statement of window %d contradicts itself: %s", window_id, found.detail,
                          extra=logs.fields(window_id=window_id))
        answer.withdraws_previous = withdraws_previous
        break_count = len(answer.breaks)
        if break_count > limits.reconciliation_breaks_max:
            log.error("window %d: %d breaks, the answer lists the first %d", window_id, break_count,
                      limits.reconciliation_breaks_max, extra=logs.fields(window_id=window_id, breaks=break_count))
            del answer.breaks[limits.reconciliation_breaks_max:]
        if break_count:
            log.warning("window %d: DISPUTED with %d breaks", window_id, break_count,
                        extra=logs.fields(window_id=window_id, breaks=break_count))
        else:
            log.info("window %d: statement agrees with the books", window_id, extra=logs.fields(window_id=window_id))
        envelope = self._signing_key.sign(answer)
        connection.execute(store.reconciliations.insert().values(
            window_id=window_id, envelope=envelope.SerializeToString(deterministic=True), break_count=break_count,
            sent=False, answer_result=result_pb2.RESULT_CODE_UNSPECIFIED, created_at_unix_ms=now_ms,
            sent_at_unix_ms=None))
        return break_count

    def apply_window_settled(self, connection: sa.Connection, settled: settlement_pb2.WindowSettled, *,
                             now_ms: int) -> None:
        """Final settlement: @clearing +net, @liquidity -net, and its liquidity movement, once per window."""
        net_minor, currency = settled.net.amount_minor, settled.net.currency
        entry_id = settlement_entry_id(settled.window_id)
        if net_minor == 0 or store.existing_entry_ids(connection, [entry_id]):
            return
        store.ensure_internal_accounts(connection, now_ms=now_ms)  # @liquidity of a node older than it.
        store.write_entries(connection, [ledger.Entry(entry_id=entry_id, kind=SETTLEMENT_ENTRY_KIND, postings=(
            ledger.Posting(account_id=ledger.internal_account_id(ledger.CLEARING, currency),
                           amount_minor=net_minor, currency=currency),
            ledger.Posting(account_id=ledger.internal_account_id(ledger.LIQUIDITY, currency),
                           amount_minor=-net_minor, currency=currency),
        ))], now_ms=now_ms)
        connection.execute(store.liquidity_movements.insert().values(
            movement_id=entry_id, kind=SETTLEMENT, direction=reconcile.CREDIT if net_minor > 0 else reconcile.DEBIT,
            amount_minor=abs(net_minor), currency=currency, window_id=settled.statement_window_id,
            settled_window_id=settled.window_id, external_reference="", recorded_at_unix_ms=settled.settled_at_unix_ms,
            entry_id=entry_id))
        log.info("window %d settled: net %s", settled.window_id, format_money(net_minor, currency),
                 extra=logs.fields(window_id=settled.window_id, net=format_money(net_minor, currency)))

    def apply_liquidity_movement(self, connection: sa.Connection, movement: settlement_pb2.LiquidityMovement, *,
                                 now_ms: int) -> None:
        """Funds in or out: @liquidity -change, @reserves +change, and the movement, once."""
        table = store.liquidity_movements
        if connection.scalar(sa.select(table.c.movement_id).where(table.c.movement_id == movement.movement_id)):
            return
        currency = movement.amount.currency
        change_minor = reconcile.liquidity_change_minor([movement], currency)
        store.ensure_internal_accounts(connection, now_ms=now_ms)  # @reserves of a node older than it.
        store.write_entries(connection, [ledger.Entry(entry_id=movement.movement_id, kind=FUNDS_ENTRY_KIND, postings=(
            ledger.Posting(account_id=ledger.internal_account_id(ledger.LIQUIDITY, currency),
                           amount_minor=-change_minor, currency=currency),
            ledger.Posting(account_id=ledger.internal_account_id(ledger.RESERVES, currency),
                           amount_minor=change_minor, currency=currency),
        ))], now_ms=now_ms)
        connection.execute(table.insert().values(
            movement_id=movement.movement_id, kind=movement.kind, direction=movement.direction,
            amount_minor=movement.amount.amount_minor, currency=currency, window_id=movement.window_id,
            settled_window_id=0, external_reference=movement.external_reference,
            recorded_at_unix_ms=movement.recorded_at_unix_ms, entry_id=movement.movement_id))
        log.info("liquidity %s: %s (%s)", "in" if change_minor > 0 else "out",
                 format_money(abs(change_minor), currency), movement.external_reference,
                 extra=logs.fields(movement_id=movement.movement_id, window_id=movement.window_id,
                                   amount=format_money(abs(change_minor), currency)))

    def apply_window_aborted(self, connection: sa.Connection, aborted: settlement_pb2.WindowAborted, *,
                             now_ms: int) -> None:
        """The window's transfers now belong to moved_to_window_id; its statement no longer counts."""
        for table in (store.outgoing_transfers, store.incoming_transfers):
            connection.execute(table.update().where(table.c.window_id == aborted.window_id)
                               .values(window_id=aborted.moved_to_window_id, updated_at_unix_ms=now_ms))
        movements = store.liquidity_movements
        connection.execute(movements.update().where(movements.c.window_id == aborted.window_id)
                           .values(window_id=aborted.window_id + 1))
        for table in (store.statement_pages, store.reconciliations):
            connection.execute(table.delete().where(table.c.window_id == aborted.window_id))
        log.warning("window %d aborted; its transfers moved to window %d", aborted.window_id,
                    aborted.moved_to_window_id,
                    extra=logs.fields(window_id=aborted.window_id, moved_to_window_id=aborted.moved_to_window_id))

    # The outbox, as the submitter sees it ------------------------------------------------

    def statement_needs_answer(self, window_id: int) -> bool:
        """needs_answer for the statement held for window_id (True when none is held)."""
        pages = store.statement_pages
        with read_connection(self._engine) as connection:
            payload = connection.scalar(sa.select(pages.c.payload).where(pages.c.window_id == window_id)
                                        .order_by(pages.c.page_index).limit(1))
        return payload is None or needs_answer(settlement_pb2.Statement.FromString(payload))

    def pending_reconciliations(self, *, limit: int) -> list[tuple[int, envelope_pb2.Envelope]]:
        assert 0 < limit <= limits.reconciliations_per_step_max
        table = store.reconciliations
        with read_connection(self._engine) as connection:
            rows = connection.execute(sa.select(table.c.window_id, table.c.envelope)
                                      .where(table.c.sent.is_(False)).order_by(table.c.window_id).limit(limit)).all()
        return [(row.window_id, envelope_pb2.Envelope.FromString(row.envelope)) for row in rows]

    def mark_reconciliation_sent(self, window_id: int, result: int) -> None:
        """Record the clearing's definitive answer (OK, EXISTS or a refusal)."""
        table = store.reconciliations
        with self._engine.begin() as connection:
            connection.execute(table.update().where(table.c.window_id == window_id)
                               .values(sent=True, answer_result=result, sent_at_unix_ms=int(self._clock() * 1000)))
