"""The operator's certificate commands on fedmall-clearing (docs/certificates.md):

    certificates [list]                        every certificate the CA issued: days to expiry,
                                               status, issuing CA; flags those expiring within 30 days
    certificates renew bank BANK [--csr FILE] [--out DIR]
                                               a new certificate for a member: on the key of its
                                               signing request, or on a key made here (--out)
    certificates renew clearing | operator     a new certificate in the clearing's home
    certificates revoke SERIAL --reason TEXT   refused on every call from then on
    certificates rotate-ca --reason TEXT       a new issuing CA; both CAs trusted meanwhile
    certificates retire-old-ca --reason TEXT   trust only the new CA, once everyone holds one of it

A renewed certificate does not replace the old one at the clearing: both are accepted until
the old one expires (or is revoked). Refusals (an unknown bank or serial, nothing to retire,
a party not renewed yet) exit 1 and change nothing; bad input (a signing request that is
not for this bank, badly signed or of a refused key kind) exits 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from pathlib import Path

from cryptography import x509

from fedmall import limits, pki
from fedmall.console import EXIT_OK, EXIT_REFUSED, emit, fail, table
from fedmall.pki import Identity

from clearing import certificates, credentials, operator
from clearing.certificates import CertificateEntry, CertificateRefused
from clearing.config import ClearingConfig
from clearing.registry import Registry
from clearing.store import Store, retry_on_conflict

VALIDITY_DAYS_MAX = 825


def add_commands(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "certificates", help="the certificates the consortium CA issued: list (the default), renew, revoke, "
                             "rotate the CA")
    group.add_argument("--json", action="store_true", help="machine-readable output (of list)")
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="every certificate with its days to expiry, status and issuing CA; flags "
                                    f"those expiring within {certificates.EXPIRY_WARNING_DAYS} days").add_argument(
        "--json", action="store_true", help="machine-readable output")

    renew = actions.add_parser("renew", help="a new certificate from the current CA; the old one stays valid "
                                             "until it expires")
    parties = renew.add_subparsers(dest="party", required=True, metavar="PARTY")
    bank = parties.add_parser("bank", help="a member's: on the key of its signing request (--csr), or on a key "
                                           "made here (--out without --csr)")
    bank.add_argument("bank_id")
    bank.add_argument("--csr", type=Path, metavar="FILE", help="the bank's certificate signing request (fedmall-node csr); "
                                               "without --out the certificate is printed")
    bank.add_argument("--out", type=Path, metavar="DIR", help="a new or empty folder for ca.pem and tls.crt (and tls.key when "
                                               "there is no --csr), to install with fedmall-node install-certificate")
    for name, text in (("clearing", "the clearing's, into its home (the running clearing uses it from its next "
                                    "connection on)"),
                       ("operator", "the operator's, into the home's operator folder")):
        parties.add_parser(name, help=text)
    for sub in (bank, parties.choices["clearing"], parties.choices["operator"]):
        sub.add_argument("--validity-days", type=int, default=credentials.CERTIFICATE_VALIDITY_DAYS, metavar="DAYS",
                         help=f"1..{VALIDITY_DAYS_MAX} (default {credentials.CERTIFICATE_VALIDITY_DAYS})")
        sub.add_argument("--json", action="store_true", help="machine-readable output")

    revoke = actions.add_parser("revoke", help="refuse a certificate on every call at the clearing and at the "
                                               "nodes from now on; who and why go to the audit log")
    revoke.add_argument("serial", help="as `certificates list` shows it (hexadecimal)")
    operator.add_arguments(revoke)
    revoke.add_argument("--json", action="store_true", help="machine-readable output")
    rotate = actions.add_parser("rotate-ca", help="make a new CA the issuing one; ca.pem trusts both until "
                                                  "retire-old-ca (docs/certificates.md)")
    operator.add_arguments(rotate)
    rotate.add_argument("--json", action="store_true", help="machine-readable output")
    retire = actions.add_parser("retire-old-ca", help="trust only the current CA; refused while a party holds no "
                                                      "certificate of it")
    operator.add_arguments(retire)
    retire.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    try:
        return ACTIONS[args.action or "list"](args)
    except CertificateRefused as error:
        return fail(str(error), code=EXIT_REFUSED)


def _open(args) -> tuple[ClearingConfig, Store]:
    config = ClearingConfig.load(args.home)
    return config, Store.open(config.database_url)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def _date(at_ms: int) -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d")


# Listing ---------------------------------------------------------------------------------

def _list(args) -> int:
    config, store = _open(args)
    try:
        with store.read() as connection:
            entries = certificates.listed(connection)
    finally:
        store.close()
    now_ms = _ms(_now())
    current = pki.fingerprint(credentials.issuing_ca(config.home).certificate)
    trusted = credentials.trusted_cas(config.home)
    newest = {entry.serial for entry in certificates.newest_by_party(entries).values()}
    rows = [_entry_document(entry, now_ms=now_ms, ca=_ca_label(entry.ca_sha256, current, trusted),
                            newest=entry.serial in newest) for entry in entries]
    warnings = certificates.expiry_warnings(entries, now_ms=now_ms)
    authorities = [{"sha256": pki.fingerprint(ca), "subject": ca.subject.rfc4514_string(),
                    "not_after_ms": _ms(ca.not_valid_after_utc), "issuing": pki.fingerprint(ca) == current}
                   for ca in trusted]
    human_rows = [{"serial": row["serial"], "party": row["party_id"], "role": row["role"],
                   "expires": _date(row["not_after_ms"]), "days": str(row["days_left"]), "status": row["status"],
                   "ca": row["ca"], "": _flag(row)} for row in rows]
    human = table(human_rows, ["serial", "party", "role", "expires", "days", "status", "ca", ""]) if rows \
        else "no certificates recorded"
    human += "\n\ntrusted CAs (ca.pem): " + "; ".join(
        f"{a['subject']} until {_date(a['not_after_ms'])}{' (issuing)' if a['issuing'] else ''}" for a in authorities)
    human += "".join(f"\nwarning: {warning}" for warning in warnings)
    emit({"certificates": rows, "certificate_authorities": authorities, "warnings": warnings}, as_json=args.json,
         human=human)
    return EXIT_OK


def _ca_label(ca_sha256: str, current: str, trusted: list[x509.Certificate]) -> str:
    if ca_sha256 == current:
        return "current"
    return "previous" if any(pki.fingerprint(ca) == ca_sha256 for ca in trusted) else "dropped"


def _entry_document(entry: CertificateEntry, *, now_ms: int, ca: str, newest: bool) -> dict:
    return {**dataclasses.asdict(entry), "days_left": entry.days_left(now_ms), "expired": entry.not_after_ms <= now_ms,
            "expires_soon": entry.expires_soon(now_ms), "newest_of_party": newest, "ca": ca}


def _flag(row: dict) -> str:
    if row["status"] != certificates.ACTIVE:
        return ""
    if row["expired"]:
        return "expired"
    if row["expires_soon"]:
        return "EXPIRES SOON" if row["newest_of_party"] else "expires soon (renewed)"
    return ""


# Renewal ---------------------------------------------------------------------------------

def _check_validity(args) -> None:
    if not 1 <= args.validity_days <= VALIDITY_DAYS_MAX:
        raise ValueError(f"--validity-days must be in 1..{VALIDITY_DAYS_MAX}, not {args.validity_days}")


def check_out_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"--out {out} is not an empty folder: certificates go into a new or empty one "
                              "(this one may hold another party's credentials)")


def read_request(path: Path, *, bank_id: str):
    """The public key of the bank's signing request at path; ValueError naming what is wrong."""
    with path.open("rb") as file:
        data = file.read(limits.certificate_request_bytes_max + 1)
    return credentials.checked_request(data, bank_id=bank_id)


@retry_on_conflict
def record_issued(store: Store, home: Path, issued: credentials.Issued) -> CertificateEntry:
    with store.write() as connection:
        return certificates.record(connection, issued.certificate_pem, trusted=credentials.trusted_cas(home),
                                   now_ms=_ms(_now()))


def issue_for_admission(config: ClearingConfig, *, bank_id: str, node_address: str, public_key,
                        validity_days: int) -> credentials.Issued:
    """The certificate of a bank being admitted: on its own key (a checked signing request) or
    on one made here (public_key None); record_issued records it."""
    return credentials.issue(config.home, Identity(bank_id, "bank"), hosts=credentials.bank_hosts(node_address),
                             now=_now(), validity_days=validity_days, public_key=public_key)


def _previous(store: Store, role: str, party_id: str) -> CertificateEntry | None:
    with store.read() as connection:
        return certificates.newest_by_party(certificates.listed(connection)).get((role, party_id))


def _renew(args) -> int:
    _check_validity(args)
    return {"bank": _renew_bank, "clearing": _renew_own, "operator": _renew_own}[args.party](args)


def _renew_bank(args) -> int:
    if args.csr is None and args.out is None:
        raise ValueError("renew bank needs --csr FILE (the bank made its key), --out DIR (a key is made here), "
                         "or both")
    if args.out is not None:
        check_out_folder(args.out)
    public_key = read_request(args.csr, bank_id=args.bank_id) if args.csr else None
    config, store = _open(args)
    try:
        participant = Registry(store, clock_ms=lambda: _ms(_now())).get(args.bank_id)
        if participant is None:
            raise CertificateRefused(f"no participant {args.bank_id!r}: a bank is admitted first "
                                     "(fedmall-clearing admit)")
        previous = _previous(store, "bank", args.bank_id)
        issued = credentials.issue(config.home, Identity(args.bank_id, "bank"),
                                   hosts=credentials.bank_hosts(participant.node_address), now=_now(),
                                   validity_days=args.validity_days, public_key=public_key)
        entry = record_issued(store, config.home, issued)
    finally:
        store.close()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        credentials.install_tls(args.out, issued, home=config.home)
    document = _renewal_document(entry, previous, folder=args.out, issued=issued)
    install = (f"install it in the bank's node home: fedmall-node install-certificate --home HOME --from {args.out}"
               if args.out else "")
    if args.out is None and not args.json:
        sys.stdout.write(issued.certificate_pem.decode())
        print(_renewal_text(document, ""), file=sys.stderr)
        return EXIT_OK
    emit(document, as_json=args.json, human=_renewal_text(document, install))
    return EXIT_OK


def _renew_own(args) -> int:
    """The clearing's or the operator's certificate, into the home."""
    config, store = _open(args)
    role = args.party
    folder = config.home if role == "clearing" else config.home / "operator"
    hosts = credentials.own_hosts(config) if role == "clearing" else []
    try:
        previous = _previous(store, role, role)
        issued = credentials.issue(config.home, Identity(role, role), hosts=hosts, now=_now(),
                                   validity_days=args.validity_days)
        entry = record_issued(store, config.home, issued)
    finally:
        store.close()
    credentials.install_tls(folder, issued, home=config.home)
    after = ("the running clearing presents it from its next connection on; copy tls.crt and tls.key to the "
             "home of any other clearing process" if role == "clearing"
             else "the operator's commands use it from now on")
    document = _renewal_document(entry, previous, folder=folder, issued=issued)
    emit(document, as_json=args.json, human=_renewal_text(document, after))
    return EXIT_OK


def _renewal_document(entry: CertificateEntry, previous: CertificateEntry | None, *, folder: Path | None,
                      issued: credentials.Issued) -> dict:
    files = [] if folder is None else [str(folder / name) for name in (
        ["ca.pem", "tls.crt"] + (["tls.key"] if issued.key_pem is not None else []))]
    return {"serial": entry.serial, "party_id": entry.party_id, "role": entry.role,
            "not_after_ms": entry.not_after_ms, "sha256": entry.sha256, "files": files,
            "private_key_made_here": issued.key_pem is not None,
            "certificate_pem": issued.certificate_pem.decode(),
            "previous_serial": previous.serial if previous else None,
            "previous_not_after_ms": previous.not_after_ms if previous else None}


def _renewal_text(document: dict, after: str) -> str:
    lines = [f"renewed the {document['role']} certificate of {document['party_id']}: serial {document['serial']}, "
             f"valid until {_date(document['not_after_ms'])}"]
    if document["previous_serial"]:
        lines.append(f"the previous one (serial {document['previous_serial']}) stays valid until "
                     f"{_date(document['previous_not_after_ms'])}: both are accepted until then")
    if document["files"]:
        lines.append("written: " + ", ".join(document["files"]))
    if after:
        lines.append(after)
    return "\n".join(lines)


# Revocation ------------------------------------------------------------------------------

@retry_on_conflict
def _revoke_in_store(store: Store, serial: str, action: operator.OperatorAction, now_ms: int):
    with store.write() as connection:
        entry, changed = certificates.revoke(connection, serial, action, now_ms=now_ms)
        others = [other for other in certificates.listed(connection)
                  if (other.role, other.party_id) == (entry.role, entry.party_id) and other.serial != serial
                  and other.status == certificates.ACTIVE and other.not_after_ms > now_ms]
    return entry, changed, others


def _revoke(args) -> int:
    serial = certificates.normalised_serial(args.serial)
    action = operator.from_args(args)
    _, store = _open(args)
    try:
        entry, changed, others = _revoke_in_store(store, serial, action, _ms(_now()))
    finally:
        store.close()
    document = {"serial": entry.serial, "party_id": entry.party_id, "role": entry.role, "changed": changed,
                "revoked_at_ms": entry.revoked_at_ms, "revoked_by": entry.revoked_by,
                "reason": entry.revoked_reason, "other_valid_serials": [other.serial for other in others]}
    if changed:
        human = (f"revoked certificate {entry.serial} of {entry.role} {entry.party_id}: the clearing refuses it "
                 "within a second, the nodes within a few")
    else:
        human = (f"certificate {entry.serial} was revoked already, on {_date(entry.revoked_at_ms or 0)} by "
                 f"{entry.revoked_by}: {entry.revoked_reason}; nothing changed")
    if not others:
        command = f"renew bank {entry.party_id}" if entry.role == "bank" else f"renew {entry.role}"
        human += f"\nwarning: {entry.party_id} holds no other valid certificate: certificates {command}"
    emit(document, as_json=args.json, human=human)
    return EXIT_OK


# Rotating the CA -------------------------------------------------------------------------

def _rotate_ca(args) -> int:
    action = operator.from_args(args)
    config, store = _open(args)
    now = _now()
    try:
        with store.write() as connection:
            new, previous = credentials.rotate_ca(config.home, now=now)
            certificates.record_ca_rotation(connection, new_ca_sha256=pki.fingerprint(new),
                                            previous_ca_sha256=pki.fingerprint(previous), action=action,
                                            now_ms=_ms(now))
    finally:
        store.close()
    document = {"new_ca_sha256": pki.fingerprint(new), "new_ca_subject": new.subject.rfc4514_string(),
                "previous_ca_sha256": pki.fingerprint(previous), "trust_bundle": str(config.home / "ca.pem")}
    emit(document, as_json=args.json, human="\n".join([
        f"the new CA issues certificates from now on: {document['new_ca_subject']}",
        f"{config.home / 'ca.pem'} trusts both CAs. Next (docs/certificates.md): give that ca.pem to every bank "
        "(fedmall-node install-certificate) and every clearing process; then renew every certificate; then "
        "certificates retire-old-ca"]))
    return EXIT_OK


def _retire_old_ca(args) -> int:
    action = operator.from_args(args)
    config, store = _open(args)
    now_ms = _ms(_now())
    current = pki.fingerprint(credentials.issuing_ca(config.home).certificate)
    dropping = [pki.fingerprint(ca) for ca in credentials.trusted_cas(config.home) if pki.fingerprint(ca) != current]
    try:
        with store.write() as connection:
            waiting = certificates.parties_not_renewed(certificates.listed(connection), ca_sha256=current,
                                                       now_ms=now_ms)
            if waiting:
                raise CertificateRefused("these hold no certificate of the current CA yet: " + ", ".join(waiting)
                                         + "; renew them first (certificates renew ...)")
            marked = certificates.retire_ca(connection, kept_ca_sha256=current, dropped_ca_sha256=dropping,
                                            action=action, now_ms=now_ms)
            credentials.retire_previous_cas(config.home)
    finally:
        store.close()
    document = {"kept_ca_sha256": current, "dropped_ca_sha256": dropping, "certificates_retired": marked,
                "trust_bundle": str(config.home / "ca.pem")}
    emit(document, as_json=args.json, human="\n".join([
        f"{config.home / 'ca.pem'} trusts only the current CA; {marked} certificates of the previous one are refused",
        "Next: give that ca.pem to every bank (fedmall-node install-certificate) and every clearing process"]))
    return EXIT_OK


ACTIONS = {"list": _list, "renew": _renew, "revoke": _revoke, "rotate-ca": _rotate_ca,
           "retire-old-ca": _retire_old_ca}


# The participants view -------------------------------------------------------------------

def participant_certificates(store: Store, *, now_ms: int) -> tuple[dict[str, CertificateEntry], list[str]]:
    """Each bank's newest active certificate, and the expiry warnings of every party."""
    with store.read() as connection:
        entries = certificates.listed(connection)
    newest = certificates.newest_by_party(entries)
    return ({party_id: entry for (role, party_id), entry in newest.items() if role == "bank"},
            certificates.expiry_warnings(entries, now_ms=now_ms))


def participant_fields(entry: CertificateEntry | None, *, now_ms: int) -> dict:
    return {"certificate_serial": entry.serial if entry else None,
            "certificate_not_after_ms": entry.not_after_ms if entry else None,
            "certificate_days_left": entry.days_left(now_ms) if entry else None,
            "certificate_expires_soon": entry.expires_soon(now_ms) if entry else False}


def participant_cell(fields: dict) -> str:
    if fields["certificate_serial"] is None:
        return "unknown"
    days = fields["certificate_days_left"]
    return f"{days} days" + (" RENEW" if fields["certificate_expires_soon"] else "")
