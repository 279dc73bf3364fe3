"""The credentials bundle: a folder of party folders (fedmall.pki's layout), read and made here.

Each party folder holds ca.pem, tls.crt, tls.key, signing.key (a bank's or the clearing's),
clearing.pub and fedmall.toml naming the party ([identity] party_id, role, signing_key_id;
[clearing] signing_key_id). What the kit plays comes from the folders' roles:

  against a clearing   two or more bank folders of test members the consortium admitted
                       (`fedmall-clearing admit ... --out BUNDLE/BANK`) and, for the window
                       case, the operator's folder (the clearing home's operator/)
  against a member     what `fedmall-conformance bundle` makes (make_member_bundle): a test
                       consortium of its own, its CA and the clearing and payer the kit plays,
                       the member's credentials for its test node, and conformance.toml
                       naming the member and the payer

A bundle's keys are test keys: the member bundle's CA is not the consortium's.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from fedmall import identifiers, pki
from fedmall.config_file import ConfigError, load_file, read_toml
from fedmall.envelope import SigningKey, VerificationKey
from fedmall.pki import Identity, TlsCredentials

CONFIG_FILE = "fedmall.toml"
KIT_FILE = "conformance.toml"
SIGNING_PUBLIC_FILE = "signing.pub"  # A member's public signing key, for the kit playing the clearing.
PAYER_BANK_ID = "conformance-payer"
CLEARING_KEY_ID = "clearing/k1"
VALIDITY_DAYS = 30
BACKDATE = dt.timedelta(minutes=5)  # A peer whose clock is a little behind still accepts the certificates.


class BundleError(ValueError):
    """The bundle is missing something the kit needs; the message names the file."""


@dataclass(frozen=True, slots=True)
class Party:
    """One party's credentials from its folder."""
    folder: Path
    party_id: str
    role: str
    tls: TlsCredentials
    signing_key: SigningKey | None       # None for the operator.
    clearing_key: VerificationKey | None  # What the clearing signs with, as this party trusts it.

    @property
    def identity(self) -> Identity:
        return Identity(self.party_id, self.role)

    def verification_key(self) -> VerificationKey:
        """This party's own public signing key, owned by it."""
        assert self.signing_key is not None, self.folder
        return VerificationKey(key_id=self.signing_key.key_id, owner=self.party_id,
                               public_key=self.signing_key.private_key.public_key())


def read_party(folder: Path) -> Party:
    try:
        file = read_toml(folder / CONFIG_FILE)
        identity, clearing = file.section("identity"), file.section("clearing")
        party_id, role = identity.text("party_id"), identity.text("role")
        tls = TlsCredentials.load(folder)
        signing_key = None
        if role != "operator":
            key_id = identity.text("signing_key_id")
            signing_key = load_file(folder / "signing.key", f"{party_id}'s Ed25519 signing key (PEM)",
                                    lambda data: pki.signing_key_from_pem(data, key_id))
        clearing_key = None
        if (folder / "clearing.pub").exists():
            clearing_key = VerificationKey(
                key_id=clearing.text("signing_key_id") if role != "clearing" else identity.text("signing_key_id"),
                owner=pki.CLEARING.party_id,
                public_key=load_file(folder / "clearing.pub", "the clearing's Ed25519 public key (PEM)",
                                     pki.load_public_key_pem))
    except (ConfigError, OSError, ValueError) as error:
        raise BundleError(f"{folder}: {error}") from None
    return Party(folder=folder, party_id=party_id, role=role, tls=tls, signing_key=signing_key,
                 clearing_key=clearing_key)


def read_parties(bundle: Path) -> list[Party]:
    """Every party folder in the bundle, by folder name."""
    if not bundle.is_dir():
        raise BundleError(f"{bundle} is not a folder")
    return [read_party(folder) for folder in sorted(bundle.iterdir()) if (folder / CONFIG_FILE).is_file()]


@dataclass(frozen=True, slots=True)
class ClearingBundle:
    banks: list[Party]       # The test members the kit plays, two or more.
    operator: Party | None   # For the window case.


def read_clearing_bundle(bundle: Path) -> ClearingBundle:
    parties = read_parties(bundle)
    banks = [party for party in parties if party.role == "bank"]
    if len(banks) < 2:
        raise BundleError(f"{bundle} holds {len(banks)} bank folders; the kit plays two test members at least "
                          "(fedmall-clearing admit BANK ... --out BUNDLE/BANK for each)")
    for bank in banks:
        if bank.clearing_key is None:
            raise BundleError(f"{bank.folder}: no clearing.pub (the clearing's public signing key)")
    operators = [party for party in parties if party.role == "operator"]
    return ClearingBundle(banks=banks, operator=operators[0] if operators else None)


@dataclass(frozen=True, slots=True)
class MemberBundle:
    member_id: str
    currency: str
    clearing: Party                     # The clearing the kit plays: its TLS and signing key.
    payer: Party                        # The payer bank the kit plays.
    member_key: VerificationKey         # What the member signs its decisions and answers with.
    clearing_address: str               # Where the member's test node calls its clearing (the kit).


def read_member_bundle(bundle: Path) -> MemberBundle:
    try:
        kit = read_toml(bundle / KIT_FILE).section("conformance")
        member_id, payer_id, currency = kit.text("member"), kit.text("payer"), kit.text("currency")
        member_key_id = kit.text("member_signing_key_id")
        clearing_address = kit.text("clearing_address")
        member_public = load_file(bundle / member_id / SIGNING_PUBLIC_FILE, f"{member_id}'s public signing key (PEM)",
                                  pki.load_public_key_pem)
    except (ConfigError, OSError, ValueError) as error:
        raise BundleError(str(error)) from None
    by_id = {party.party_id: party for party in read_parties(bundle)}
    clearing, payer = by_id.get(pki.CLEARING.party_id), by_id.get(payer_id)
    if clearing is None or clearing.role != "clearing" or clearing.signing_key is None:
        raise BundleError(f"{bundle}: no clearing folder with its TLS and signing keys")
    if payer is None or payer.role != "bank":
        raise BundleError(f"{bundle}: no folder for the payer bank {payer_id!r}")
    return MemberBundle(member_id=member_id, currency=currency, clearing=clearing, payer=payer,
                        member_key=VerificationKey(key_id=member_key_id, owner=member_id, public_key=member_public),
                        clearing_address=clearing_address)


# Making a member's test bundle -------------------------------------------------------------

def _toml(sections: dict[str, dict[str, str | int]]) -> str:
    """A small TOML document of string and integer values (JSON strings are TOML basic strings)."""
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def _write_party(folder: Path, ca: pki.CertificateAuthority, identity: Identity, *, signing_key: SigningKey,
                 clearing_key: SigningKey, now: dt.datetime, config: dict) -> None:
    folder.mkdir(parents=True)
    certificate_pem, key_pem = pki.issue_certificate(
        ca, identity, hosts=[], not_before=now - BACKDATE, not_after=now + dt.timedelta(days=VALIDITY_DAYS))
    pki.write_public(folder / "ca.pem", pki.ca_certificate_pem(ca))
    pki.write_public(folder / "tls.crt", certificate_pem)
    pki.write_private(folder / "tls.key", key_pem)
    pki.write_private(folder / "signing.key", pki.signing_key_pem(signing_key))
    pki.write_public(folder / SIGNING_PUBLIC_FILE, pki.public_key_pem(signing_key.private_key.public_key()))
    pki.write_public(folder / "clearing.pub", pki.public_key_pem(clearing_key.private_key.public_key()))
    (folder / CONFIG_FILE).write_text(_toml(config))


def make_member_bundle(out: Path, *, member_id: str, currency: str, clearing_address: str, node_address: str,
                       now: dt.datetime) -> None:
    """A test consortium for one member's test node: a new CA; the clearing (listening at
    clearing_address) and the payer bank the kit plays; the member's own credentials, whose
    fedmall.toml a Fedmall node serves from as it is (its node at node_address)."""
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} is not empty; a bundle goes into a new folder")
    if not identifiers.is_bank_id(member_id):
        raise BundleError(f"{member_id!r} is not a bank id (letters, digits, '-', '_' and '.')")
    if member_id in (PAYER_BANK_ID, pki.CLEARING.party_id, pki.OPERATOR.party_id):
        raise BundleError(f"the member cannot be called {member_id!r}")
    for address, what in ((clearing_address, "--clearing-address"), (node_address, "--node-address")):
        try:
            identifiers.check_host_port(address, what)
        except ValueError as error:
            raise BundleError(str(error)) from None
    out.mkdir(parents=True, exist_ok=True)
    ca = pki.create_ca(now=now, validity_days=VALIDITY_DAYS + 1)
    clearing_key = pki.new_signing_key(CLEARING_KEY_ID)
    _write_party(out / pki.CLEARING.party_id, ca, pki.CLEARING, signing_key=clearing_key, clearing_key=clearing_key,
                 now=now, config={"identity": {"party_id": pki.CLEARING.party_id, "role": "clearing",
                                               "signing_key_id": CLEARING_KEY_ID},
                                  "clearing": {"listen_address": clearing_address}})
    for bank_id, address in ((PAYER_BANK_ID, ""), (member_id, node_address)):
        key = pki.new_signing_key(f"{bank_id}/k1")
        config = {"identity": {"party_id": bank_id, "role": "bank", "signing_key_id": key.key_id},
                  "clearing": {"address": clearing_address, "signing_key_id": CLEARING_KEY_ID}}
        if address:
            config["node"] = {"listen_address": address, "database_url": ""}
        _write_party(out / bank_id, ca, Identity(bank_id, "bank"), signing_key=key, clearing_key=clearing_key,
                     now=now, config=config)
    (out / KIT_FILE).write_text(_toml({"conformance": {
        "member": member_id, "payer": PAYER_BANK_ID, "currency": currency,
        "member_signing_key_id": f"{member_id}/k1", "clearing_address": clearing_address,
        "member_node_address": node_address}}))
