"""The operator's actions in the web console: the command line's, through the same services.

Each action reads its form (parse: the command line's checks on what was typed, nothing
written), describes what it will do for the confirmation page (describe), and only when the
operator confirms does it (run), through the clearing's own registry, window and funds
services, which check the rules and write the audit entry in the change's transaction. A
refusal is the FedmallError those services raise: it changes nothing, and the console shows
its result code and message.

    suspend, resume          bank_id                         registry.set_status (status.*)
    set-cap                  bank_id, amount, reason         registry.set_net_debit_cap (participant.cap)
    close-window             window_id                       windows.close, then issue (window.close)
    settle                   window_id, override_reason      windows.settle (window.settle)
    funds-in, funds-out      bank_id, amount, movement_id,   funds.record_funds_in / reserve_funds_out
                             reference, reason               (funds.in / funds.out.reserve)
    funds-commit, -abort     movement_id, reason             funds.commit_funds_out / abort_funds_out

The logged-in operator's name goes into every audit entry (clearing.operator).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from fedmall import money
from fedmall.results import FedmallError
from fedmall.v1 import result_pb2 as rc

from clearing import funds as funds_rules
from clearing import funds_cli, operator, participants_cli, rules
from clearing.console.views import Services, window as window_view
from clearing.windows import OPEN, state_name


@dataclass(frozen=True, slots=True)
class Outcome:
    message: str                     # What was done, as the command line says it.
    link: str                        # The page to look at next.


@dataclass(frozen=True, slots=True)
class Plan:
    """A parsed, checked request, waiting for the operator's confirmation."""
    title: str
    lines: tuple[str, ...]           # What will happen, for the confirmation page.
    fields: dict[str, str]           # The form, carried through the confirmation unchanged.
    run: Callable[[], Outcome] = field(repr=False)


def plan(name: str, form: Mapping[str, str], services: Services, *, operator_name: str) -> Plan:
    """The named action on this form; FedmallError or ValueError when the form is refused."""
    make = PLANNERS.get(name)
    if make is None:
        raise FedmallError(rc.RESULT_CODE_INVALID_FIELD, f"no console action {name!r}")
    fields = {key: form.get(key, "").strip() for key in FIELDS[name]}
    return make(fields, services, operator_name)


def _bank(services: Services, bank_id: str):
    row = services.registry.get(bank_id)
    if row is None:
        raise FedmallError(rc.RESULT_CODE_UNKNOWN_PARTICIPANT, f"no participant {bank_id!r}")
    return row


def _window_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"a window is a number, not {text!r}")
    return int(text)


def _status_planner(status: str):
    verb = "suspend" if status == rules.SUSPENDED else "resume"

    def make(fields: dict[str, str], services: Services, operator_name: str) -> Plan:
        bank = _bank(services, fields["bank_id"])
        lines = (f"{bank.bank_id} ({bank.name}) is {bank.status}; it will be {status}.",
                 "A suspended bank can neither pay nor be paid; transfers it already reserved stand."
                 if status == rules.SUSPENDED else "It can pay and be paid again.")

        def run() -> Outcome:
            services.registry.set_status(bank.bank_id, status, operator=operator_name)
            return Outcome(f"{bank.bank_id} is now {status}", f"/participants/{bank.bank_id}")
        return Plan(f"{verb.capitalize()} {bank.bank_id}", lines, fields, run)
    return make


def _set_cap(fields: dict[str, str], services: Services, operator_name: str) -> Plan:
    action = operator.checked(operator_name, fields["reason"])
    bank = _bank(services, fields["bank_id"])
    cap_minor, currency = participants_cli.parse_cap(services.registry, bank.bank_id, fields["amount"])
    exposure_minor = bank.position_minor + bank.reserved_minor
    lines = [f"Net debit cap of {bank.bank_id}: {money.format_money(bank.net_debit_cap_minor, currency)} -> "
             f"{money.format_money(cap_minor, currency)}.", f"Reason: {action.reason}"]
    if exposure_minor > cap_minor:
        lines.append(f"Its exposure (position + reserved) of {money.format_money(exposure_minor, currency)} is above "
                     "the new cap: what it reserved stands, it reserves nothing more until it comes under the cap.")

    def run() -> Outcome:
        change = services.registry.set_net_debit_cap(bank.bank_id, cap_minor=cap_minor, currency=currency,
                                                     action=action)
        return Outcome(participants_cli.cap_change_text(change), f"/participants/{bank.bank_id}")
    return Plan(f"Change the cap of {bank.bank_id}", tuple(lines), fields, run)


def _close_window(fields: dict[str, str], services: Services, operator_name: str) -> Plan:
    window_id = _window_id(fields["window_id"])
    row = services.windows.window(window_id)
    if row.state != OPEN:  # windows.close refuses it too; say so before asking to confirm.
        raise FedmallError(rc.RESULT_CODE_WINDOW_STATE_INVALID, f"window {window_id} is {state_name(row.state)}, "
                                                                "not open")
    lines = (f"Window {window_id} is {state_name(row.state)}: it closes, window {window_id + 1} opens, and every "
             "member gets its signed report and statement.",)

    def run() -> Outcome:
        closed, opened = services.windows.close(window_id=window_id, operator=operator_name)
        services.windows.issue(closed)
        return Outcome(f"closed window {closed} (report and statements issued); window {opened} is open",
                       f"/windows/{closed}")
    return Plan(f"Close window {window_id}", lines, fields, run)


def _settle(fields: dict[str, str], services: Services, operator_name: str) -> Plan:
    window_id = _window_id(fields["window_id"])
    override_reason = fields["override_reason"]
    if override_reason:
        override_reason = operator.checked(operator_name, override_reason).reason
    document = window_view(services, window_id)
    lines = [f"Window {window_id} is {document['state']}; settling moves each member's liquidity by its net and "
             "resets its position:"]
    lines += [f"  {n['bank_id']}: {money.format_money(n['net_minor'], n['currency'])}" for n in document["nets"]]
    if not document["reconciled"]:
        lines.append("Not every member acknowledged its statement: settling needs an override reason, which is "
                     "recorded." if not override_reason else f"Override reason (recorded): {override_reason}")

    def run() -> Outcome:
        nets = services.windows.settle(window_id, override_reason=override_reason or None, operator=operator_name)
        return Outcome(f"window {window_id} settled; positions reset, liquidity moved: " + ", ".join(
            f"{n.bank_id} {money.format_money(n.net_minor, n.currency)}" for n in nets), f"/windows/{window_id}")
    return Plan(f"Settle window {window_id}", tuple(lines), fields, run)


def _funds_record(direction: str):
    def make(fields: dict[str, str], services: Services, operator_name: str) -> Plan:
        action = operator.checked(operator_name, fields["reason"])
        bank = _bank(services, fields["bank_id"])
        amount_minor = funds_cli.parse_amount(bank.currency, bank.bank_id, fields["amount"])
        funds_rules.check_movement_id(fields["movement_id"])
        funds_rules.check_external_reference(fields["reference"])
        amount = money.format_money(amount_minor, bank.currency)
        lines = ((f"Record {amount} paid in by {bank.bank_id}: its liquidity rises at once." if direction == "in" else
                  f"Reserve {amount} to pay out to {bank.bank_id}: it stops backing new transfers until committed "
                  "or aborted."),
                 f"Movement id {fields['movement_id']}, payment reference {fields['reference']}.",
                 f"Reason: {action.reason}")
        record = services.funds.record_funds_in if direction == "in" else services.funds.reserve_funds_out

        def run() -> Outcome:
            done = record(movement_id=fields["movement_id"], bank_id=bank.bank_id, amount_minor=amount_minor,
                          external_reference=fields["reference"], action=action)
            return Outcome(funds_cli.outcome_text(done), f"/participants/{bank.bank_id}")
        return Plan(f"Funds {direction} for {bank.bank_id}", lines, fields, run)
    return make


def _funds_decide(outcome: str):
    def make(fields: dict[str, str], services: Services, operator_name: str) -> Plan:
        action = operator.checked(operator_name, fields["reason"])
        funds_rules.check_movement_id(fields["movement_id"])
        lines = (f"Funds out {fields['movement_id']}: "
                 + ("the payout was made, the bank's liquidity goes down." if outcome == "commit"
                    else "the payout was not made, the reservation is released."), f"Reason: {action.reason}")
        decide = services.funds.commit_funds_out if outcome == "commit" else services.funds.abort_funds_out

        def run() -> Outcome:
            done = decide(fields["movement_id"], action=action)
            return Outcome(funds_cli.outcome_text(done), f"/participants/{done.movement.bank_id}")
        return Plan(f"{outcome.capitalize()} funds out {fields['movement_id']}", lines, fields, run)
    return make


FUNDS_FIELDS = ("bank_id", "amount", "movement_id", "reference", "reason")
FIELDS = {"suspend": ("bank_id",), "resume": ("bank_id",), "set-cap": ("bank_id", "amount", "reason"),
          "close-window": ("window_id",), "settle": ("window_id", "override_reason"),
          "funds-in": FUNDS_FIELDS, "funds-out": FUNDS_FIELDS,
          "funds-commit": ("movement_id", "reason"), "funds-abort": ("movement_id", "reason")}
PLANNERS = {"suspend": _status_planner(rules.SUSPENDED), "resume": _status_planner(rules.ACTIVE),
            "set-cap": _set_cap, "close-window": _close_window, "settle": _settle,
            "funds-in": _funds_record("in"), "funds-out": _funds_record("out"),
            "funds-commit": _funds_decide("commit"), "funds-abort": _funds_decide("abort")}
assert FIELDS.keys() == PLANNERS.keys()
