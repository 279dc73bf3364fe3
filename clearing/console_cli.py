"""fedmall-clearing console-token: a one-time login link to the operator's web console.

    console-token [--operator NAME] [--json]

The link names the console's address from [console] in fedmall.toml and holds a token good
once, for [console].login_token_s seconds, for the operator named (default: $FEDMALL_OPERATOR,
else the login name). Only its SHA-256 is stored; issuing it is in the audit log
(console.token). A console that logs in with certificates needs no token: it is refused.
"""
from __future__ import annotations

import argparse
import os

from fedmall.console import EXIT_OK, emit

from clearing import operator
from clearing.config import ClearingConfig
from clearing.console import logins
from clearing.console.settings import TOKEN
from clearing.server import wall_clock_ms
from clearing.store import Store


def add_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("console-token", help="a one-time login link to the operator's web console")
    command.add_argument("--operator", default=os.environ.get(operator.OPERATOR_ENVIRONMENT) or operator.login_name(),
                         help=f"who logs in (default: ${operator.OPERATOR_ENVIRONMENT}, else the login name)")
    command.add_argument("--json", action="store_true")


def run(args) -> int:
    config = ClearingConfig.load(args.home)
    settings = config.console
    if settings is None:
        raise ValueError(f"the web console is off: add a [console] section to {args.home / 'fedmall.toml'} "
                         "(docs/console.md) and restart the clearing")
    if settings.authentication != TOKEN:
        raise ValueError("this console logs in with the operator's client certificate "
                         "([console].authentication = \"certificate\"): no token is needed")
    store = Store.open(config.database_url)
    try:
        now_ms = wall_clock_ms()
        token = logins.issue(store, operator_name=args.operator, now_ms=now_ms, valid_for_s=settings.login_token_s)
    finally:
        store.close()
    link = f"{settings.address()}/login?token={token}"
    emit({"operator": args.operator, "link": link, "expires_at_ms": now_ms + settings.login_token_s * 1000},
         as_json=args.json,
         human=f"log in to the web console as {args.operator}, once, within {settings.login_token_s} s:\n{link}")
    return EXIT_OK
