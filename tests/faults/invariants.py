"""Every money invariant of a federation at rest, read straight from the clearing's and each
node's database. violations() returns what is wrong, one line each; nothing is an assert,
so a run reports every violation at once (and the negative control can count them).

    final state      every transfer a payer sent is COMMITTED or ABORTED, the same at the
                     payer, the clearing (ABORTED or never stored) and the payee
    entries          exactly the journal entries each state implies: send + settle for a
                     committed payer, send + reverse for an aborted one, receive at a
                     committed payee and no receive otherwise
    books            every node's ledger balances and its balances equal their postings
    positions        positions sum to zero, nothing reserved, each node's @clearing equals
                     its position and its @owed-to-clearing is zero
    money            customers' money across the federation equals what was deposited
    deliveries       every node applied its whole delivery stream
    windows          every closed window is answered by every member with zero breaks, and
                     its committed transfers are exactly those the payers booked in it
    audit            the clearing's hash chain verifies
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from fedmall.database import make_engine, read_connection
from fedmall.v1 import settlement_pb2, transfer_pb2

from clearing import audit, store as clearing_store
from node.bank import ledger, store as node_store

COMMITTED_AT_CLEARING = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED_AT_CLEARING = transfer_pb2.TRANSFER_STATE_ABORTED
RESERVED_AT_CLEARING = transfer_pb2.TRANSFER_STATE_RESERVED
CLOSED_STATES = (settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT, settlement_pb2.WINDOW_STATE_SETTLED)


@dataclass(frozen=True, slots=True)
class NodeBooks:
    outgoing: dict[str, tuple[str, int | None]]   # transfer id -> (status, window id)
    incoming: dict[str, str]                      # transfer id -> status
    entry_ids: frozenset[str]
    problems: list[str]
    internal_minor: dict[str, int]
    customers_minor: int
    deposits_minor: int
    cursor: int


def read_node(url: str) -> NodeBooks:
    engine = make_engine(url)
    try:
        with read_connection(engine) as connection:
            out, inc = node_store.outgoing_transfers.c, node_store.incoming_transfers.c
            balances = {row.account_id: (row.internal, row.balance_minor)
                        for row in connection.execute(sa.select(node_store.accounts))}
            return NodeBooks(
                outgoing={row.transfer_id: (row.status, row.window_id)
                          for row in connection.execute(sa.select(out.transfer_id, out.status, out.window_id))},
                incoming={row.transfer_id: row.status
                          for row in connection.execute(sa.select(inc.transfer_id, inc.status))},
                entry_ids=frozenset(connection.scalars(sa.select(node_store.journal_entries.c.entry_id))),
                problems=ledger.books_problems(node_store.read_books(connection)),
                internal_minor={account: balance for account, (internal, balance) in balances.items() if internal},
                customers_minor=sum(balance for internal, balance in balances.values() if not internal),
                deposits_minor=connection.scalar(sa.select(sa.func.coalesce(
                    sa.func.sum(node_store.deposits.c.amount_minor), 0))),
                cursor=node_store.read_cursor(connection))
    finally:
        engine.dispose()


@dataclass(frozen=True, slots=True)
class ClearingBooks:
    transfers: dict[str, tuple[int, int | None]]  # transfer id -> (state, window id)
    participants: dict[str, sa.Row]
    closed_windows: list[int]
    answers: dict[int, dict[str, int]]             # window id -> bank id -> break count
    audit_problems: list[str]


def read_clearing(url: str) -> ClearingBooks:
    engine = make_engine(url)
    try:
        with read_connection(engine) as connection:
            t, w, r = clearing_store.transfers.c, clearing_store.settlement_windows.c, clearing_store.reconciliations.c
            answers: dict[int, dict[str, int]] = {}
            for row in connection.execute(sa.select(r.window_id, r.bank_id, r.break_count)):
                answers.setdefault(row.window_id, {})[row.bank_id] = row.break_count
            return ClearingBooks(
                transfers={row.transfer_id: (row.state, row.window_id)
                           for row in connection.execute(sa.select(t.transfer_id, t.state, t.window_id))},
                participants={row.bank_id: row for row in connection.execute(sa.select(clearing_store.participants))},
                closed_windows=list(connection.scalars(sa.select(w.window_id).where(w.state.in_(CLOSED_STATES))
                                                       .order_by(w.window_id))),
                answers=answers,
                audit_problems=list(audit.verify_chain(connection).problems))
    finally:
        engine.dispose()


def violations(clearing: ClearingBooks, nodes: dict[str, NodeBooks], *, currency: str) -> list[str]:
    found: list[str] = []
    for bank_id, books in nodes.items():
        found += [f"{bank_id} books: {problem}" for problem in books.problems]
        found += _payer_violations(bank_id, books, clearing, nodes)
        participant = clearing.participants[bank_id]
        at_clearing = books.internal_minor.get(ledger.internal_account_id(ledger.CLEARING, currency), 0)
        if at_clearing != participant.position_minor:
            found.append(f"{bank_id}: @clearing {at_clearing} but its position at the clearing is "
                         f"{participant.position_minor}")
        owed = books.internal_minor.get(ledger.internal_account_id(ledger.OWED_TO_CLEARING, currency), 0)
        if owed:
            found.append(f"{bank_id}: {owed} still owed to the clearing at rest")
        if books.cursor != participant.delivery_sequence:
            found.append(f"{bank_id}: applied deliveries up to {books.cursor} of {participant.delivery_sequence}")
    positions_minor = sum(row.position_minor for row in clearing.participants.values())
    if positions_minor:
        found.append(f"positions sum to {positions_minor}, not zero")
    reserved = {bank_id: row.reserved_minor for bank_id, row in clearing.participants.items() if row.reserved_minor}
    if reserved:
        found.append(f"reserved at rest: {reserved}")
    still_reserved = [tid for tid, (state, _) in clearing.transfers.items() if state == RESERVED_AT_CLEARING]
    if still_reserved:
        found.append(f"{len(still_reserved)} transfers still RESERVED at the clearing, first {still_reserved[0]}")
    customers = sum(books.customers_minor for books in nodes.values())
    deposits = sum(books.deposits_minor for books in nodes.values())
    if customers != deposits:
        found.append(f"customers hold {customers} but {deposits} was deposited: money created or lost")
    found += _window_violations(clearing, nodes)
    found += [f"audit: {problem}" for problem in clearing.audit_problems]
    return found


def _payer_violations(bank_id: str, books: NodeBooks, clearing: ClearingBooks,
                      nodes: dict[str, NodeBooks]) -> list[str]:
    found = []
    incoming_anywhere = {tid: status for other in nodes.values() for tid, status in other.incoming.items()}
    receiving_bank = {tid: other_id for other_id, other in nodes.items() for tid in other.incoming}
    for transfer_id, (status, _) in books.outgoing.items():
        at_clearing = clearing.transfers.get(transfer_id, (None, None))[0]
        payee_status = incoming_anywhere.get(transfer_id)
        payee_entries = nodes[receiving_bank[transfer_id]].entry_ids if transfer_id in receiving_bank else frozenset()
        entries = {prefix for prefix in ("send", "settle", "reverse") if f"{prefix}:{transfer_id}" in books.entry_ids}
        received = f"receive:{transfer_id}" in payee_entries
        if status == "COMMITTED":
            agree = at_clearing == COMMITTED_AT_CLEARING and payee_status == "COMMITTED"
            right_entries = entries == {"send", "settle"} and received
        elif status == "ABORTED":
            agree = at_clearing in (None, ABORTED_AT_CLEARING) and payee_status != "COMMITTED"
            right_entries = entries == {"send", "reverse"} and not received
        else:
            found.append(f"{transfer_id}: still {status} at payer {bank_id}")
            continue
        if not agree:
            found.append(f"{transfer_id}: {status} at payer {bank_id}, {_state_name(at_clearing)} at the clearing, "
                         f"{payee_status or 'unknown'} at the payee")
        if not right_entries:
            found.append(f"{transfer_id}: {status} at {bank_id} with entries {sorted(entries)}"
                         f"{' and a receive at the payee' if received else ''}")
    return found


def _window_violations(clearing: ClearingBooks, nodes: dict[str, NodeBooks]) -> list[str]:
    found = []
    booked: dict[int, set[str]] = {}
    for books in nodes.values():
        for transfer_id, (status, window_id) in books.outgoing.items():
            if status == "COMMITTED":
                booked.setdefault(window_id, set()).add(transfer_id)
    committed: dict[int, set[str]] = {}
    for transfer_id, (state, window_id) in clearing.transfers.items():
        if state == COMMITTED_AT_CLEARING:
            committed.setdefault(window_id, set()).add(transfer_id)
    for window_id in clearing.closed_windows:
        answers = clearing.answers.get(window_id, {})
        silent = sorted(set(nodes) - set(answers))
        disputed = {bank_id: breaks for bank_id, breaks in answers.items() if breaks}
        if silent or disputed:
            found.append(f"window {window_id}: silent {silent}, disputed {disputed}")
        if committed.get(window_id, set()) != booked.get(window_id, set()):
            found.append(f"window {window_id}: the clearing committed {len(committed.get(window_id, ()))} transfers "
                         f"in it, the payers booked {len(booked.get(window_id, ()))}")
    return found


def _state_name(state: int | None) -> str:
    return "absent" if state is None else transfer_pb2.TransferState.Name(state).removeprefix("TRANSFER_STATE_")
