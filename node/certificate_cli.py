"""The bank's certificate commands on fedmall-node (node.certificates, docs/certificates.md):

    csr --home H [--bank-id B] [--node-address HOST:PORT] [--out FILE]
                                   the bank's TLS key (in H, never sent) and a signing request
    install-certificate --home H --from DIR
                                   check and install what the operator signed, or a new ca.pem

Neither needs the home's fedmall.toml: a new bank's home has none until its admission
bundle is installed. Bad input or a bundle that does not fit the home: exit 2.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Callable

from fedmall import identifiers, limits
from fedmall.config_file import ConfigError

from node import certificates
from node.command_output import BadInput, add_command, emit, print_json


def add_commands(commands: argparse._SubParsersAction) -> None:
    sub = add_command(commands, "csr", "make the bank's TLS key in its home and a certificate signing request "
                                       "for the operator (`fedmall-clearing admit --csr`, `certificates renew`)")
    sub.add_argument("--bank-id", help="the bank's id (default: the home's fedmall.toml; needed for a new home)")
    sub.add_argument("--node-address", help="host:port the node listens on, asked for in the request (the "
                                            "operator decides the certificate's hosts from the admitted address)")
    sub.add_argument("--out", type=Path, help="file for the request (default: standard output)")
    sub = add_command(commands, "install-certificate", "check the certificate (or trust bundle) the operator sent "
                                                       "against the home and install it")
    sub.add_argument("--from", dest="source", type=Path, required=True,
                     help="the folder from the operator: ca.pem, and tls.crt (plus clearing.pub and fedmall.toml "
                          "on admission)")


def _csr(args) -> None:
    try:
        configured = certificates.configured_bank_id(args.home)
    except ConfigError as error:
        raise BadInput(str(error)) from None
    if args.bank_id and configured and args.bank_id != configured:
        raise BadInput(f"--bank-id {args.bank_id} is not the bank of {args.home} ({configured})")
    bank_id = args.bank_id or configured
    if not bank_id:
        raise BadInput(f"--bank-id is needed: {args.home} holds no fedmall.toml yet")
    if not identifiers.is_account_id(bank_id) or len(bank_id) > limits.bank_id_length_max:
        raise BadInput(f"{bank_id!r} is not a bank id (letters, digits, '-', '_', '.'; at most "
                       f"{limits.bank_id_length_max})")
    hosts = []
    if args.node_address:
        try:
            hosts = [identifiers.check_host_port(args.node_address, "--node-address").rsplit(":", 1)[0].strip("[]")]
        except ValueError as error:
            raise BadInput(str(error)) from None
    try:
        made = certificates.request(args.home, bank_id=bank_id, hosts=hosts)
    except ConfigError as error:
        raise BadInput(str(error)) from None
    if args.out:
        try:
            args.out.write_bytes(made.request_pem)
        except OSError as error:
            raise BadInput(f"--out {args.out}: cannot write it ({error.strerror}); the key is in "
                           f"{made.key_path}, run csr again to write the request") from None
    document = dict(bank_id=bank_id, request_file=str(args.out) if args.out else None,
                    private_key_file=str(made.key_path), private_key_reused=made.key_reused,
                    signing_public_key_file=str(made.signing_public_key_path) if made.signing_public_key_path else None)
    next_step = (f"fedmall-clearing admit {bank_id} ... --csr REQUEST --signing-public-key "
                 f"{made.signing_public_key_path}" if made.signing_public_key_path
                 else f"fedmall-clearing certificates renew bank {bank_id} --csr REQUEST --out DIR")
    lines = [("bank", bank_id), ("private key", f"{made.key_path} (stays here"
                                                + (", made by an earlier run)" if made.key_reused else ")")),
             ("signing key", f"{made.signing_public_key_path} is its public half, for the operator"
              if made.signing_public_key_path else "the home's own, unchanged"),
             ("operator runs", next_step),
             ("then", f"fedmall-node install-certificate --home {args.home} --from DIR")]
    if args.out:
        emit(args, document, [("request", str(args.out))] + lines)
        return
    if args.json:
        print_json(dict(document, request_pem=made.request_pem.decode()))
        return
    sys.stdout.write(made.request_pem.decode())
    for label, value in lines:
        print(f"{label}: {value}", file=sys.stderr)


def _install(args) -> None:
    try:
        installed = certificates.install(args.home, args.source, now=dt.datetime.now(dt.timezone.utc))
    except certificates.InstallRefused as error:
        raise BadInput(f"nothing installed: {error}") from None
    emit(args, dict(bank_id=installed.bank_id, serial=installed.serial,
                    not_after=installed.not_after.isoformat() if installed.not_after else None,
                    trusted_cas=installed.trusted_cas, files=list(installed.files)),
         [("bank", installed.bank_id),
          ("certificate", f"serial {installed.serial}, valid until {installed.not_after:%Y-%m-%d %H:%M} UTC"
           if installed.serial else "unchanged (only the trust bundle)"),
          ("trusted CAs", str(installed.trusted_cas)),
          ("written", ", ".join(installed.files)),
          ("next", f"start the node: fedmall-node serve --home {args.home}"
           if any(name.endswith(certificates.CONFIG_FILE) for name in installed.files)
           else "the node's server uses it from its next connection on; restart the node to use it for its own "
                "calls too")])


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {"csr": _csr, "install-certificate": _install}
