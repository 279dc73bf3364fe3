"""What each console page shows, read through the same modules as the command line: the
participants list (clearing.participants_cli), the windows' netting and answers
(clearing.settlement_cli, clearing.windows), transfer search and lookup
(clearing.transfer_list, clearing.transfer_lookup), the audit log (clearing.audit_reading)
and the funds movements (clearing.funds). Each function returns plain data for a template.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Mapping

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import settlement_pb2

from clearing import audit_reading, limits, participants_cli, rules, settlement_cli, transfer_list, transfer_lookup
from clearing.funds import FundsService
from clearing.registry import Registry
from clearing.store import Store
from clearing.windows import ACKNOWLEDGED, IDLE, PENDING_SETTLEMENT, OPEN, WindowService, state_name

PAGE_ROWS = 50


@dataclass(frozen=True, slots=True)
class Services:
    """The running clearing's own services: the console changes nothing any other way."""
    store: Store
    registry: Registry
    windows: WindowService
    funds: FundsService


def participants(services: Services, *, now_ms: int) -> dict:
    documents, warnings = participants_cli.participant_documents(services.store, services.registry, now_ms=now_ms)
    return {"participants": documents, "warnings": warnings}


def participant(services: Services, bank_id: str, *, now_ms: int) -> dict:
    documents = participants(services, now_ms=now_ms)["participants"]
    found = next((d for d in documents if d["bank_id"] == bank_id), None)
    if found is None:
        raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
    return {"participant": found, "movements": services.funds.list(bank_id=bank_id, limit=PAGE_ROWS)}


def windows(services: Services) -> dict:
    rows = services.windows.windows()
    newest = reversed(rows[-limits.console_page_rows_max:])
    return {"windows": [{"window": row.window_id, "state": state_name(row.state), "opened_at_ms": row.opened_at_ms,
                         "closed_at_ms": row.closed_at_ms, "settled_at_ms": row.settled_at_ms,
                         "operator_reason": row.operator_reason} for row in newest],
            "open_window": next((row.window_id for row in rows if row.state == OPEN), None)}


def window(services: Services, window_id: int) -> dict:
    """The window's netting as `report` shows it, and each member's answer as `reconcile` does,
    each break with its transfer id (or a funds movement's id)."""
    document = settlement_cli.report_document(services.windows, window_id)
    answers = services.windows.answers(window_id)
    return {**document,
            "answers": [{"bank_id": a.bank_id, "status": a.status,
                         "text": settlement_cli.ANSWER_TEXTS.get(a.status, a.status),
                         "breaks": [_break(b) for b in a.breaks]} for a in answers],
            "settleable": services.windows.window(window_id).state == PENDING_SETTLEMENT,
            "reconciled": bool(answers) and all(a.status in (ACKNOWLEDGED, IDLE) for a in answers)}


def _break(item: settlement_pb2.ReconciliationBreak) -> dict:
    return {"kind": settlement_pb2.BreakKind.Name(item.kind).removeprefix("BREAK_KIND_"),
            "transfer_id": item.transfer_id, "detail": item.detail,
            "is_transfer": rules.is_uuid(item.transfer_id)}  # Else a funds movement's id.


SEARCH_FIELDS = ("bank", "counterparty", "state", "window", "min", "max", "after")


def transfers(services: Services, query: Mapping[str, str]) -> dict:
    """One page of the search; bad input is ValueError or FedmallError, as on the command line."""
    window_text = query.get("window", "").strip()
    if window_text and not window_text.isdigit():
        raise ValueError(f"window is a number, not {window_text!r}")
    with services.store.read() as connection:
        chosen = transfer_list.filter_of(
            connection, bank_id=query.get("bank", "").strip(), counterparty_id=query.get("counterparty", "").strip(),
            state=query.get("state", "").strip(), window_id=int(window_text) if window_text else None,
            since_ms=None, until_ms=None, min_text=query.get("min", "").strip() or None,
            max_text=query.get("max", "").strip() or None, currency="")
        page, next_cursor = transfer_list.list_transfers(connection, chosen, page_size=PAGE_ROWS,
                                                         after=query.get("after", "").strip())
    return {"transfers": [dataclasses.asdict(row) for row in page], "next_cursor": next_cursor,
            "query": {name: query.get(name, "") for name in SEARCH_FIELDS}, "states": list(transfer_list.STATES)}


def transfer(services: Services, transfer_id: str) -> dict:
    with services.store.read() as connection:
        found = transfer_lookup.look_up(connection, transfer_id)
    return {"transfer": dataclasses.asdict(found),
            "prepare_json": json.dumps(found.prepare, indent=2, sort_keys=True)}


AUDIT_FIELDS = ("kind", "party", "window", "transfer", "after")


def audit(services: Services, query: Mapping[str, str]) -> dict:
    numbers = {}
    for name in ("window", "after"):
        text = query.get(name, "").strip()
        if text and not text.isdigit():
            raise ValueError(f"{name} is a number, not {text!r}")
        numbers[name] = int(text) if text else None
    chosen = audit_reading.AuditFilter(kind=query.get("kind", "").strip(), party_id=query.get("party", "").strip(),
                                       window_id=numbers["window"], transfer_id=query.get("transfer", "").strip())
    with services.store.read() as connection:
        page = audit_reading.list_entries(connection, chosen, page_size=PAGE_ROWS, after_sequence=numbers["after"] or 0)
    return {"entries": [{"sequence": e.sequence, "recorded_at_ms": e.recorded_at_ms, "kind": e.kind,
                         "party_id": e.party_id, "summary": audit_reading.summary(e.kind, e.body)}
                        for e in page.entries],
            "next_after": page.next_after, "query": {name: query.get(name, "") for name in AUDIT_FIELDS}}


def audit_entry(services: Services, sequence: int) -> dict:
    with services.store.read() as connection:
        entry = audit_reading.get_entry(connection, sequence)
    if entry is None:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"no audit entry {sequence}")
    return {"entry": entry, "entry_hash": entry.entry_hash.hex(), "previous_hash": entry.previous_hash.hex(),
            "body_json": json.dumps(audit_reading.decode_body(entry.kind, entry.body), indent=2, sort_keys=True),
            "replay_of": audit_reading.replay_of(entry.body)}


def funds(services: Services, query: Mapping[str, str]) -> dict:
    bank_id = query.get("bank", "").strip()
    return {"movements": services.funds.list(bank_id=bank_id, limit=limits.console_page_rows_max), "bank": bank_id}
