"""fedmall-node: run a bank node and operate it.

    serve                 run the node until SIGTERM or SIGINT
    ledger-check          check the books and the loan book in the database directly
    status                is it up and ready, the link to the clearing, backlogs, throughput,
                          certificate expiry (node.service_status)
    the bank's commands   node.bank.cli: open-account | deposit | send | account | transfer |
                          reconciliations | reconciliation | rotate-key | revoke-key
    the marketplace's     node.market.cli: merchant | product | search | checkout | ship |
                          decline | confirm | cancel | refund | order | orders
    merchant credit       node.credit.cli: credit offer | apply | loans | loan | payoff | book
    the certificate       node.certificate_cli: csr | install-certificate (no fedmall.toml needed)

Every command takes --home (the node's home, its credentials bundle folder) and the log
flags (fedmall.logs) before or after its name. serve refuses to start while another serve
holds the home or its database (fedmall.serve_lock): exit 1, naming the holder.

The commands that call the node use its own services over mTLS with the bundle's
credentials (node.client). Bad input: a message on stderr, exit 2. A refusal: its result
code name (and the node's detail, when the command has one) on stderr, exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

import sqlalchemy as sa

from fedmall import command_line, logs
from fedmall.serve_lock import AlreadyServing, ServeLock
from fedmall.stop_signals import StopSignals

from node import certificate_cli, command_output, service_status
from node.bank import cli as bank_cli, ledger, store as bank_store
from node.client import NodeClient
from node.command_output import add_command, code_name, emit
from node.config import ConfigError, NodeConfig, load_config
from node.credit import cli as credit_cli
from node.credit.instalments import instalment_book_problems
from node.credit.loan_views import loan_book_problems
from node.market import cli as market_cli


SERVE_LOCK_FILE = "serve.lock"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedmall-node", description="A Fedmall member bank's node.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return add_command(commands, name, help_text)

    sub = command("serve", "run the node until SIGTERM or SIGINT")
    sub.add_argument("--accept-database-behind", action="store_true",
                     help="start although the database is behind what the bank acknowledged to the clearing, "
                          "and replay the delivery stream onto it")
    bank_cli.add_commands(commands)
    command("ledger-check", "check the books in the database directly")
    command("status", "is the node up and ready: its database, the link to the clearing, backlogs, the last "
                      "minute's throughput, certificate expiry (exit 1 when not running or not ready)")
    market_cli.add_commands(commands)
    credit_cli.add_commands(commands)
    certificate_cli.add_commands(commands)
    command_line.add_common_options(parser, home_help="the node's home: its credentials bundle folder")
    return parser


def _ledger_check(args, config: NodeConfig) -> None:
    """The books balance, balances match their postings, the loan book matches @lending and the
    instalment plans match @consumer-lending."""
    summary, entries, loan_problems = bank_cli.read_database(config, lambda connection: (
        bank_store.read_books(connection),
        connection.scalar(sa.select(sa.func.count()).select_from(bank_store.journal_entries)),
        loan_book_problems(connection) + instalment_book_problems(connection)))
    problems = ledger.books_problems(summary) + loan_problems
    internal = {a: b for a, b in sorted(summary.stored_balances.items()) if a.startswith("@")}
    customers_minor = sum(b for a, b in summary.stored_balances.items() if not a.startswith("@"))
    emit(args, dict(ok=not problems, problems=problems, entries=entries, internal_balances_minor=internal,
                    customer_balances_minor=customers_minor),
         [("entries", str(entries)), ("result", "ok" if not problems else f"{len(problems)} problems")]
         + [("problem", problem) for problem in problems])
    if problems:
        raise SystemExit(1)


def _serve(args, config: NodeConfig) -> None:
    from node.server import build_node  # Only serve needs the whole node.

    stop_signals = StopSignals()
    lock = ServeLock("fedmall-node")  # Before anything opens the database: held until the process ends.
    lock.hold_file(config.home / SERVE_LOCK_FILE, what=f"the home {config.home}")
    lock.hold_sqlite_file(config.database_url)
    lock.hold_postgresql(config.database_url, name="fedmall-node serve")  # One node per database.
    node = build_node(config, accept_database_behind=args.accept_database_behind)
    port = node.start()
    host = config.listen_address.rsplit(":", 1)[0]
    print(f"node {config.bank_id} listening on {host}:{port}", flush=True)
    if node.observability is not None:
        print(f"metrics, health and status on http://{node.observability.address}", flush=True)
    stop_signals.wait()
    node.stop()  # In-flight calls finish first (node.server).
    lock.release()


def _with_client(group_commands: dict) -> Callable[[argparse.Namespace, NodeConfig], None]:
    """A command of node.market.cli or node.credit.cli, handed the node's client."""
    def run(args, config: NodeConfig) -> None:
        group_commands[args.command](args, NodeClient(config))
    return run


COMMANDS = {
    "serve": _serve, "ledger-check": _ledger_check, "status": service_status.run,
    **bank_cli.COMMANDS,
    **dict.fromkeys(market_cli.COMMANDS, _with_client(market_cli.COMMANDS)),
    **dict.fromkeys(credit_cli.COMMANDS, _with_client(credit_cli.COMMANDS)),
}


def main(argv: list[str] | None = None) -> int:
    return command_line.run(_parser(), argv, _main)


def _main(args) -> int:
    serving = args.command == "serve"
    try:
        logs.configure(logs.resolve(args), serving=serving)  # Until fedmall.toml is read.
        if args.command in certificate_cli.COMMANDS:  # A new bank's home has no fedmall.toml yet.
            certificate_cli.COMMANDS[args.command](args)
        else:
            config = load_config(args.home)
            logs.configure(logs.resolve(args, from_file=config.log), serving=serving)
            COMMANDS[args.command](args, config)
    except (command_output.BadInput, ConfigError) as error:
        print(f"fedmall-node: {error}", file=sys.stderr)
        return 2
    except AlreadyServing as error:
        print(f"fedmall-node: {error}", file=sys.stderr)
        return 1
    except command_output.Refused as refusal:
        name = code_name(refusal.code)
        print(f"{name}: {refusal.detail}" if refusal.detail else name, file=sys.stderr)
        if args.json:
            print(json.dumps(dict(result=name, detail=refusal.detail) if refusal.detail else dict(result=name)))
        return 1
    except ConnectionError as error:
        print(f"fedmall-node: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
