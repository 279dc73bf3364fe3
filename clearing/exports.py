"""Settlement exports of a window: ISO 20022 XML per member and per transfer, and a CSV.

``export_window`` reads one window from the store (``load_window``) and writes:

- ``camt053-<bank_id>-w<window_id>.xml``: each member's statement (clearing.iso20022);
- ``pacs008-<transfer_id>.xml``: each committed transfer of the window, but returns;
- ``pacs004-<transfer_id>.xml``: each committed return of the window (a transfer naming the
  original it gives money back for), referencing that original, whatever window it was in;
- ``pacs002-<bank_id>-w<window_id>.xml``: each member's status report of the transfers it paid
  or was paid that were decided while the window was open: committed (ACSP, ACSC once the
  window settled) and aborted (RJCT, with the reason); a member with none gets no file;
- ``settlement-w<window_id>.csv``: the settlement report (``settlement_csv``).

Only a window whose report was issued (PENDING_SETTLEMENT or SETTLED) is exported: its
nets in window_nets are fixed then. Everything but ``load_window`` and ``export_window``
is pure.

The CSV (RFC 4180, UTF-8, CRLF) has one ``bank`` row per bank and currency and one
``total`` row per currency; every amount appears as a decimal and in minor units.
Positions keep the clearing's sign (positive: the bank owes), nets the report's
(credits - debits; positive: the bank receives at settlement), so
``closing_position = opening_position - net``. In a ``total`` row debits and credits
are the window's gross value, ``net`` the sum of the nets (always zero), ``net_total``
the sum of the positive nets (what really moves at settlement) and
``liquidity_saving_pct`` = 100 * (1 - net_total / gross), to two decimals.
"""
from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import sqlalchemy as sa

from fedmall import money
from fedmall.results import FedmallError, name_of
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import envelope_pb2, settlement_pb2, transfer_pb2

from clearing import iso20022, movements, netting
from clearing.iso20022 import Liquidity, Member, Movement, Net, Transfer, TransferStatus, Window
from clearing.store import Store, participants, settlement_windows, statement_pages, transfers, window_nets

COMMITTED = transfer_pb2.TRANSFER_STATE_COMMITTED
ABORTED = transfer_pb2.TRANSFER_STATE_ABORTED
EXPORTABLE_STATES = (settlement_pb2.WINDOW_STATE_PENDING_SETTLEMENT, settlement_pb2.WINDOW_STATE_SETTLED)

CSV_COLUMNS = (
    "row", "window_id", "bank_id", "currency",
    "debits", "debits_minor", "credits", "credits_minor", "net", "net_minor",
    "opening_position", "opening_position_minor", "closing_position", "closing_position_minor",
    "gross", "gross_minor", "net_total", "net_total_minor", "liquidity_saving_pct",
)


@dataclass(frozen=True, slots=True)
class WindowExport:
    """Everything the exports of one window are made from."""

    window: Window
    members: dict[str, Member]
    nets: tuple[Net, ...]
    transfers: tuple[Transfer, ...]
    # Each bank's liquidity account, from its signed statement (absent for a bank sent none).
    liquidity: dict[str, Liquidity] = field(default_factory=dict)
    # The originals the window's returns name, by transfer id (they may be of any window).
    originals: dict[str, Transfer] = field(default_factory=dict)
    # The transfers aborted while the window was open, with why (for the pacs.002 reports).
    aborted: tuple[TransferStatus, ...] = ()


def export_window(store: Store, window_id: int, out_dir: Path, *, created_at_ms: int) -> list[Path]:
    """Write the window's exports into out_dir (created if missing); return their paths.

    Raises FedmallError WINDOW_NOT_FOUND or WINDOW_STATE_INVALID for a window that
    cannot be exported, INVALID_FIELD for an id too long for ISO 20022.
    """
    return write_exports(load_window(store, window_id), Path(out_dir), created_at_ms=created_at_ms)


def load_window(store: Store, window_id: int) -> WindowExport:
    with store.read() as connection:
        row = connection.execute(
            sa.select(settlement_windows).where(settlement_windows.c.window_id == window_id)).first()
        if row is None:
            raise FedmallError(rc.RESULT_CODE_WINDOW_NOT_FOUND, f"no settlement window {window_id}")
        if row.state not in EXPORTABLE_STATES:
            state_name = settlement_pb2.WindowState.Name(row.state)
            raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID,
                               f"window {window_id} is {state_name}; only a window with an issued report exports")
        net_rows = connection.execute(
            sa.select(window_nets).where(window_nets.c.window_id == window_id)
            .order_by(window_nets.c.bank_id, window_nets.c.currency)).all()
        transfer_rows = connection.execute(
            _TRANSFER_COLUMNS.where(transfers.c.window_id == window_id, transfers.c.state == COMMITTED)
            .order_by(transfers.c.decided_at_ms, transfers.c.transfer_id)).all()
        member_rows = connection.execute(sa.select(participants.c.bank_id, participants.c.name)).all()
        liquidity = _liquidity(connection, window_id)
        window_transfers = tuple(_transfer(t) for t in transfer_rows)
        originals = _originals(connection, window_transfers)
        # Decided in [opened, closed): each aborted transfer is on the report of one window.
        aborted = tuple(
            TransferStatus(transfer=_transfer(t), committed=False, reason=name_of(t.result),
                           decided_at_ms=t.decided_at_ms)
            for t in connection.execute(_TRANSFER_COLUMNS.add_columns(transfers.c.result).where(
                transfers.c.state == ABORTED, transfers.c.decided_at_ms >= row.opened_at_ms,
                transfers.c.decided_at_ms < row.closed_at_ms)
                .order_by(transfers.c.decided_at_ms, transfers.c.transfer_id)))
    window = Window(window_id=row.window_id, state=row.state, opened_at_ms=row.opened_at_ms,
                    closed_at_ms=row.closed_at_ms, settled_at_ms=row.settled_at_ms)
    nets = tuple(Net(bank_id=n.bank_id, currency=n.currency, debits_minor=n.debits_minor,
                     credits_minor=n.credits_minor, net_minor=n.net_minor,
                     opening_position_minor=n.opening_position_minor) for n in net_rows)
    return WindowExport(
        window=window,
        members={m.bank_id: Member(bank_id=m.bank_id, name=m.name) for m in member_rows},
        nets=nets,
        transfers=window_transfers,
        liquidity=liquidity,
        originals=originals,
        aborted=aborted,
    )


MOVEMENT_KINDS = {settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_IN: iso20022.FUNDS_IN,
                  settlement_pb2.LIQUIDITY_MOVEMENT_KIND_FUNDS_OUT: iso20022.FUNDS_OUT,
                  settlement_pb2.LIQUIDITY_MOVEMENT_KIND_SETTLEMENT: iso20022.SETTLEMENT}


def _liquidity(connection: sa.Connection, window_id: int) -> dict[str, Liquidity]:
    """Each bank's liquidity account for the window, from the statement it was sent (signed)."""
    pages_by_bank: dict[str, list[settlement_pb2.Statement]] = defaultdict(list)
    for row in connection.execute(
            sa.select(statement_pages.c.bank_id, statement_pages.c.envelope)
            .where(statement_pages.c.window_id == window_id)
            .order_by(statement_pages.c.bank_id, statement_pages.c.page_index)):
        pages_by_bank[row.bank_id].append(
            settlement_pb2.Statement.FromString(envelope_pb2.Envelope.FromString(row.envelope).payload))
    accounts = {}
    for bank_id, pages in pages_by_bank.items():
        first = pages[0]
        accounts[bank_id] = Liquidity(
            currency=first.opening_liquidity.currency, opening_minor=first.opening_liquidity.amount_minor,
            closing_minor=first.closing_liquidity.amount_minor, movements=tuple(
                Movement(movement_id=m.movement_id, kind=MOVEMENT_KINDS[m.kind],
                         change_minor=movements.signed_change_minor(m), currency=m.amount.currency,
                         recorded_at_ms=m.recorded_at_unix_ms, external_reference=m.external_reference)
                for page in pages for m in page.movements))
    return accounts


def _originals(connection: sa.Connection, returns: Sequence[Transfer]) -> dict[str, Transfer]:
    """The committed transfers the returns name. The clearing reserved each return only once its
    original had committed the other way (clearing.rules.return_problem), so each is there."""
    ids = sorted({t.original_transfer_id for t in returns if t.is_return})
    if not ids:
        return {}
    rows = connection.execute(_TRANSFER_COLUMNS.where(transfers.c.transfer_id.in_(ids),
                                                      transfers.c.state == COMMITTED)).all()
    found = {row.transfer_id: _transfer(row) for row in rows}
    assert set(found) == set(ids), ("a return whose original is not committed", set(ids) - set(found))
    return found


_TRANSFER_COLUMNS = sa.select(transfers.c.transfer_id, transfers.c.payer_bank_id, transfers.c.payee_bank_id,
                              transfers.c.amount_minor, transfers.c.currency, transfers.c.prepare_bytes,
                              transfers.c.decided_at_ms)


def _transfer(row: sa.Row) -> Transfer:
    # The stored Prepare is the payer's signed terms; the columns were copied from it.
    prepare = transfer_pb2.Prepare.FromString(row.prepare_bytes)
    assert prepare.transfer_id == row.transfer_id
    return Transfer(
        transfer_id=row.transfer_id, payer_bank_id=row.payer_bank_id, payee_bank_id=row.payee_bank_id,
        payee_account=prepare.payee_account, amount_minor=row.amount_minor, currency=row.currency,
        reference=prepare.reference, committed_at_ms=row.decided_at_ms, uetr=prepare.uetr,
        debtor_name=prepare.debtor_name, debtor_account=prepare.debtor_account, creditor_name=prepare.creditor_name,
        original_transfer_id=prepare.original_transfer_id,
    )


def write_exports(export: WindowExport, out_dir: Path, *, created_at_ms: int) -> list[Path]:
    """Write every file of the window's export; each file appears whole or not at all."""
    window_id = export.window.window_id
    nets_by_bank: dict[str, list[Net]] = defaultdict(list)
    for net in export.nets:
        nets_by_bank[net.bank_id].append(net)
    transfers_by_bank: dict[str, list[Transfer]] = defaultdict(list)
    for transfer in export.transfers:
        transfers_by_bank[transfer.payer_bank_id].append(transfer)
        transfers_by_bank[transfer.payee_bank_id].append(transfer)
    # Every bank that moved money in the window has its nets: the report covers them all.
    assert set(transfers_by_bank) <= set(nets_by_bank), "a bank with transfers but no nets"

    # The statements are built before anything is written: between them they carry every
    # bank id and account of the window, so an id ISO 20022 cannot hold stops the export
    # before its first file.
    statements = {
        bank_id: iso20022.camt053_statement(
            window=export.window, member=export.members[bank_id], nets=nets_by_bank[bank_id],
            transfers=transfers_by_bank[bank_id], created_at_ms=created_at_ms,
            liquidity=[export.liquidity[bank_id]] if bank_id in export.liquidity else [])
        for bank_id in sorted(nets_by_bank)
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [_write(out_dir / f"camt053-{bank_id}-w{window_id}.xml", statement)
             for bank_id, statement in statements.items()]
    for transfer in export.transfers:
        payer, payee = export.members[transfer.payer_bank_id], export.members[transfer.payee_bank_id]
        if transfer.is_return:
            message = iso20022.pacs004_return(transfer, original=export.originals[transfer.original_transfer_id],
                                              payer=payer, payee=payee, created_at_ms=created_at_ms)
            paths.append(_write(out_dir / f"pacs004-{transfer.transfer_id}.xml", message))
        else:
            message = iso20022.pacs008_transfer(transfer, payer=payer, payee=payee, created_at_ms=created_at_ms)
            paths.append(_write(out_dir / f"pacs008-{transfer.transfer_id}.xml", message))
    statuses_by_bank: dict[str, list[TransferStatus]] = defaultdict(list)
    committed = [TransferStatus(transfer=t, committed=True, reason="OK", decided_at_ms=t.committed_at_ms)
                 for t in export.transfers]
    for status in committed + list(export.aborted):
        statuses_by_bank[status.transfer.payer_bank_id].append(status)
        statuses_by_bank[status.transfer.payee_bank_id].append(status)
    for bank_id, statuses in sorted(statuses_by_bank.items()):
        report = iso20022.pacs002_status_report(window=export.window, member=export.members[bank_id],
                                                statuses=statuses, members=export.members,
                                                created_at_ms=created_at_ms)
        paths.append(_write(out_dir / f"pacs002-{bank_id}-w{window_id}.xml", report))
    paths.append(_write(out_dir / f"settlement-w{window_id}.csv", settlement_csv(export.window, export.nets)))
    return paths


def _write(path: Path, data: bytes) -> Path:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return path


# --- the settlement report as CSV -----------------------------------------------------


def settlement_csv(window: Window, nets: Sequence[Net]) -> bytes:
    """One row per bank and currency, then one total row per currency (see module doc)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    ordered = sorted(nets, key=lambda net: (net.currency, net.bank_id))
    for net in ordered:
        writer.writerow({
            "row": "bank", "window_id": window.window_id, "bank_id": net.bank_id, "currency": net.currency,
            **_amount_columns("debits", net.debits_minor, net.currency),
            **_amount_columns("credits", net.credits_minor, net.currency),
            **_amount_columns("net", net.net_minor, net.currency),
            **_amount_columns("opening_position", net.opening_position_minor, net.currency),
            **_amount_columns("closing_position", net.closing_position_minor, net.currency),
        })
    for currency in sorted({net.currency for net in ordered}):
        writer.writerow(_total_row(window, [net for net in ordered if net.currency == currency], currency))
    return buffer.getvalue().encode("utf-8")


def _total_row(window: Window, nets: Sequence[Net], currency: str) -> dict:
    gross_minor = sum(net.debits_minor for net in nets)
    # Every transfer is one bank's debit and another's credit, so the nets of a window
    # sum to zero and the debits equal the credits; anything else is our bug.
    assert gross_minor == sum(net.credits_minor for net in nets), (window.window_id, currency, "gross")
    net_sum_minor = sum(net.net_minor for net in nets)
    assert net_sum_minor == 0, (window.window_id, currency, "nets do not sum to zero")
    net_total_minor = sum(net.net_minor for net in nets if net.net_minor > 0)
    return {
        "row": "total", "window_id": window.window_id, "bank_id": "", "currency": currency,
        **_amount_columns("debits", gross_minor, currency),
        **_amount_columns("credits", gross_minor, currency),
        **_amount_columns("net", net_sum_minor, currency),
        **_amount_columns("gross", gross_minor, currency),
        **_amount_columns("net_total", net_total_minor, currency),
        "liquidity_saving_pct": str(netting.liquidity_saving_pct(gross_minor=gross_minor,
                                                                 net_total_minor=net_total_minor)),
    }


def _amount_columns(name: str, amount_minor: int, currency: str) -> dict[str, str | int]:
    return {name: money.format_amount(amount_minor, currency), f"{name}_minor": amount_minor}
