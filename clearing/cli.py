"""fedmall-clearing: the clearing operator's command line.

    init          create the consortium CA and the clearing's home
    admit         register a bank and write its credentials bundle
    serve         run the clearing service until SIGTERM
    participants  list members with status, positions, caps, liquidity and how much of the cap each
                  uses (flagged at or above its alert); set-cap BANK AMOUNT, set-threshold BANK
                  PERCENT, set-address BANK HOST:PORT (other nodes check the bank's party name,
                  not its host), set-name BANK NAME; leave BANK: a suspended member with
                  nothing left at the clearing leaves for good. Each change needs --reason and is
                  audited with the operator. A newly admitted bank is onboarding until its node
                  first connects (see clearing.participants_cli, clearing.membership)
    suspend/resume a member (not one onboarding or gone)
    audit-verify  recompute the audit log's hash chain
    audit list    audit entries oldest first, filtered (kind, party, time, window, transfer), a page
                  at a time; audit show SEQ: one entry decoded, --raw its bytes (clearing.audit_cli)
    transfers     transfers filtered (bank, counterparty, state, window, time, amount), newest
                  first, a page at a time (--json, --csv); --summary: how many in each state
    transfer ID   one transfer: its signed prepare, states and times, window, audit entries
    windows, report, reconcile, settle, abort-window: settlement (see clearing.settlement_cli)
    funds in|out|commit|abort|list: the banks' prefunded liquidity (see clearing.funds_cli)
    certificates  list, renew, revoke, rotate the CA (see clearing.certificates_cli)
    console-token a one-time login link to the operator's web console ([console] in fedmall.toml;
                  clearing.console)

    status        is it up and ready, connected members, backlogs, the open window, the last
                  minute's throughput, certificate expiry (see clearing.service_status)

Every command takes --home (the clearing's home folder) and the log flags (fedmall.logs)
before or after its name. serve refuses to start while another serve holds the home at the
same listen address, or the same SQLite database (fedmall.serve_lock): exit 1, naming the
holder. Several serves on one PostgreSQL database are the scale-out topology (docs/scale-out.md).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import sys
from pathlib import Path

import sqlalchemy as sa

from fedmall import command_line, identifiers, logs, money, pki
from fedmall.console import EXIT_OK, EXIT_REFUSED, emit, fail, table
from fedmall.results import FedmallError, name_of
from fedmall.serve_lock import AlreadyServing, ServeLock
from fedmall.stop_signals import StopSignals
from fedmall.v1 import result_pb2 as rc
from fedmall.v1 import transfer_pb2

from clearing import (
    audit, audit_cli, audit_reading, certificates, certificates_cli, console_cli, credentials, funds_cli, membership,
    membership_cli, operator, participants_cli, rules, service_status, settlement_cli, transfer_list, transfer_lookup)
from clearing.config import ClearingConfig
from clearing.deliveries import DeliveryBell
from clearing.funds import FundsService
from clearing.registry import Registry
from clearing.server import Clearing, wall_clock_ms
from clearing.store import StorageUnavailable, Store, transfers
from clearing.transfers import state_name
from clearing.windows import WindowService

CERTIFICATE_VALIDITY_DAYS = credentials.CERTIFICATE_VALIDITY_DAYS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedmall-clearing", description="The Fedmall clearing service.")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create the consortium CA and the clearing's home")
    init.add_argument("--listen", default="127.0.0.1:7000", help="host:port the clearing will listen on")
    init.add_argument("--database-url", default="", help="empty: SQLite file in the home folder")

    admit = commands.add_parser("admit", help="register a bank and write its credentials bundle")
    admit.add_argument("bank_id")
    admit.add_argument("--name", required=True)
    admit.add_argument("--currency", required=True)
    admit.add_argument("--net-debit-cap", required=True, help="decimal amount, e.g. 100000.00")
    admit.add_argument("--liquidity", required=True, help="prefunded liquidity, decimal amount")
    admit.add_argument("--node-address", required=True, help="host:port of the bank's node")
    admit.add_argument("--out", type=Path, required=True, help="folder for the bank's bundle")
    admit.add_argument("--signing-public-key", type=Path,
                       help="the bank's own Ed25519 public key (PEM); without it a key pair is made for the bundle")
    admit.add_argument("--csr", type=Path,
                       help="the bank's certificate signing request (fedmall-node csr): the bundle then holds no "
                            "private key; needs --signing-public-key")
    admit.add_argument("--json", action="store_true")

    commands.add_parser("serve", help="run the clearing until SIGTERM")

    members = commands.add_parser("participants", help="the members with positions, caps and liquidity; "
                                                       "change a member (see its actions)")
    members.add_argument("--json", action="store_true")
    member_actions = members.add_subparsers(dest="action", metavar="ACTION")
    # SUPPRESS: `participants --json list` keeps the --json given before the action.
    member_actions.add_parser("list", help="the members (the default)").add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS)
    participants_cli.add_actions(member_actions)
    membership_cli.add_actions(member_actions)
    commands.add_parser("audit-verify", help="recompute the audit log's hash chain").add_argument(
        "--json", action="store_true")
    audit_cli.add_commands(commands)
    listing = commands.add_parser("transfers", help="list transfers, newest first, filtered and a page at a time")
    listing.add_argument("--summary", action="store_true", help="instead: how many in each state, and why aborted")
    listing.add_argument("--bank", default="", help="payer or payee")
    listing.add_argument("--counterparty", default="", help="with --bank: the other side")
    listing.add_argument("--state", default="", help=f"one of {', '.join(transfer_list.STATES)}")
    listing.add_argument("--window", type=int, help="the settlement window it committed in")
    listing.add_argument("--since", help="received at or after, ISO 8601 (2026-11-29T10:00:00Z)")
    listing.add_argument("--until", help="received before, ISO 8601")
    listing.add_argument("--min", dest="min_amount", help="decimal amount, at least")
    listing.add_argument("--max", dest="max_amount", help="decimal amount, at most")
    listing.add_argument("--currency", default="", help="of --min and --max (default: the members' one currency)")
    listing.add_argument("--limit", type=int, default=50, help=f"transfers per page, 1..{transfer_list.PAGE_SIZE_MAX}")
    listing.add_argument("--after", default="", help="the cursor the previous page printed")
    output = listing.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true")
    output.add_argument("--csv", action="store_true", help="the page as CSV (the next cursor on stderr)")
    transfer = commands.add_parser("transfer", help="one transfer: its prepare as signed, every state with its time, "
                                                    "the payee's decision, its window and the audit entries naming it")
    transfer.add_argument("transfer_id")
    transfer.add_argument("--json", action="store_true")
    for name, text in (("suspend", "stop a member's new transfers"), ("resume", "let a suspended member trade again")):
        command = commands.add_parser(name, help=text)
        command.add_argument("bank_id")
        command.add_argument("--json", action="store_true")
    settlement_cli.add_commands(commands)
    funds_cli.add_commands(commands)
    certificates_cli.add_commands(commands)
    console_cli.add_command(commands)
    service_status.add_command(commands)
    command_line.add_common_options(parser, home_help="the clearing's home folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    return command_line.run(_parser(), argv, _main)


def _main(args) -> int:
    handler = {"init": _init, "admit": _admit, "serve": _serve, "participants": _participants,
               "suspend": _status, "resume": _status, "audit-verify": _audit_verify,
               "transfers": _transfers, "transfer": _transfer, "audit": _audit, "funds": _funds,
               "certificates": certificates_cli.run, "console-token": console_cli.run,
               "status": service_status.run}.get(args.command)
    serving = args.command == "serve"
    try:
        logs.configure(logs.resolve(args), serving=serving)  # Until fedmall.toml is read.
        if args.command != "init":
            logs.configure(logs.resolve(args, from_file=ClearingConfig.load(args.home).log),
                           serving=serving)
    except ValueError as error:
        return fail(str(error))
    code, refusal = _run(args, handler or _settlement)
    _log_operator_action(args, code, refusal)
    return code


def _run(args, handler) -> tuple[int, str]:
    """The command's exit code, and when it was refused (exit 1), why."""
    try:
        return handler(args), ""
    except AlreadyServing as error:
        return fail(str(error), code=EXIT_REFUSED), str(error)
    except (FileNotFoundError, FileExistsError, money.MoneyError, ValueError) as error:
        return fail(str(error)), ""
    except FedmallError as error:
        return fail(f"{name_of(error.code)}: {error}", code=EXIT_REFUSED), f"{name_of(error.code)}: {error}"
    except StorageUnavailable as error:
        return fail(f"the clearing's database is unavailable, nothing was changed; try again ({error})",
                    code=EXIT_REFUSED), "the clearing's database is unavailable"
    except certificates.CertificateRefused as error:
        return fail(str(error), code=EXIT_REFUSED), str(error)


# What only reads (or serves); every other command is an operator action and is logged.
READING = {("serve",), ("participants", "list"), ("participants", None), ("audit-verify",), ("audit", "list"),
           ("audit", "show"), ("transfers",), ("transfer",), ("windows", "list"), ("windows", "show"),
           ("report",), ("reconcile",), ("export",), ("funds", "list"), ("certificates", "list"),
           ("certificates", None)}


def _log_operator_action(args, code: int, refusal: str) -> None:
    """One log line for an operator action that was done (exit 0) or refused (exit 1); bad
    input (exit 2) changed nothing and reached nothing."""
    has_action = args.command in ("participants", "audit", "windows", "funds", "certificates")
    path = (args.command, getattr(args, "action", None)) if has_action else (args.command,)
    if path in READING or code not in (EXIT_OK, EXIT_REFUSED):
        return
    operator.log_action(" ".join(part for part in path if part), operator=getattr(args, "operator", None)
                        or operator.operator_name(), result="done" if code == EXIT_OK else "refused",
                        reason=getattr(args, "reason", None) or "", detail=refusal,
                        bank=getattr(args, "bank_id", None), window_id=getattr(args, "window", None),
                        movement_id=getattr(args, "movement_id", None))


def _init(args) -> int:
    credentials.init_home(args.home, listen_address=args.listen, database_url=args.database_url,
                          now=dt.datetime.now(dt.timezone.utc), validity_days=CERTIFICATE_VALIDITY_DAYS)
    store = Store.open(ClearingConfig.load(args.home).database_url)  # Run the migrations now.
    certificates.record_home(store, args.home, now_ms=wall_clock_ms())
    store.close()
    print(f"clearing home created in {args.home} (operator bundle in {args.home / 'operator'})")
    return EXIT_OK


def _open(args) -> tuple[ClearingConfig, Store, Registry]:
    config = ClearingConfig.load(args.home)
    store = Store.open(config.database_url)
    return config, store, Registry(store, clock_ms=wall_clock_ms)


def _admit(args) -> int:
    # Checked before the bank is registered: a refusal here changes nothing.
    identifiers.check_host_port(args.node_address, "--node-address")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise FileExistsError(f"--out {args.out} is not an empty folder: a bank's bundle goes into a new or empty "
                              "one (this one may hold another bank's credentials)")
    currency = money.check_currency(args.currency)
    try:
        cap_minor = money.parse_amount(args.net_debit_cap, currency)
        liquidity_minor = money.parse_amount(args.liquidity, currency)
    except money.AmountOutOfRange as error:
        raise FedmallError(rc.RESULT_CODE_INVALID_AMOUNT, str(error)) from None
    tls_public_key = None
    if args.csr:
        if not args.signing_public_key:
            raise ValueError("--csr needs --signing-public-key: a bundle made from a signing request holds no "
                             "private key, so the bank's signing key is its own too")
        tls_public_key = certificates_cli.read_request(args.csr, bank_id=args.bank_id)
    key_id = f"{args.bank_id}/k1"
    if args.signing_public_key:
        signing_key = None
        public_key = pki.load_public_key_pem(args.signing_public_key.read_bytes())
    else:
        signing_key = pki.new_signing_key(key_id)
        public_key = signing_key.private_key.public_key()
    config, store, registry = _open(args)
    try:
        # Issued first (a CA too close to its end refuses), recorded once the bank is admitted.
        issued = certificates_cli.issue_for_admission(config, bank_id=args.bank_id, node_address=args.node_address,
                                                      public_key=tls_public_key,
                                                      validity_days=CERTIFICATE_VALIDITY_DAYS)
        registry.admit(bank_id=args.bank_id, name=args.name, currency=currency, net_debit_cap_minor=cap_minor,
                       liquidity_minor=liquidity_minor, node_address=args.node_address,
                       signing_key_id=key_id, signing_public_key=pki.public_key_raw(public_key),
                       funds=FundsService(store, clearing_key=config.signing_key(), clock_ms=wall_clock_ms))
        certificates_cli.record_issued(store, config.home, issued)
    finally:
        store.close()
    credentials.write_bank_bundle(
        config, args.out, bank_id=args.bank_id, node_address=args.node_address, signing_key_id=key_id,
        signing_key=signing_key, now=dt.datetime.now(dt.timezone.utc), validity_days=CERTIFICATE_VALIDITY_DAYS,
        clearing_address=config.listen_address, issued=issued)
    document = {"bank_id": args.bank_id, "bundle": str(args.out), "signing_key_id": key_id,
                "net_debit_cap_minor": cap_minor, "liquidity_minor": liquidity_minor, "currency": currency,
                "private_keys_in_bundle": issued.key_pem is not None, "status": rules.ONBOARDING}
    install = ("; the bank installs it in its node home: fedmall-node install-certificate --home HOME "
               f"--from {args.out}" if args.csr else "")
    emit(document, as_json=args.json,
         human=f"admitted {args.bank_id} ({args.name}): cap {args.net_debit_cap} {currency}, "
               f"liquidity {args.liquidity} {currency}; bundle in {args.out}{install}; onboarding until its node "
               "first connects to the clearing")
    return EXIT_OK


def _serve(args) -> int:
    config = ClearingConfig.load(args.home)
    stop_signals = StopSignals()
    lock = _hold_serve_lock(config)
    clearing = Clearing(config)
    port = clearing.start()
    print(f"clearing listening on port {port}", flush=True)
    if clearing.console is not None:
        print(f"web console at {clearing.console.address} (log in: fedmall-clearing --home {args.home} "
              f"console-token)" if clearing.config.console.authentication == "token" else
              f"web console at {clearing.console.address} (the operator's client certificate)", flush=True)
    if clearing.observability is not None:
        print(f"metrics, health and status on http://{clearing.observability.address}", flush=True)
    stop_signals.wait()
    clearing.stop()
    lock.release()
    print("clearing stopped", flush=True)
    return EXIT_OK


def _hold_serve_lock(config: ClearingConfig) -> ServeLock:
    """One serve per home and listen address (port 0 cannot collide), one per SQLite file; never a
    PostgreSQL lock: several clearing processes share that database (docs/scale-out.md)."""
    lock = ServeLock("fedmall-clearing")
    host, _, port = config.listen_address.rpartition(":")
    if port != "0":
        name = "".join(c if c.isalnum() or c in ".-" else "_" for c in f"{host}_{port}")
        lock.hold_file(config.home / f"serve-{name}.lock", what=f"the home {config.home} at {config.listen_address}")
    lock.hold_sqlite_file(config.database_url)
    return lock


def _participants(args) -> int:
    return PARTICIPANT_ACTIONS[args.action or "list"](args)


def _list_participants(args) -> int:
    _, store, registry = _open(args)
    try:
        document, warnings = participants_cli.participant_documents(store, registry, now_ms=wall_clock_ms())
    finally:
        store.close()
    human_rows = [{
        "bank": d["bank_id"], "status": d["status"], "currency": d["currency"],
        "position": money.format_amount(d["position_minor"], d["currency"]),
        "reserved": money.format_amount(d["reserved_minor"], d["currency"]),
        "cap": money.format_amount(d["net_debit_cap_minor"], d["currency"]),
        "liquidity": money.format_amount(d["liquidity_minor"], d["currency"]),
        "out reserved": money.format_amount(d["funds_out_reserved_minor"], d["currency"]),
        "headroom": money.format_amount(d["headroom_minor"], d["currency"]),
        **participants_cli.usage_cells(d), "certificate": certificates_cli.participant_cell(d)} for d in document]
    for warning in warnings:  # Stderr: the JSON on stdout stays one list.
        print(f"warning: {warning}", file=sys.stderr)
    emit(document, as_json=args.json,
         human=table(human_rows, ["bank", "status", "currency", "position", "reserved", "cap", "liquidity",
                                  "out reserved", "headroom", *participants_cli.USAGE_COLUMNS, "certificate"])
         + "\n* headroom: what the bank may still reserve, min(cap, liquidity - out reserved) - position - reserved; "
           "below zero after a settlement paid it more than its cap, until its position comes down\n"
           "* out reserved: funds out reserved and not yet committed or aborted"
         + participants_cli.usage_notes(document))
    return EXIT_OK


def _change_participant(args) -> int:
    _, store, registry = _open(args)
    try:
        return participants_cli.ACTIONS[args.action](args, registry)
    finally:
        store.close()


def _change_membership(args) -> int:
    if args.action == "set-address":  # Bad input: exit 2, nothing opened.
        identifiers.check_host_port(args.node_address, "the node address")
    action = operator.from_args(args)
    _, store, _ = _open(args)
    try:
        return membership_cli.ACTIONS[args.action](args, membership.Membership(store, clock_ms=wall_clock_ms),
                                                   action)
    finally:
        store.close()


def _funds(args) -> int:
    config, store, registry = _open(args)
    funds = FundsService(store, clearing_key=config.signing_key(), clock_ms=wall_clock_ms)
    try:
        return funds_cli.run(args, funds, lambda bank_id: getattr(registry.get(bank_id), "currency", None))
    finally:
        store.close()


PARTICIPANT_ACTIONS = {"list": _list_participants, **dict.fromkeys(participants_cli.ACTIONS, _change_participant),
                       **dict.fromkeys(membership_cli.ACTIONS, _change_membership)}


def _settlement(args) -> int:
    config, store, registry = _open(args)
    signing_key = config.signing_key()
    windows = WindowService(store, registry, clearing_key=signing_key, bell=DeliveryBell(), clock_ms=wall_clock_ms)
    try:
        return settlement_cli.COMMANDS[args.command](args, windows)
    finally:
        store.close()


def _transfers(args) -> int:
    if args.summary:
        return _transfer_summary(args)
    _, store, _ = _open(args)
    try:
        with store.read() as connection:
            chosen = _transfer_filter(args, connection)
            page, next_cursor = transfer_list.list_transfers(connection, chosen, page_size=args.limit, after=args.after)
    finally:
        store.close()
    rows = [dataclasses.asdict(row) for row in page]
    if args.csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[field.name for field in dataclasses.fields(transfer_list.ListedTransfer)],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(out.getvalue())
        if next_cursor:
            print(f"more: --after {next_cursor}", file=sys.stderr)
        return EXIT_OK
    human = table([{"received": _utc(r.received_at_ms), "transfer": r.transfer_id, "payer": r.payer_bank_id,
                    "payee": r.payee_bank_id, "amount": money.format_money(r.amount_minor, r.currency),
                    "state": r.state, "why": r.result, "window": "" if r.window_id is None else str(r.window_id)}
                   for r in page], ["received", "transfer", "payer", "payee", "amount", "state", "why", "window"]) \
        if page else "no transfers"
    emit({"transfers": rows, "next_cursor": next_cursor}, as_json=args.json,
         human=human + (f"\nmore: --after {next_cursor}" if next_cursor else ""))
    return EXIT_OK


def _transfer_filter(args, connection: sa.Connection) -> transfer_list.TransferFilter:
    return transfer_list.filter_of(
        connection, bank_id=args.bank, counterparty_id=args.counterparty, state=args.state, window_id=args.window,
        since_ms=_parse_time(args.since, "--since"), until_ms=_parse_time(args.until, "--until"),
        min_text=args.min_amount, max_text=args.max_amount, currency=args.currency)


def _parse_time(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{flag} is a time like 2026-11-29T10:00:00Z, not {text!r}") from None
    if at.tzinfo is None:
        raise ValueError(f"{flag} needs a time zone (Z for UTC): {text!r}")
    return int(at.timestamp() * 1000)


def _transfer_summary(args) -> int:
    """How many transfers the clearing holds in each state, and why the aborted ones were."""
    _, store, _ = _open(args)
    with store.read() as connection:
        rows = connection.execute(sa.select(transfers.c.state, transfers.c.result, sa.func.count())
                                  .group_by(transfers.c.state, transfers.c.result)).all()
    store.close()
    by_state: dict[str, int] = {}
    aborted_by_reason: dict[str, int] = {}
    for state, result, count in rows:
        name = state_name(state).lower()
        by_state[name] = by_state.get(name, 0) + count
        if state == transfer_pb2.TRANSFER_STATE_ABORTED:
            aborted_by_reason[name_of(result)] = aborted_by_reason.get(name_of(result), 0) + count
    document = {"by_state": by_state, "aborted_by_reason": aborted_by_reason}
    human = table([{"state": k, "transfers": v} for k, v in sorted(by_state.items())], ["state", "transfers"])
    if aborted_by_reason:
        human += "\n\n" + table([{"abort reason": k, "transfers": v} for k, v in sorted(aborted_by_reason.items())],
                                 ["abort reason", "transfers"])
    emit(document, as_json=args.json, human=human)
    return EXIT_OK


def _transfer(args) -> int:
    _, store, _ = _open(args)
    try:
        with store.read() as connection:
            found = transfer_lookup.look_up(connection, args.transfer_id)
    finally:
        store.close()
    emit(dataclasses.asdict(found), as_json=args.json, human=_transfer_report(found))
    return EXIT_OK


def _transfer_report(found: transfer_lookup.TransferLookup) -> str:
    amount = money.format_money(found.amount_minor, found.currency)
    window = "none" if found.window_id is None else f"{found.window_id} ({found.window_state})"
    steps = [{"time": _utc(found.received_at_ms), "what": "received and reserved"}]
    if found.decided_at_ms is not None:
        steps.append({"time": _utc(found.decided_at_ms), "what": f"{found.state.lower()} ({found.result})"})
    audit_rows = [{"audit entry": str(m.sequence), "time": _utc(m.recorded_at_ms), "kind": m.kind, "by": m.party_id,
                   "result": m.result} for m in found.audit]
    decision = found.payee_decision
    if found.payee_reason_code is not None:  # The payee's words are checked text (fedmall.text): safe to print.
        decision += f" ({found.payee_reason_code}: {found.payee_reason!r})"
    returns = f"; returns transfer {found.original_transfer_id}" if found.original_transfer_id else ""
    lines = [f"transfer {found.transfer_id}: {found.payer_bank_id} pays {found.payee_bank_id} {amount}",
             f"uetr {found.uetr or 'none'}{returns}",
             f"state {found.state} ({found.result}); payee's decision {decision}; window {window}",
             f"expires {_utc(found.expires_at_ms)}; reference {found.prepare.get('reference', '')!r}; "
             f"payee account {found.prepare.get('payee_account', '')}; prepare sha256 {found.prepare_sha256[:16]}…",
             "", table(steps, ["time", "what"]), "",
             table(audit_rows, ["audit entry", "time", "kind", "by", "result"]) if audit_rows else "no audit entries"]
    return "\n".join(lines)


def _utc(at_ms: int) -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _status(args) -> int:
    _, store, registry = _open(args)
    status = rules.SUSPENDED if args.command == "suspend" else rules.ACTIVE
    try:
        registry.set_status(args.bank_id, status)
    finally:
        store.close()
    emit({"bank_id": args.bank_id, "status": status}, as_json=args.json, human=f"{args.bank_id} is now {status}")
    return EXIT_OK


def _audit(args) -> int:
    chosen = None
    if args.action == "list":  # Times are read before the database is opened: bad input reads nothing.
        chosen = audit_reading.AuditFilter(
            kind=args.kind, party_id=args.party, since_ms=_parse_time(args.since, "--since"),
            until_ms=_parse_time(args.until, "--until"), window_id=args.window, transfer_id=args.transfer)
    _, store, _ = _open(args)
    try:
        with store.read() as connection:
            if chosen is not None:
                return audit_cli.list_command(args, connection, chosen, time_text=_utc)
            return audit_cli.show_command(args, connection, time_text=_utc)
    finally:
        store.close()


def _audit_verify(args) -> int:
    config = ClearingConfig.load(args.home)
    store = Store.open(config.database_url)
    with store.read() as connection:
        report = audit.verify_chain(connection)
    store.close()
    document = {"entries": report.entries, "head_sequence": report.head.sequence,
                "head_hash": report.head.entry_hash.hex(), "problems": list(report.problems), "ok": not report.problems}
    human = (f"audit log: {report.entries} entries, head {report.head.sequence} {report.head.entry_hash.hex()[:16]}…; "
             + ("chain intact" if not report.problems else "BROKEN:\n  " + "\n  ".join(report.problems)))
    emit(document, as_json=args.json, human=human)
    return EXIT_OK if not report.problems else EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
