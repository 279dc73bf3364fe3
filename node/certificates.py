"""The bank's TLS certificate: its own key and signing request, and installing what the
operator signed (docs/certificates.md).

1. request (fedmall-node csr): make the TLS key pair in the node's home as tls.key.next
   (mode 0600; a retry reuses it) and a certificate signing request naming the bank. A new
   bank's home also gets its Ed25519 signing key (signing.key) and signing.pub, the public
   half the operator registers. No private key leaves the home.
2. install (fedmall-node install-certificate): check what the operator sent (a bundle from
   `fedmall-clearing admit --csr`, or a renewal) against the home and put it in place:
   the certificate must name this bank (in its subject and as its party name, which
   clients demand of its server), be issued by a CA in the bundle's ca.pem, be in
   force, and certify tls.key.next (or tls.key, or the key the operator made and sent).
   A folder holding only ca.pem installs a new trust bundle (a CA rotation); it must still
   trust the CA of the bank's own certificate. Each file is replaced in one step; a running
   node's server uses them from its next connection on, its calls after a restart.

Exceptions:
    InstallRefused (a ValueError)   what the operator sent does not fit the home; nothing changed
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from fedmall import pki
from fedmall.config_file import ConfigError, read_toml
from fedmall.pki import Identity

from node.config import CONFIG_FILE

NEXT_KEY_FILE = "tls.key.next"
SIGNING_PUBLIC_KEY_FILE = "signing.pub"
# Files an admission bundle brings that a home made by `csr` lacks; never overwritten.
ADMISSION_FILES = ("clearing.pub", CONFIG_FILE)


class InstallRefused(ValueError):
    """What the operator sent does not fit this home; nothing was changed."""


@dataclass(frozen=True, slots=True)
class SigningRequest:
    bank_id: str
    request_pem: bytes
    key_path: Path
    key_reused: bool                       # True: tls.key.next from an earlier run.
    signing_public_key_path: Path | None   # Made now, for a new bank's admission.


def configured_bank_id(home: Path) -> str | None:
    """The bank id in the home's fedmall.toml, or None when the home has none yet."""
    if not (home / CONFIG_FILE).exists():
        return None
    return read_toml(home / CONFIG_FILE).section("identity").text("party_id")


def request(home: Path, *, bank_id: str, hosts: list[str]) -> SigningRequest:
    """A signing request for bank_id's TLS key in home (made now, or the one made before)."""
    home.mkdir(parents=True, exist_ok=True)
    key_path = home / NEXT_KEY_FILE
    key_reused = key_path.exists()
    if key_reused:
        try:
            key = pki.load_private_key(key_path.read_bytes())
        except ValueError as error:
            raise ConfigError(f"{key_path}: not a TLS private key ({error}); delete it to make a new one") from None
    else:
        key = pki.new_tls_key()
        pki.write_private(key_path, pki.private_key_pem(key))
    signing_public_key_path = None
    if not (home / CONFIG_FILE).exists() and not (home / "signing.key").exists():  # A new bank's home.
        signing_key = pki.new_signing_key(f"{bank_id}/k1")
        pki.write_private(home / "signing.key", pki.signing_key_pem(signing_key))
        signing_public_key_path = home / SIGNING_PUBLIC_KEY_FILE
        pki.write_public(signing_public_key_path, pki.public_key_pem(signing_key.private_key.public_key()))
    return SigningRequest(bank_id=bank_id, request_pem=pki.make_request(key, Identity(bank_id, "bank"), hosts=hosts),
                          key_path=key_path, key_reused=key_reused, signing_public_key_path=signing_public_key_path)


@dataclass(frozen=True, slots=True)
class Installed:
    bank_id: str
    serial: str | None          # The certificate installed; None when only the trust bundle was.
    not_after: dt.datetime | None
    trusted_cas: int
    files: tuple[str, ...]


def _read_certificates(path: Path, what: str) -> list[x509.Certificate]:
    try:
        return pki.load_certificates(path.read_bytes())
    except FileNotFoundError:
        raise InstallRefused(f"{path}: not found (it should hold {what})") from None
    except ValueError as error:
        raise InstallRefused(f"{path}: not {what} ({error})") from None


def _bank_id(home: Path, source: Path) -> str:
    for folder in (home, source):
        try:
            bank_id = configured_bank_id(folder)
        except ConfigError as error:
            raise InstallRefused(str(error)) from None
        if bank_id:
            return bank_id
    raise InstallRefused(f"neither {home} nor {source} holds a {CONFIG_FILE} naming the bank")


def install(home: Path, source: Path, *, now: dt.datetime) -> Installed:
    """Check what source holds against home and install it; InstallRefused changes nothing."""
    bank_id = _bank_id(home, source)
    trusted = _read_certificates(source / "ca.pem", "the consortium CA certificates (PEM)")
    if (source / "tls.crt").exists():
        certificate = _read_certificates(source / "tls.crt", "a TLS certificate (PEM)")[0]
        key_source = _checked_certificate(home, source, certificate, bank_id=bank_id, trusted=trusted, now=now)
    else:
        certificate, key_source = None, None
        own = _read_certificates(home / "tls.crt", "this bank's TLS certificate (PEM)")[0]
        if not any(pki.issued_by(own, ca) for ca in trusted):
            raise InstallRefused(f"{source / 'ca.pem'} does not trust the CA of this bank's own certificate "
                                 f"({home / 'tls.crt'}): install the bank's renewed certificate first")
    written = []
    if key_source is not None and key_source != home / "tls.key":
        pki.replace_file(home / "tls.key", key_source.read_bytes(), private=True)
        written.append("tls.key")
    if certificate is not None:
        pki.replace_file(home / "tls.crt", (source / "tls.crt").read_bytes())
        written.append("tls.crt")
    pki.replace_file(home / "ca.pem", (source / "ca.pem").read_bytes())
    written.append("ca.pem")
    for name in ADMISSION_FILES:
        if (source / name).exists() and not (home / name).exists():
            pki.write_public(home / name, (source / name).read_bytes())
            written.append(name)
    if key_source == home / NEXT_KEY_FILE:
        key_source.unlink()
    return Installed(bank_id=bank_id, serial=pki.serial_text(certificate) if certificate else None,
                     not_after=certificate.not_valid_after_utc if certificate else None,
                     trusted_cas=len(trusted), files=tuple(str(home / name) for name in written))


def _checked_certificate(home: Path, source: Path, certificate: x509.Certificate, *, bank_id: str,
                         trusted: list[x509.Certificate], now: dt.datetime) -> Path:
    """The file holding the private key certificate certifies, once it is shown to be this
    bank's, issued by a CA in trusted and in force; InstallRefused otherwise."""
    identity = pki.identity_of((source / "tls.crt").read_bytes())
    if identity != Identity(bank_id, "bank"):
        named = f"{identity.role} {identity.party_id}" if identity else "no consortium party"
        raise InstallRefused(f"{source / 'tls.crt'} names {named}, not bank {bank_id}")
    problem = pki.party_name_problem((source / "tls.crt").read_bytes(), identity)
    if problem is not None:
        raise InstallRefused(f"{source / 'tls.crt'}: {problem} (ask the operator: fedmall-clearing certificates "
                             f"renew bank {bank_id})")
    if not any(pki.issued_by(certificate, ca) for ca in trusted):
        raise InstallRefused(f"{source / 'tls.crt'} was not issued by a CA in {source / 'ca.pem'}")
    if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
        raise InstallRefused(f"{source / 'tls.crt'} is not in force now (valid "
                             f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                             f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)")
    candidates = [source / "tls.key", home / NEXT_KEY_FILE, home / "tls.key"]
    for path in candidates:
        if path.exists() and _certifies(certificate, path):
            return path
    raise InstallRefused(f"{source / 'tls.crt'} does not certify any key here ("
                         + ", ".join(str(path) for path in candidates if path.exists()) + "): was it made "
                         "from this home's signing request?")


def _certifies(certificate: x509.Certificate, key_path: Path) -> bool:
    try:
        key = pki.load_private_key(key_path.read_bytes())
    except ValueError:
        return False
    return pki.same_public_key(key.public_key(), certificate.public_key())


def expiry_warning(certificate_pem: bytes, *, now: dt.datetime) -> str | None:
    """A warning from EXPIRY_WARNING_DAYS before the bank's certificate expires, else None."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    left = certificate.not_valid_after_utc - now
    if left > dt.timedelta(days=pki.EXPIRY_WARNING_DAYS):
        return None
    when = "has expired" if left <= dt.timedelta(0) else f"expires in {left.days} days"
    return (f"this bank's TLS certificate (serial {pki.serial_text(certificate)}) {when}, on "
            f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: make a signing request (fedmall-node csr) "
            "and ask the operator to renew it")
