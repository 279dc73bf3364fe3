"""fedmall-clearing status: is the clearing up, and how is it doing.

The running process answers for itself (uptime, readiness, the members whose delivery
streams it holds) on its /status (fedmall.observability); the rest is read from the home
folder and the database, with the server running or not: the version, the database, the
members and their delivery lag, the backlogs, the open window, the last minute's
throughput and the certificates' expiry. Nothing is written (not even a migration).
Exit 0 when the clearing runs and is ready, 1 otherwise.
"""
from __future__ import annotations

import argparse
import time

import sqlalchemy as sa

from fedmall import database, observability, status_view
from fedmall.console import emit, table, utc_time

from clearing import certificates
from clearing.config import ClearingConfig
from clearing.metrics import delivery_taken
from clearing.store import participants, settlement_windows, transfers
from clearing.transfers import ABORTED, COMMITTED, RESERVED
from clearing import windows


def add_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("status", help="version, uptime, readiness, database, connected members, backlogs, "
                                                 "the open window, the last minute's throughput, certificate expiry")
    command.add_argument("--json", action="store_true")


def run(args) -> int:
    config = ClearingConfig.load(args.home)
    now_ms = time.time_ns() // 1_000_000
    process = status_view.process_facts(config.home)
    document = {"version": observability.version(), "home": str(config.home), "listen_address": config.listen_address,
                "database": database.shown_url(config.database_url), "process": process,
                "certificate": status_view.certificate_facts(config.home / "tls.crt", now_ms=now_ms)}
    document.update(status_view.database_facts(config.database_url,
                                               lambda connection: _read(connection, now_ms=now_ms)))
    connected = set(process.get("connected_members", []))
    streamed = process.get("streamed_sequences", {})
    for member in document.get("members", []):
        member["connected"] = member["bank_id"] in connected if process["running"] else None
        member["delivery_lag"] = member["delivery_issued"] - delivery_taken(
            issued=member["delivery_issued"], acknowledged=member["delivery_acknowledged"],
            streamed=streamed.get(member["bank_id"], 0))
    emit(document, as_json=args.json, human=_human(document))
    return status_view.exit_code(process)


def _read(connection: sa.Connection, *, now_ms: int) -> dict:
    bank_certificates = {party_id: entry for (role, party_id), entry in
                         certificates.newest_by_party(certificates.listed(connection)).items() if role == "bank"}
    members = []
    for row in connection.execute(sa.select(participants).order_by(participants.c.bank_id)):
        entry = bank_certificates.get(row.bank_id)
        members.append({"bank_id": row.bank_id, "status": row.status,
                        "delivery_issued": row.delivery_sequence, "delivery_acknowledged": row.acknowledged_sequence,
                        "certificate_not_after_ms": entry.not_after_ms if entry else None,
                        "certificate_days_left": entry.days_left(now_ms) if entry else None})
    since_ms = now_ms - status_view.THROUGHPUT_WINDOW_MS
    decided = dict(connection.execute(sa.select(transfers.c.state, sa.func.count()).where(
        transfers.c.decided_at_ms >= since_ms).group_by(transfers.c.state)).all())
    received = connection.scalar(sa.select(sa.func.count()).where(transfers.c.created_at_ms >= since_ms))
    open_window = connection.execute(sa.select(settlement_windows.c.window_id, settlement_windows.c.opened_at_ms)
                                     .where(settlement_windows.c.state == windows.OPEN)).first()
    pending = connection.scalar(sa.select(sa.func.count()).where(
        settlement_windows.c.state.in_([windows.CLOSED, windows.PENDING_SETTLEMENT])))
    return {
        "members": members,
        "backlogs": {"reserved_transfers": connection.scalar(sa.select(sa.func.count()).where(
            transfers.c.state == RESERVED)), "windows_not_settled": pending},
        "open_window": {"window_id": open_window.window_id, "opened_at_ms": open_window.opened_at_ms,
                        "age_s": (now_ms - open_window.opened_at_ms) // 1000} if open_window else None,
        "last_minute": {"received": received, "committed": decided.get(COMMITTED, 0),
                        "aborted": decided.get(ABORTED, 0),
                        "committed_per_s": round(decided.get(COMMITTED, 0) / 60, 1)},
    }


def _human(document: dict) -> str:
    rows = [{"what": "clearing", "value": f"version {document['version']}, home {document['home']}, gRPC on "
                                          f"{document['listen_address']}"},
            *status_view.process_rows(document["process"]),
            {"what": "database", "value": document["database"] + (
                f": UNREACHABLE ({document['database_error']})" if "database_error" in document else "")},
            {"what": "certificate", "value": status_view.certificate_text(document["certificate"])}]
    if "database_error" not in document:
        window, minute, backlogs = document["open_window"], document["last_minute"], document["backlogs"]
        rows += [
            {"what": "open window", "value": "none" if window is None else (
                f"{window['window_id']}, open since {utc_time(window['opened_at_ms'])} UTC "
                f"({status_view.duration_text(window['age_s'])})")},
            {"what": "backlogs", "value": f"{backlogs['reserved_transfers']} transfers reserved and undecided, "
                                          f"{backlogs['windows_not_settled']} windows closed and not settled"},
            {"what": "last minute", "value": f"{minute['received']} received, {minute['committed']} committed "
                                             f"({minute['committed_per_s']}/s), {minute['aborted']} aborted"}]
    text = status_view.facts_table(rows)
    members = document.get("members", [])
    if members:
        text += "\n\n" + table([{
            "bank": m["bank_id"], "status": m["status"],
            "stream": {True: "connected", False: "not connected", None: "-"}[m["connected"]],
            "issued": m["delivery_issued"], "lag": m["delivery_lag"],
            "certificate": status_view.certificate_text({"not_after_ms": m["certificate_not_after_ms"],
                                                         "days_left": m["certificate_days_left"]}),
        } for m in members], ["bank", "status", "stream", "issued", "lag", "certificate"])
    return text
