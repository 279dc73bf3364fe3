"""Every money invariant of a federation, read straight from the clearing's database and
each node's (running or stopped). The demo, the benchmark, the acceptance tests and the
fault suite all judge a federation with check(); nothing here is an assert, so a run
reports every broken invariant at once, each with the numbers behind it.

Most invariants hold only at rest (nothing in flight): wait for that before checking.

    ledgers_balanced        every node's entries balance, its balances equal their postings,
                            its loan book equals its @lending account and its instalment plans
                            its @consumer-lending account
    nothing_in_flight       every transfer final at payer, clearing and payee; nothing reserved
                            or owed to the clearing; every delivery, order event, review
                            and reconciliation answer delivered
    transfers_agree         payer, clearing and payee agree on each transfer's outcome, and each
                            bank holds exactly the journal entries that outcome implies
    escrow_matches_orders   each node's @escrow holds exactly its buyers' open orders
    money_conserved         customers' money plus escrow equals deposits plus loans disbursed
                            and checkouts financed, minus what loans and plans were repaid,
                            across the federation (read from the causes' own tables, not the ledger)
    positions_match         positions recomputed from the committed transfers of unsettled
                            windows equal the stored ones and sum to zero, and so does each
                            bank's unsettled gross (with its reservations); each node's
                            @clearing equals its position; each bank's liquidity is what its
                            funds in and out and settled nets add up to, and its node's
                            @liquidity is minus that
    statements_consistent   every statement's opening minus its net is its closing, its entries
                            add up to its net, and it says what the window's nets and transfers
                            say; each bank's statements chain (opening position = previous
                            closing + settlements listed, opening liquidity = previous closing)
    windows_reconciled      every closed window answered with no break by every member that had
                            transfers in it (an idle one need not answer: clearing.windows.needs_answer,
                            but may not dispute), and its committed transfers are exactly those the
                            payers booked in it
    audit_chain_intact      the clearing's hash chain verifies
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, TypeVar

import sqlalchemy as sa

from fedmall.database import make_engine, read_connection
from fedmall.money import format_money
from fedmall.v1 import envelope_pb2, settlement_pb2, transfer_pb2

from clearing import audit, store as clearing_store
from clearing.movements import StatementMovements
from clearing.transfers import state_name as transfer_state_name
from clearing.windows import needs_answer
from node.bank import ledger, reconcile, store as node_store
from node.credit import store as credit_store
from node.credit.instalments import instalment_book_problems
from node.credit.loan_views import loan_book_problems
from node.market import store as market_store
from node.market.buyer_orders import escrow_held_by_currency
from node.market.reviews import ASK_AGAIN

COMMITTED_AT_CLEARING = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED_AT_CLEARING = transfer_pb2.TRANSFER_STATE_ABORTED
RESERVED_AT_CLEARING = transfer_pb2.TRANSFER_STATE_RESERVED
CLOSED_STATES = (settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT, settlement_pb2.WINDOW_STATE_SETTLED)
SETTLED = settlement_pb2.WINDOW_STATE_SETTLED
FINAL = ("COMMITTED", "ABORTED")
SHOWN_MAX = 5  # Examples named per broken invariant.
Books = TypeVar("Books")


@dataclass(frozen=True, slots=True)
class Check:
    key: str      # For programs: ledgers_balanced, ...
    title: str    # For people.
    ok: bool
    detail: str   # The numbers behind it, or what is wrong.


def failures(checks: list[Check]) -> list[str]:
    """One line per broken invariant."""
    return [f"{check.title}: {check.detail}" for check in checks if not check.ok]


# Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeBooks:
    outgoing: dict[str, tuple[str, int | None]]   # transfer id -> (status, window id)
    incoming: dict[str, str]                      # transfer id -> status
    entry_ids: frozenset[str]
    problems: list[str]                           # The ledger's and the loan book's own.
    internal_minor: dict[str, int]                # @kind/currency -> balance
    customers_minor: int
    deposits_minor: int
    lent_minor: int                               # Principal disbursed, and checkouts financed.
    repaid_minor: int                             # What loans and plans were repaid (fees included).
    escrowed_orders_minor: dict[str, int]         # currency -> what open orders hold in escrow
    cursor: int
    unsent: dict[str, int]                        # What waits to be told to another party, by kind.


def read_database(url: str, read: Callable[[sa.Connection], Books]) -> Books:
    """read() on one consistent read of the database at url (a node's or the clearing's)."""
    engine = make_engine(url)
    try:
        with read_connection(engine) as connection:
            return read(connection)
    finally:
        engine.dispose()


def read_node(url: str) -> NodeBooks:
    return read_database(url, _read_node)


def _read_node(connection: sa.Connection) -> NodeBooks:
    out, inc = node_store.outgoing_transfers.c, node_store.incoming_transfers.c
    loans, plans = credit_store.loans.c, credit_store.instalment_plans.c
    balances = {row.account_id: (row.internal, row.balance_minor)
                for row in connection.execute(sa.select(node_store.accounts))}
    total = lambda column: connection.scalar(sa.select(sa.func.coalesce(sa.func.sum(column), 0)))  # noqa: E731
    count = lambda table, condition: connection.scalar(  # noqa: E731
        sa.select(sa.func.count()).select_from(table).where(condition))
    return NodeBooks(
        outgoing={row.transfer_id: (row.status, row.window_id)
                  for row in connection.execute(sa.select(out.transfer_id, out.status, out.window_id))},
        incoming={row.transfer_id: row.status for row in connection.execute(sa.select(inc.transfer_id, inc.status))},
        entry_ids=frozenset(connection.scalars(sa.select(node_store.journal_entries.c.entry_id))),
        problems=ledger.books_problems(node_store.read_books(connection)) + loan_book_problems(connection)
        + instalment_book_problems(connection),
        internal_minor={account: balance for account, (internal, balance) in balances.items() if internal},
        customers_minor=sum(balance for internal, balance in balances.values() if not internal),
        deposits_minor=total(node_store.deposits.c.amount_minor),
        lent_minor=total(loans.principal_minor) + total(plans.principal_minor),
        repaid_minor=total(loans.repaid_minor) + total(plans.repaid_minor),
        escrowed_orders_minor=escrow_held_by_currency(connection),
        cursor=node_store.read_cursor(connection),
        unsent={"decisions": count(node_store.incoming_transfers, ~inc.decision_sent),
                "order events": count(market_store.order_events, ~market_store.order_events.c.sent),
                "reviews": count(market_store.buyer_reviews, ~market_store.buyer_reviews.c.delivered
                                 & market_store.buyer_reviews.c.answer_result.in_(ASK_AGAIN)),
                "reconciliation answers": count(node_store.reconciliations, ~node_store.reconciliations.c.sent)})


@dataclass(frozen=True, slots=True)
class ClearingTransfer:
    state: int
    window_id: int | None
    payer_bank_id: str
    payee_bank_id: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class ClearingBooks:
    transfers: dict[str, ClearingTransfer]
    participants: dict[str, sa.Row]
    windows: dict[int, int]                                   # window id -> state
    nets: dict[int, dict[str, sa.Row]]                        # window id -> bank id -> its window_nets row
    statements: dict[tuple[int, str], list[settlement_pb2.Statement]]
    answers: dict[int, dict[str, int]]                        # window id -> bank id -> break count
    audit_problems: list[str]
    funds_minor: dict[str, int]                               # bank id -> committed funds in - out


def read_clearing(url: str) -> ClearingBooks:
    return read_database(url, _read_clearing)


def _read_clearing(connection: sa.Connection) -> ClearingBooks:
    t, w, r = clearing_store.transfers.c, clearing_store.settlement_windows.c, clearing_store.reconciliations.c
    answers: dict[int, dict[str, int]] = defaultdict(dict)
    for row in connection.execute(sa.select(r.window_id, r.bank_id, r.break_count)):
        answers[row.window_id][row.bank_id] = row.break_count
    nets: dict[int, dict[str, sa.Row]] = defaultdict(dict)
    for row in connection.execute(sa.select(clearing_store.window_nets)):
        nets[row.window_id][row.bank_id] = row
    statements: dict[tuple[int, str], list[settlement_pb2.Statement]] = defaultdict(list)
    pages = clearing_store.statement_pages.c
    for row in connection.execute(sa.select(pages.window_id, pages.bank_id, pages.envelope)
                                  .order_by(pages.window_id, pages.bank_id, pages.page_index)):
        payload = envelope_pb2.Envelope.FromString(row.envelope).payload
        statements[row.window_id, row.bank_id].append(settlement_pb2.Statement.FromString(payload))
    return ClearingBooks(
        transfers={row.transfer_id: ClearingTransfer(row.state, row.window_id, row.payer_bank_id, row.payee_bank_id,
                                                     row.amount_minor)
                   for row in connection.execute(sa.select(t.transfer_id, t.state, t.window_id, t.payer_bank_id,
                                                           t.payee_bank_id, t.amount_minor))},
        participants={row.bank_id: row for row in connection.execute(sa.select(clearing_store.participants))},
        windows=dict(connection.execute(sa.select(w.window_id, w.state)).all()),
        nets=dict(nets), statements=dict(statements), answers=dict(answers),
        audit_problems=list(audit.verify_chain(connection).problems),
        funds_minor=_committed_funds(connection))


def _committed_funds(connection: sa.Connection) -> dict[str, int]:
    f = clearing_store.funds_movements.c
    funds: dict[str, int] = defaultdict(int)
    for bank_id, direction, amount_minor in connection.execute(
            sa.select(f.bank_id, f.direction, f.amount_minor).where(f.state == "committed")):
        funds[bank_id] += amount_minor if direction == "in" else -amount_minor
    return dict(funds)


def read_federation(clearing_url: str, node_urls: dict[str, str]) -> tuple[ClearingBooks, dict[str, NodeBooks]]:
    return read_clearing(clearing_url), {bank_id: read_node(url) for bank_id, url in node_urls.items()}


# Judging ------------------------------------------------------------------------------------


def check(clearing: ClearingBooks, nodes: dict[str, NodeBooks], *, currency: str) -> list[Check]:
    """Every invariant, in the order of the module docstring."""
    return [_ledgers_balanced(nodes), _nothing_in_flight(clearing, nodes, currency),
            _transfers_agree(clearing, nodes), _escrow_matches_orders(nodes, currency), _money_conserved(nodes, currency),
            _positions_match(clearing, nodes, currency), _statements_consistent(clearing),
            _windows_reconciled(clearing, nodes), _audit_chain_intact(clearing)]


def check_databases(clearing_url: str, node_urls: dict[str, str], *, currency: str) -> list[Check]:
    return check(*read_federation(clearing_url, node_urls), currency=currency)


def _verdict(key: str, title: str, wrong: list[str], fine: str) -> Check:
    shown = "; ".join(wrong[:SHOWN_MAX]) + (f" (and {len(wrong) - SHOWN_MAX} more)" if len(wrong) > SHOWN_MAX else "")
    return Check(key, title, not wrong, shown or fine)


def _ledgers_balanced(nodes: dict[str, NodeBooks]) -> Check:
    wrong = [f"{bank_id}: {problem}" for bank_id, books in nodes.items() for problem in books.problems]
    return _verdict("ledgers_balanced", "ledger and loan book balanced at every bank", wrong,
                    f"{sum(len(books.entry_ids) for books in nodes.values())} journal entries at {len(nodes)} banks")


def in_flight(clearing: ClearingBooks, nodes: dict[str, NodeBooks], *, currency: str) -> list[str]:
    """What is still moving; [] at rest."""
    moving = []
    for bank_id, books in nodes.items():
        pending = [tid for tid, (status, _) in books.outgoing.items() if status not in FINAL]
        undecided = [tid for tid, status in books.incoming.items() if status not in FINAL]
        moving += [f"{bank_id}: {len(pending)} outgoing transfers not final, first {pending[0]}"] if pending else []
        moving += [f"{bank_id}: {len(undecided)} incoming transfers not final, first {undecided[0]}"] if undecided else []
        moving += [f"{bank_id}: {count} {kind} not sent" for kind, count in books.unsent.items() if count]
        if owed := books.internal_minor.get(ledger.internal_account_id(ledger.OWED_TO_CLEARING, currency), 0):
            moving.append(f"{bank_id}: {owed} owed to the clearing")
        if bank_id in clearing.participants and books.cursor != clearing.participants[bank_id].delivery_sequence:
            moving.append(f"{bank_id}: applied deliveries up to {books.cursor} of "
                          f"{clearing.participants[bank_id].delivery_sequence}")
    reserved = {bank_id: row.reserved_minor for bank_id, row in clearing.participants.items() if row.reserved_minor}
    moving += [f"reserved at the clearing: {reserved}"] if reserved else []
    still = [tid for tid, transfer in clearing.transfers.items() if transfer.state == RESERVED_AT_CLEARING]
    moving += [f"{len(still)} transfers RESERVED at the clearing, first {still[0]}"] if still else []
    return moving


def _nothing_in_flight(clearing: ClearingBooks, nodes: dict[str, NodeBooks], currency: str) -> Check:
    return _verdict("nothing_in_flight", "nothing in flight", in_flight(clearing, nodes, currency=currency),
                    f"{len(clearing.transfers)} transfers final, every delivery applied, nothing reserved or owed")


def _transfers_agree(clearing: ClearingBooks, nodes: dict[str, NodeBooks]) -> Check:
    incoming = {tid: (bank_id, status) for bank_id, books in nodes.items() for tid, status in books.incoming.items()}
    wrong = []
    for bank_id, books in nodes.items():
        for transfer_id, (status, _) in books.outgoing.items():
            if status not in FINAL:
                continue  # nothing_in_flight names it.
            at_clearing = clearing.transfers.get(transfer_id)
            state = at_clearing.state if at_clearing else None
            payee_bank, payee_status = incoming.get(transfer_id, (None, None))
            entries = {prefix for prefix in ("send", "settle", "reverse") if f"{prefix}:{transfer_id}" in books.entry_ids}
            received = payee_bank is not None and f"receive:{transfer_id}" in nodes[payee_bank].entry_ids
            if status == "COMMITTED":
                agree = state == COMMITTED_AT_CLEARING and payee_status == "COMMITTED"
                right_entries = entries == {"send", "settle"} and received
            else:
                agree = state in (None, ABORTED_AT_CLEARING) and payee_status != "COMMITTED"
                right_entries = entries == {"send", "reverse"} and not received
            if not agree:
                wrong.append(f"{transfer_id}: {status} at payer {bank_id}, {_state_name(state)} at the clearing, "
                             f"{payee_status or 'unknown'} at the payee")
            if not right_entries:
                wrong.append(f"{transfer_id}: {status} at {bank_id} with entries {sorted(entries)}"
                             f"{' and a receive at the payee' if received else ''}")
    for transfer_id, transfer in clearing.transfers.items():
        if transfer.state == COMMITTED_AT_CLEARING and transfer.payer_bank_id in nodes \
                and transfer_id not in nodes[transfer.payer_bank_id].outgoing:
            wrong.append(f"{transfer_id}: COMMITTED at the clearing, unknown to its payer {transfer.payer_bank_id}")
    committed = sum(transfer.state == COMMITTED_AT_CLEARING for transfer in clearing.transfers.values())
    return _verdict("transfers_agree", "payer, clearing and payee agree on every transfer", wrong,
                    f"{committed} committed, {len(clearing.transfers) - committed} not, each booked as its outcome")


def _escrow_matches_orders(nodes: dict[str, NodeBooks], currency: str) -> Check:
    escrow = ledger.internal_account_id(ledger.ESCROW, currency)
    wrong = [f"{bank_id}: @escrow {format_money(books.internal_minor.get(escrow, 0), currency)}, open orders "
             f"{format_money(books.escrowed_orders_minor.get(currency, 0), currency)}"
             for bank_id, books in nodes.items()
             if books.internal_minor.get(escrow, 0) != books.escrowed_orders_minor.get(currency, 0)]
    held = sum(books.escrowed_orders_minor.get(currency, 0) for books in nodes.values())
    return _verdict("escrow_matches_orders", "escrow holds exactly the open orders", wrong,
                    f"{format_money(held, currency)} held for open orders")


def _money_conserved(nodes: dict[str, NodeBooks], currency: str) -> Check:
    """Transfers and orders only move customers' money between customers and escrow; the banks'
    own money enters only as loans and comes back only as repayments (fees included)."""
    deposits, lent, repaid = (sum(getattr(books, field) for books in nodes.values())
                              for field in ("deposits_minor", "lent_minor", "repaid_minor"))
    held = sum(books.customers_minor + books.escrowed_orders_minor.get(currency, 0) for books in nodes.values())
    expected = deposits + lent - repaid
    detail = (f"deposits {format_money(deposits, currency)} + lent {format_money(lent, currency)} - repaid "
              f"{format_money(repaid, currency)} = {format_money(expected, currency)}, customers and escrow hold "
              f"{format_money(held, currency)}")
    return Check("money_conserved", "money conserved (deposits + loans - repayments = balances + escrow)",
                 held == expected, detail + ("" if held == expected else ": money created or lost"))


def _positions_match(clearing: ClearingBooks, nodes: dict[str, NodeBooks], currency: str) -> Check:
    recomputed: dict[str, int] = defaultdict(int)
    unsettled: dict[str, int] = defaultdict(int)  # What participants.unsettled_gross_minor must say.
    for transfer in clearing.transfers.values():
        committed = transfer.state == COMMITTED_AT_CLEARING and clearing.windows.get(transfer.window_id) != SETTLED
        if committed:
            recomputed[transfer.payer_bank_id] += transfer.amount_minor
            recomputed[transfer.payee_bank_id] -= transfer.amount_minor
        if committed or transfer.state == RESERVED_AT_CLEARING:
            unsettled[transfer.payer_bank_id] += transfer.amount_minor
            unsettled[transfer.payee_bank_id] += transfer.amount_minor
    settled_nets: dict[str, int] = defaultdict(int)
    for window_id, rows in clearing.nets.items():
        if clearing.windows.get(window_id) == SETTLED:
            for bank_id, row in rows.items():
                settled_nets[bank_id] += row.net_minor
    wrong = []
    for bank_id, row in clearing.participants.items():
        if row.position_minor != recomputed[bank_id]:
            wrong.append(f"{bank_id}: position {row.position_minor}, its unsettled transfers say {recomputed[bank_id]}")
        if row.unsettled_gross_minor != unsettled[bank_id]:
            wrong.append(f"{bank_id}: unsettled gross {row.unsettled_gross_minor}, its transfers reserved or not "
                         f"settled add up to {unsettled[bank_id]}")
    if total := sum(row.position_minor for row in clearing.participants.values()):
        wrong.append(f"positions sum to {total}, not zero")
    for bank_id, row in clearing.participants.items():
        if row.liquidity_minor != (moved := clearing.funds_minor.get(bank_id, 0) + settled_nets[bank_id]):
            wrong.append(f"{bank_id}: liquidity {row.liquidity_minor}, its funds in and out and settled nets "
                         f"add up to {moved}")
    for bank_id, books in nodes.items():
        at_clearing = books.internal_minor.get(ledger.internal_account_id(ledger.CLEARING, currency), 0)
        liquidity = books.internal_minor.get(ledger.internal_account_id(ledger.LIQUIDITY, currency), 0)
        position = clearing.participants[bank_id].position_minor if bank_id in clearing.participants else 0
        if at_clearing != position:
            wrong.append(f"{bank_id}: @clearing {at_clearing}, its position at the clearing {position}")
        at_clearing_liquidity = clearing.participants[bank_id].liquidity_minor if bank_id in clearing.participants else 0
        if liquidity != -at_clearing_liquidity:
            wrong.append(f"{bank_id}: @liquidity {liquidity}, its liquidity at the clearing {at_clearing_liquidity}")
    return _verdict("positions_match", "positions agree with the transfers and every node's books", wrong,
                    f"{len(clearing.participants)} banks: positions recomputed from the transfers, sum 0")


def _statements_consistent(clearing: ClearingBooks) -> Check:
    window_nets: dict[tuple[int, str], int] = defaultdict(int)
    for transfer in clearing.transfers.values():
        if transfer.state == COMMITTED_AT_CLEARING:
            window_nets[transfer.window_id, transfer.payee_bank_id] += transfer.amount_minor
            window_nets[transfer.window_id, transfer.payer_bank_id] -= transfer.amount_minor
    wrong = []
    for window_id, rows in clearing.nets.items():
        if total := sum(row.net_minor for row in rows.values()):
            wrong.append(f"window {window_id}: nets sum to {total}")
        for bank_id, row in rows.items():
            if row.net_minor != row.credits_minor - row.debits_minor:
                wrong.append(f"window {window_id} {bank_id}: net {row.net_minor} is not credits {row.credits_minor} "
                             f"- debits {row.debits_minor}")
            if clearing.windows.get(window_id) in CLOSED_STATES and row.net_minor != window_nets[window_id, bank_id]:
                wrong.append(f"window {window_id} {bank_id}: net {row.net_minor}, its committed transfers net "
                             f"{window_nets[window_id, bank_id]}")
            pages = clearing.statements.get((window_id, bank_id), [])
            if not pages:
                wrong.append(f"window {window_id} {bank_id}: no statement")
                continue
            wrong += [f"window {window_id} {bank_id}: {problem}" for problem in reconcile.statement_problems(pages)]
            first = pages[0]
            if (first.opening_position.amount_minor, first.net.amount_minor) != (row.opening_position_minor,
                                                                                   row.net_minor):
                wrong.append(f"window {window_id} {bank_id}: statement opening {first.opening_position.amount_minor} "
                             f"net {first.net.amount_minor}, the window's nets say {row.opening_position_minor} "
                             f"and {row.net_minor}")
    wrong += _statement_chain_breaks(clearing)
    return _verdict("statements_consistent", "statements add up, agree with their window and chain", wrong,
                    f"windows issued {len(clearing.nets)}, statements {len(clearing.statements)}")


def _statement_chain_breaks(clearing: ClearingBooks) -> list[str]:
    """Where a bank's statement does not open where its previous one (aborted windows left out)
    closed, plus what settled in between; a first statement opens at zero."""
    wrong = []
    previous: dict[str, settlement_pb2.Statement] = {}
    for (window_id, bank_id), pages in sorted(clearing.statements.items()):
        if clearing.windows.get(window_id) not in CLOSED_STATES:
            continue
        first = pages[0]
        before = previous.get(bank_id)
        movements = [movement for page in pages for movement in page.movements]
        settled_minor = StatementMovements(tuple(movements)).settled_minor
        closing_position = before.closing_position.amount_minor if before else 0
        closing_liquidity = before.closing_liquidity.amount_minor if before else 0
        if first.opening_position.amount_minor != closing_position + settled_minor:
            wrong.append(f"window {window_id} {bank_id}: opening position {first.opening_position.amount_minor}, "
                         f"the previous statement closed at {closing_position} and {settled_minor} settled since")
        if first.opening_liquidity.amount_minor != closing_liquidity:
            wrong.append(f"window {window_id} {bank_id}: opening liquidity {first.opening_liquidity.amount_minor}, "
                         f"the previous statement closed at {closing_liquidity}")
        previous[bank_id] = first
    return wrong


def _windows_reconciled(clearing: ClearingBooks, nodes: dict[str, NodeBooks]) -> Check:
    booked: dict[int | None, set[str]] = defaultdict(set)
    for books in nodes.values():
        for transfer_id, (status, window_id) in books.outgoing.items():
            if status == "COMMITTED":
                booked[window_id].add(transfer_id)
    committed: dict[int | None, set[str]] = defaultdict(set)
    for transfer_id, transfer in clearing.transfers.items():
        if transfer.state == COMMITTED_AT_CLEARING and transfer.payer_bank_id in nodes:
            committed[transfer.window_id].add(transfer_id)
    closed = sorted(window_id for window_id, state in clearing.windows.items() if state in CLOSED_STATES)
    wrong = []
    for window_id in closed:
        answers = clearing.answers.get(window_id, {})
        silent = sorted(bank_id for bank_id, row in clearing.nets.get(window_id, {}).items()
                        if needs_answer(row) and bank_id not in answers)
        disputed = {bank_id: breaks for bank_id, breaks in answers.items() if breaks}
        if silent or disputed:
            wrong.append(f"window {window_id}: silent {silent}, disputed {disputed}")
        if committed[window_id] != booked[window_id]:
            wrong.append(f"window {window_id}: the clearing committed {len(committed[window_id])} transfers in it, "
                         f"the payers booked {len(booked[window_id])}")
    return _verdict("windows_reconciled", "closed windows reconciled with no breaks", wrong,
                    f"closed windows {len(closed)}, each acknowledged by every member with transfers in it")


def _audit_chain_intact(clearing: ClearingBooks) -> Check:
    return _verdict("audit_chain_intact", "audit chain intact", clearing.audit_problems, "hash chain verifies")


def _state_name(state: int | None) -> str:
    return "absent" if state is None else transfer_state_name(state)
