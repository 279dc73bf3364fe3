"""The operator's settlement commands on fedmall-clearing:

    windows list | close [--window N] | show N      the windows and their states
    report --window N                               gross, net, saving, nets, bilateral matrix
    reconcile --window N                            each member: acknowledged, disputed, silent, or idle
                                                    (no transfers in the window: no answer needed)
    settle --window N [--override-reason TEXT]      record final settlement
    abort-window --window N --reason TEXT           abandon a window before settlement
    export --window N [--out DIR]                   camt.053, pacs.008 and CSV files
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fedmall import money
from fedmall.console import EXIT_OK, EXIT_REFUSED, emit, table, utc_time
from fedmall.v1 import settlement_pb2

from clearing import exports, netting
from clearing.windows import ACKNOWLEDGED, IDLE, SILENT, WindowService, state_name


def add_commands(commands: argparse._SubParsersAction) -> None:
    windows = commands.add_parser("windows", help="list, close or show settlement windows")
    actions = windows.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every window with its state and times").add_argument("--json", action="store_true")
    close = actions.add_parser("close", help="close the open window, open the next, issue statements")
    close.add_argument("--window", type=int, help="refuse unless this is the open window")
    close.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one window: its state, times and netting (as report does)")
    show.add_argument("window", type=int)
    show.add_argument("--json", action="store_true")
    for name, text in (("report", "the window's netting"),
                       ("reconcile", "the members' answers to their statements; a member with no transfers in the "
                                     "window is idle and need not answer")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--window", type=int, required=True)
        command.add_argument("--json", action="store_true")
    settle = commands.add_parser("settle", help="record final settlement of a window")
    settle.add_argument("--window", type=int, required=True)
    settle.add_argument("--override-reason", help="settle despite disputes or silence; recorded in the audit log")
    settle.add_argument("--json", action="store_true")
    export = commands.add_parser("export", help="ISO 20022 camt.053 per member, pacs.008 per transfer, CSV report")
    export.add_argument("--window", type=int, required=True)
    export.add_argument("--out", type=Path, help="folder for the files (default: exports/w<N> in the home)")
    export.add_argument("--json", action="store_true")
    abort = commands.add_parser("abort-window", help="abandon a closed window; its transfers move to the open one")
    abort.add_argument("--window", type=int, required=True)
    abort.add_argument("--reason", required=True)
    abort.add_argument("--json", action="store_true")


def _window_document(row) -> dict:
    return {"window": row.window_id, "state": state_name(row.state), "opened_at_ms": row.opened_at_ms,
            "closed_at_ms": row.closed_at_ms, "settled_at_ms": row.settled_at_ms,
            "operator_reason": row.operator_reason}


def windows_command(args, windows: WindowService) -> int:
    if args.action == "list":
        documents = [_window_document(row) for row in windows.windows()]
        emit(documents, as_json=args.json, human=table(
            [{"window": d["window"], "state": d["state"], "opened": utc_time(d["opened_at_ms"]),
              "closed": utc_time(d["closed_at_ms"]), "settled": utc_time(d["settled_at_ms"])} for d in documents],
            ["window", "state", "opened", "closed", "settled"]))
        return EXIT_OK
    if args.action == "close":
        closed, opened = windows.close(window_id=args.window)  # Never None without open_for_ms_min.
        windows.issue(closed)
        emit({"closed": closed, "opened": opened}, as_json=args.json,
             human=f"closed window {closed} (report and statements issued); window {opened} is open")
        return EXIT_OK
    return report_command(argparse.Namespace(window=args.window, json=args.json), windows)


def report_document(windows: WindowService, window_id: int) -> dict:
    row = windows.window(window_id)
    document = _window_document(row)
    if row.report_envelope is None:  # Open or just closed: net it live from the transfers.
        result = windows.netting(window_id)
        document.update(transfer_count=result.transfer_count, issued=False, nets=[
            {"bank_id": r.bank_id, "currency": r.currency, "debits_minor": r.debits_minor,
             "credits_minor": r.credits_minor, "net_minor": r.net_minor} for r in result.rows],
            gross_minor=result.gross_minor, net_total_minor=result.net_total_minor, bilateral=[_pair_document(p) for p in result.pairs])
    else:
        _, report = windows.report(window_id)
        document.update(
            transfer_count=report.transfer_count, issued=True,
            nets=[{"bank_id": p.bank_id, "currency": p.net.currency, "debits_minor": p.debits.amount_minor,
                   "credits_minor": p.credits.amount_minor, "net_minor": p.net.amount_minor}
                  for p in report.net_positions],
            gross_minor={m.currency: m.amount_minor for m in report.gross},
            net_total_minor={m.currency: m.amount_minor for m in report.net_total},
            bilateral=[_pair_document(netting.PairRow(
                bank_id=p.bank_id, counterparty_bank_id=p.counterparty_bank_id, currency=p.net.currency,
                paid_minor=p.paid.amount_minor, received_minor=p.received.amount_minor,
                transfer_count=p.transfer_count)) for p in report.bilateral],
            audit_head={"sequence": report.audit_head.sequence, "entry_hash": report.audit_head.entry_hash.hex()})
    document["liquidity_saving_pct"] = {
        currency: float(netting.liquidity_saving_pct(gross_minor=gross,
                                                     net_total_minor=document["net_total_minor"].get(currency, 0)))
        for currency, gross in document["gross_minor"].items()}
    return document


def _pair_document(pair: netting.PairRow) -> dict:
    return {"bank_id": pair.bank_id, "counterparty_bank_id": pair.counterparty_bank_id, "currency": pair.currency,
            "paid_minor": pair.paid_minor, "received_minor": pair.received_minor, "net_minor": pair.net_minor,
            "transfer_count": pair.transfer_count}


def report_command(args, windows: WindowService) -> int:
    document = report_document(windows, args.window)
    lines = [f"window {document['window']}: {document['state']}, {document['transfer_count']} transfers"]
    for currency, gross in sorted(document["gross_minor"].items()):
        lines.append(f"  {currency}: gross {money.format_amount(gross, currency)}, net "
                     f"{money.format_amount(document['net_total_minor'][currency], currency)}, liquidity saving "
                     f"{document['liquidity_saving_pct'][currency]}%")
    rows = [{"bank": n["bank_id"], "currency": n["currency"],
             "paid": money.format_amount(n["debits_minor"], n["currency"]),
             "received": money.format_amount(n["credits_minor"], n["currency"]),
             "net": money.format_amount(n["net_minor"], n["currency"])} for n in document["nets"]]
    lines.append(table(rows, ["bank", "currency", "paid", "received", "net"]))
    lines.append("net > 0: the bank receives at settlement; net < 0: it pays.")
    if document["bilateral"]:
        lines.append(table([{"bank": b["bank_id"], "counterparty": b["counterparty_bank_id"], "currency": b["currency"],
                             "paid": money.format_amount(b["paid_minor"], b["currency"]),
                             "received": money.format_amount(b["received_minor"], b["currency"]),
                             "net": money.format_amount(b["net_minor"], b["currency"]),
                             "transfers": b["transfer_count"]} for b in document["bilateral"]],
                           ["bank", "counterparty", "currency", "paid", "received", "net", "transfers"]))
        lines.append("bilateral: what each pair of banks paid each other; net > 0: the counterparty owes the bank.")
    emit(document, as_json=args.json, human="\n".join(lines))
    return EXIT_OK


def _break_text(item: settlement_pb2.ReconciliationBreak) -> str:
    kind = settlement_pb2.BreakKind.Name(item.kind).removeprefix("BREAK_KIND_")
    return f"{kind} {item.transfer_id}"


ANSWER_TEXTS = {IDLE: "idle — no answer needed"}


def reconcile_command(args, windows: WindowService) -> int:
    answers = windows.answers(args.window)
    document = {"window": args.window, "members": [
        {"bank_id": a.bank_id, "status": a.status, "breaks": [_break_text(b) for b in a.breaks]} for a in answers],
        "breaks": sum(len(a.breaks) for a in answers),
        "silent": [a.bank_id for a in answers if a.status == SILENT],
        "idle": [a.bank_id for a in answers if a.status == IDLE]}
    rows = [{"bank": a.bank_id, "answer": ANSWER_TEXTS.get(a.status, a.status), "breaks": len(a.breaks),
             "detail": "; ".join(_break_text(b) for b in a.breaks[:3]) + (" …" if len(a.breaks) > 3 else "")}
            for a in answers]
    reconciled = bool(answers) and all(a.status in (ACKNOWLEDGED, IDLE) for a in answers)
    verdict = ("NOT reconciled" if not reconciled else "every member acknowledged: no breaks"
               if all(a.status == ACKNOWLEDGED for a in answers) else
               "every member with transfers acknowledged: no breaks (idle members need not answer)")
    emit(document, as_json=args.json, human=f"window {args.window}: {verdict}\n" + table(rows, ["bank", "answer", "breaks", "detail"]))
    return EXIT_OK if reconciled else EXIT_REFUSED


def settle_command(args, windows: WindowService) -> int:
    nets = windows.settle(args.window, override_reason=args.override_reason)
    document = {"window": args.window, "settled": [
        {"bank_id": n.bank_id, "currency": n.currency, "net_minor": n.net_minor} for n in nets],
        "override_reason": args.override_reason}
    rows = [{"bank": n.bank_id, "liquidity change": money.format_amount(n.net_minor, n.currency),
             "currency": n.currency} for n in nets]
    emit(document, as_json=args.json,
         human=f"window {args.window} settled; positions reset, liquidity moved:\n" + table(rows, ["bank", "liquidity change", "currency"]))
    return EXIT_OK


def abort_command(args, windows: WindowService) -> int:
    moved_to = windows.abort(args.window, reason=args.reason)
    emit({"window": args.window, "moved_to": moved_to}, as_json=args.json,
         human=f"window {args.window} aborted; its transfers now belong to window {moved_to}")
    return EXIT_OK


def export_command(args, windows: WindowService) -> int:
    out = args.out or args.home / "exports" / f"w{args.window}"
    paths = exports.export_window(windows.store, args.window, out, created_at_ms=windows.clock_ms())
    emit([str(p) for p in paths], as_json=args.json,
         human=f"window {args.window}: {len(paths)} files in {out}\n" + "\n".join(f"  {p.name}" for p in paths[:10])
         + (f"\n  … and {len(paths) - 10} more" if len(paths) > 10 else ""))
    return EXIT_OK


COMMANDS = {"windows": windows_command, "report": report_command, "reconcile": reconcile_command,
            "settle": settle_command, "abort-window": abort_command, "export": export_command}
