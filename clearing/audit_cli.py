"""The operator's reading of the audit log on fedmall-clearing (clearing.audit_reading does the work):

    audit list [--kind K] [--party P] [--since T] [--until T] [--window N] [--transfer ID]
               [--limit N] [--after SEQ] [--json]      oldest first, a page at a time
    audit show SEQ [--json | --raw]                    one entry, its body decoded

audit-verify, which recomputes the hash chain, stays a command of its own.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from typing import Callable

import sqlalchemy as sa

from fedmall.console import EXIT_OK, emit, table

from clearing import audit_reading, limits
from clearing.store import audit_log

PAGE_SIZE_DEFAULT = 50


def add_commands(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="read the audit log: list entries, show one decoded")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="entries oldest first, filtered, a page at a time")
    listing.add_argument("--kind", default="", help="exact (admit, prepares, window.close), or a prefix "
                                                    "ending in '.' or '*' (window., reconciliation*)")
    listing.add_argument("--party", default="", help="who the entry is from: a bank, clearing or operator")
    listing.add_argument("--since", help="recorded at or after, ISO 8601 (2026-11-29T10:00:00Z)")
    listing.add_argument("--until", help="recorded before, ISO 8601")
    listing.add_argument("--window", type=int, help="entries about window N: its own events and the members' "
                                                    "reconciliations of it")
    listing.add_argument("--transfer", default="", help="entries naming the transfer: batches that carried it, "
                                                        "the expiry that aborted it")
    listing.add_argument("--limit", type=int, default=PAGE_SIZE_DEFAULT,
                         help=f"entries per page, 1..{limits.audit_page_entries_max}")
    listing.add_argument("--after", type=int, default=0, help="the cursor the previous page printed (a sequence)")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one entry with its body decoded (envelopes and their payloads)")
    show.add_argument("sequence", type=int)
    output = show.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the decoded body, the raw body as base64, the hashes")
    output.add_argument("--raw", action="store_true", help="the exact body bytes, to stdout")


def list_command(args, connection: sa.Connection, chosen: audit_reading.AuditFilter, *,
                 time_text: Callable[[int], str]) -> int:
    page = audit_reading.list_entries(connection, chosen, page_size=args.limit, after_sequence=args.after)
    document = {"entries": [{**_heading(entry), "body": audit_reading.decode_body(entry.kind, entry.body)}
                            for entry in page.entries],
                "next_after": page.next_after}
    human = table([{"seq": str(entry.sequence), "recorded": time_text(entry.recorded_at_ms), "kind": entry.kind,
                    "by": entry.party_id, "what": audit_reading.summary(entry.kind, entry.body)}
                   for entry in page.entries], ["seq", "recorded", "kind", "by", "what"]) \
        if page.entries else "no audit entries"
    if page.next_after is not None:
        human += f"\nmore: --after {page.next_after}"
    emit(document, as_json=args.json, human=human)
    return EXIT_OK


def show_command(args, connection: sa.Connection, *, time_text: Callable[[int], str]) -> int:
    entry = audit_reading.get_entry(connection, args.sequence)
    if entry is None:
        newest = connection.scalar(sa.select(sa.func.max(audit_log.c.sequence))) or 0
        raise ValueError(f"no audit entry {args.sequence}: the log holds entries 1..{newest}")
    if args.raw:
        sys.stdout.buffer.write(entry.body)
        sys.stdout.flush()
        return EXIT_OK
    body = audit_reading.decode_body(entry.kind, entry.body)
    document = {**_heading(entry), "body": body, "body_base64": base64.b64encode(entry.body).decode(),
                "body_sha256": hashlib.sha256(entry.body).hexdigest(), "previous_hash": entry.previous_hash.hex()}
    human = "\n".join([
        f"audit entry {entry.sequence}: {entry.kind} by {entry.party_id} at {time_text(entry.recorded_at_ms)}",
        f"entry hash {entry.entry_hash.hex()}", f"previous   {entry.previous_hash.hex()}",
        f"body       {len(entry.body)} bytes, sha256 {document['body_sha256']}",
        *_replay_lines(entry, body), "", json.dumps(body, indent=2, sort_keys=True)])
    emit(document, as_json=args.json, human=human)
    return EXIT_OK


def _replay_lines(entry: audit_reading.AuditEntry, body: dict) -> list[str]:
    """A replay names the entry that first recorded its envelope (clearing.audit_envelopes)."""
    first = audit_reading.replay_of(entry.body)
    if first is None:
        return []
    lines = [f"replay     the same envelope as entry {first} (fedmall-clearing audit show {first})"]
    if type(body.get("results_as_in")) is int:
        lines.append(f"results    as listed in entry {body['results_as_in']}")
    return lines


def _heading(entry: audit_reading.AuditEntry) -> dict:
    return {"sequence": entry.sequence, "recorded_at_ms": entry.recorded_at_ms, "kind": entry.kind,
            "party_id": entry.party_id, "entry_hash": entry.entry_hash.hex()}
