"""The operator's membership changes on fedmall-clearing (clearing.membership makes them; each
is recorded in the audit log with the operator's name and reason, clearing.operator):

    participants set-address BANK HOST:PORT --reason TEXT   where other nodes reach its node
    participants set-name BANK NAME --reason TEXT           its display name
    participants leave BANK --reason TEXT                   a suspended bank with nothing left leaves
"""
from __future__ import annotations

import argparse

from fedmall.console import EXIT_OK, EXIT_REFUSED, emit, fail
from fedmall.results import name_of

from clearing import membership, operator, rules
from clearing.operator import OperatorAction


def add_actions(member_actions: argparse._SubParsersAction) -> None:
    address = member_actions.add_parser(
        "set-address", help="where the bank's node listens for other nodes; they use it without a restart",
        description="Change the host:port other nodes reach the bank's node at. Start the node there first: other "
                    "nodes use the new address from their next registry read, and demand the bank's party name of "
                    "the node they reach there, not the host, so no renewal is needed for them; the certificate "
                    "names the host too, for operators' own tools.")
    address.add_argument("bank_id")
    address.add_argument("node_address", help="host:port")
    name = member_actions.add_parser("set-name", help="the bank's display name")
    name.add_argument("bank_id")
    name.add_argument("name")
    leave = member_actions.add_parser(
        "leave", help="a suspended bank with nothing left at the clearing leaves the consortium for good",
        description="Refused, changing nothing, unless the bank is suspended, its position and reservations are "
                    "zero, every window holding its transfers is settled, and its liquidity was paid out. Then its "
                    "signing keys are revoked and it is marked left: it can no longer call the clearing, pay or be "
                    "paid, and cannot be resumed; its history stays.")
    leave.add_argument("bank_id")
    for command in (address, name, leave):
        operator.add_arguments(command)
        command.add_argument("--json", action="store_true")


def set_address(args, members: membership.Membership, action: OperatorAction) -> int:
    change = members.set_address(args.bank_id, args.node_address, action=action)
    renewal = change.changed and membership.certificate_renewal_needed(change.previous, change.current)
    document = {"bank_id": change.bank_id, "node_address": change.current, "previous": change.previous,
                "changed": change.changed, "certificate_renewal_needed": renewal}
    human = (f"{change.bank_id}'s node address is now {change.current} (was {change.previous}); other nodes use it "
             "from their next registry read" if change.changed
             else f"{change.bank_id}'s node address already is {change.current}; nothing changed")
    if renewal:
        human += (f"\nwarning: {change.bank_id}'s TLS certificate was issued for the host of {change.previous}; "
                  "renew it for the new host if operators' tools dial the node by host name (other nodes need "
                  "no renewal: they check its party name)")
    emit(document, as_json=args.json, human=human)
    return EXIT_OK


def set_name(args, members: membership.Membership, action: OperatorAction) -> int:
    change = members.set_name(args.bank_id, args.name, action=action)
    emit({"bank_id": change.bank_id, "name": change.current, "previous": change.previous, "changed": change.changed},
         as_json=args.json,
         human=f"{change.bank_id} is now named {change.current!r} (was {change.previous!r})" if change.changed
         else f"{change.bank_id} already is named {change.current!r}; nothing changed")
    return EXIT_OK


def leave(args, members: membership.Membership, action: OperatorAction) -> int:
    try:
        departure = members.leave(args.bank_id, action=action)
    except membership.LeaveRefused as refusal:
        document = {"bank_id": args.bank_id, "left": False, "result": name_of(refusal.code),
                    "problems": [{"condition": p.condition, "detail": p.detail} for p in refusal.problems]}
        if args.json:
            emit(document, as_json=True, human="")
            return EXIT_REFUSED
        return fail(f"{name_of(refusal.code)}: {args.bank_id} cannot leave, nothing changed:\n"
                    + "\n".join(f"  {p.condition}: {p.detail}" for p in refusal.problems), code=EXIT_REFUSED)
    emit({"bank_id": departure.bank_id, "left": True, "status": rules.LEFT,
          "revoked_key_ids": list(departure.revoked_key_ids)}, as_json=args.json,
         human=f"{departure.bank_id} left the consortium; signing keys revoked: "
               f"{', '.join(departure.revoked_key_ids) or 'none'}")
    return EXIT_OK


ACTIONS = {"set-address": set_address, "set-name": set_name, "leave": leave}
