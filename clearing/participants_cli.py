"""The operator's changes to a member on fedmall-clearing (clearing.registry makes them; each is
recorded in the audit log with the operator's name and reason, clearing.operator):

    participants set-cap BANK AMOUNT --reason TEXT [--operator NAME] [--json]
    participants set-threshold BANK PERCENT --reason TEXT [--operator NAME] [--json]

The same value again changes and records nothing, and says so ("unchanged").
"""
from __future__ import annotations

import argparse

from fedmall import money
from fedmall.console import EXIT_OK, emit
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from clearing import certificates_cli, operator, rules
from clearing.registry import Registry, SettingChange
from clearing.store import Store


def add_actions(actions: argparse._SubParsersAction) -> None:
    set_cap = actions.add_parser(
        "set-cap", help="change a member's net debit cap: new reservations meet it at once, those made stand")
    set_cap.add_argument("bank_id")
    set_cap.add_argument("amount", help="decimal amount in the bank's currency, 0 or more, e.g. 50000.00")
    operator.add_arguments(set_cap)
    set_cap.add_argument("--json", action="store_true")
    set_threshold = actions.add_parser(
        "set-threshold", help="the share of its cap (position + reserved) at which participants flags a member")
    set_threshold.add_argument("bank_id")
    set_threshold.add_argument("percent", help=f"{rules.CAP_ALERT_PERCENT_MIN}..{rules.CAP_ALERT_PERCENT_MAX}")
    operator.add_arguments(set_threshold)
    set_threshold.add_argument("--json", action="store_true")


def participant_documents(store: Store, registry: Registry, *, now_ms: int) -> tuple[list[dict], list[str]]:
    """Each member as `participants --json` lists it (the web console shows the same), and the
    certificate expiry warnings."""
    rows = registry.list()
    bank_certificates, warnings = certificates_cli.participant_certificates(store, now_ms=now_ms)
    return [{
        "bank_id": r.bank_id, "name": r.name, "currency": r.currency, "status": r.status,
        "position_minor": r.position_minor, "reserved_minor": r.reserved_minor,
        "net_debit_cap_minor": r.net_debit_cap_minor, "liquidity_minor": r.liquidity_minor,
        "headroom_minor": rules.headroom_minor(position_minor=r.position_minor, reserved_minor=r.reserved_minor,
                                               net_debit_cap_minor=r.net_debit_cap_minor,
                                               liquidity_minor=rules.available_liquidity_minor(r)),
        "funds_out_reserved_minor": r.funds_out_reserved_minor, "unsettled_gross_minor": r.unsettled_gross_minor,
        "node_address": r.node_address, **usage_fields(r),
        **certificates_cli.participant_fields(bank_certificates.get(r.bank_id), now_ms=now_ms)} for r in rows], warnings


def parse_cap(registry: Registry, bank_id: str, amount_text: str) -> tuple[int, str]:
    """A cap typed in the bank's currency: (minor units, currency); UNKNOWN_PARTICIPANT, INVALID_AMOUNT."""
    currency = _participant(registry, bank_id).currency
    try:
        return money.parse_amount(amount_text, currency, zero_allowed=True), currency
    except money.MoneyError as error:
        raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT, str(error)) from None


def set_cap(args, registry: Registry) -> int:
    action = operator.from_args(args)
    cap_minor, currency = parse_cap(registry, args.bank_id, args.amount)
    change = registry.set_net_debit_cap(args.bank_id, cap_minor=cap_minor, currency=currency, action=action)
    row = change.participant
    exposure_minor = row.position_minor + row.reserved_minor
    emit({**_document(change, "net_debit_cap_minor", action), "exposure_minor": exposure_minor,
          "over_cap": exposure_minor > row.net_debit_cap_minor}, as_json=args.json, human=cap_change_text(change))
    return EXIT_OK


def cap_change_text(change: SettingChange) -> str:
    """What a cap change did, for people (the command line and the web console say the same)."""
    row = change.participant
    exposure_minor = row.position_minor + row.reserved_minor

    def amount(amount_minor: int) -> str:
        return money.format_money(amount_minor, row.currency)

    if change.audit_sequence is None:
        text = f"{row.bank_id}: net debit cap is already {amount(row.net_debit_cap_minor)}; unchanged, nothing recorded"
    else:
        text = (f"{row.bank_id}: net debit cap {amount(change.old_value)} -> {amount(row.net_debit_cap_minor)} "
                f"(audit entry {change.audit_sequence})")
    if exposure_minor > row.net_debit_cap_minor:
        text += (f"\nits exposure (position + reserved) of {amount(exposure_minor)} is above the cap: the "
                 f"reservations it holds stand and may commit, but it reserves nothing more until its exposure "
                 f"comes under {amount(row.net_debit_cap_minor)}")
    return text


def set_threshold(args, registry: Registry) -> int:
    action = operator.from_args(args)
    text = args.percent.strip().removesuffix("%")
    if not (text.isascii() and text.isdigit()):
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"a cap alert is a whole percent, not {args.percent!r}")
    change = registry.set_cap_alert_percent(args.bank_id, percent=int(text), action=action)
    row = change.participant
    if change.audit_sequence is None:
        human = f"{row.bank_id}: cap alert is already at {row.cap_alert_percent}%; unchanged, nothing recorded"
    else:
        human = (f"{row.bank_id}: cap alert at {row.cap_alert_percent}% of its cap (was {change.old_value}%; "
                 f"audit entry {change.audit_sequence})")
    usage = usage_fields(row)
    human += f"\nit uses {_share(usage['cap_used_percent'])}" + (", at or above its alert" if usage["over_threshold"] else "")
    emit(_document(change, "cap_alert_percent", action), as_json=args.json, human=human)
    return EXIT_OK


ACTIONS = {"set-cap": set_cap, "set-threshold": set_threshold}


def _participant(registry: Registry, bank_id: str):
    row = registry.get(bank_id)
    if row is None:
        raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
    return row


def _document(change: SettingChange, column: str, action: operator.OperatorAction) -> dict:
    row = change.participant
    return {"bank_id": row.bank_id, "currency": row.currency, f"old_{column}": change.old_value,
            column: getattr(row, column), "changed": change.audit_sequence is not None,
            "audit_sequence": change.audit_sequence, **action.audit_fields(), **usage_fields(row)}


def usage_fields(row) -> dict:
    """How much of its cap a participant uses, and whether that is at or above its alert."""
    return {"cap_alert_percent": row.cap_alert_percent, "over_threshold": _over(row),
            "cap_used_percent": rules.cap_used_percent(position_minor=row.position_minor,
                                                       reserved_minor=row.reserved_minor,
                                                       net_debit_cap_minor=row.net_debit_cap_minor)}


USAGE_COLUMNS = ("cap used", "alert", "flag")


def usage_cells(document: dict) -> dict:
    """The participants table's cells for usage_fields."""
    used = document["cap_used_percent"]
    return {"cap used": "-" if used is None else f"{used}%", "alert": f"{document['cap_alert_percent']}%",
            "flag": "OVER" if document["over_threshold"] else ""}


def usage_notes(documents: list[dict]) -> str:
    """Under the participants table: what the columns mean, and every bank at or above its alert."""
    flagged = [f"{d['bank_id']} ({_share(d['cap_used_percent'])}, alert at {d['cap_alert_percent']}%)"
               for d in documents if d["over_threshold"]]
    return ("\n* cap used: (position + reserved) / cap; OVER at or above the bank's alert (set-threshold)"
            + ("\nat or above their cap alert: " + ", ".join(flagged) if flagged else ""))


def _over(row) -> bool:
    return rules.over_threshold(position_minor=row.position_minor, reserved_minor=row.reserved_minor,
                                net_debit_cap_minor=row.net_debit_cap_minor, alert_percent=row.cap_alert_percent)


def _share(used_percent: int | None) -> str:
    return "a cap of zero" if used_percent is None else f"{used_percent}% of its cap"
