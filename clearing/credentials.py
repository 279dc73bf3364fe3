"""The operator's PKI chores: create the consortium CA and the clearing's home, issue each
admitted bank its credentials bundle (see fedmall.pki for the layout), renew certificates,
and rotate the CA (docs/certificates.md).

The clearing's home holds the CA:
    ca.key            the key of the CA that issues certificates now (mode 0600)
    ca.pem            the trust bundle: that CA's certificate, and while the CA is rotated
                      the previous CA's too (every home gets a copy)
    ca.key.previous   the previous CA's key, from rotate_ca until retire_previous_cas
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509

from fedmall import limits, pki
from fedmall.pki import Identity

from clearing.certificates import CertificateRefused
from clearing.config import CONFIG_FILE, ClearingConfig, toml_document

CLEARING_KEY_ID = "clearing/k1"
CA_VALIDITY_DAYS = 3650
CERTIFICATE_VALIDITY_DAYS = 365
CA_KEY_FILE = "ca.key"
TRUST_FILE = "ca.pem"
PREVIOUS_CA_KEY_FILE = "ca.key.previous"
NEXT_CA_KEY_FILE = "ca.key.next"
# A new certificate starts this far in the past, so a peer whose clock is a little behind accepts it.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate the CA issued, with its private key when the CA made that too."""
    certificate_pem: bytes
    key_pem: bytes | None  # None: the holder made its key and sent a signing request.


def named_hosts(hosts: Iterable[str]) -> list[str]:
    """Of hosts, those a certificate names beside its party name, for operators' own tools
    that dial a server by host (no client of ours reads them: each demands the party name,
    fedmall.pki.party_name). Not a loopback name ('localhost', 127.0.0.0/8, ::1) nor a
    wildcard address (0.0.0.0, ::), which every party's certificate would share, nor a
    consortium party name, which only the party's own may carry."""
    return sorted({host.strip() for host in hosts if _is_named(host.strip())})


def _is_named(host: str) -> bool:
    name = host.lower().rstrip(".")
    if not name or pki.is_party_name(name) or name == "localhost" or name.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified)


def _hosts(address: str) -> list[str]:
    """The host of a host:port address that a certificate names (named_hosts): none for a loopback one."""
    return named_hosts([address.rsplit(":", 1)[0].strip("[]")])


def init_home(home: Path, *, listen_address: str, database_url: str, now: dt.datetime, validity_days: int) -> None:
    """Create the CA, the clearing's TLS and signing keys, and the operator's bundle."""
    if (home / CONFIG_FILE).exists():
        raise FileExistsError(f"{home} already holds a clearing")
    home.mkdir(parents=True, exist_ok=True)
    ca = pki.create_ca(now=now, validity_days=CA_VALIDITY_DAYS)
    pki.write_private(home / CA_KEY_FILE, pki.ca_key_pem(ca))
    ca_pem = pki.ca_certificate_pem(ca)
    pki.write_public(home / TRUST_FILE, ca_pem)
    _write_tls(home, _issue(ca, pki.CLEARING, hosts=_hosts(listen_address), now=now,
                            validity_days=validity_days), ca_pem)
    signing_key = pki.new_signing_key(CLEARING_KEY_ID)
    pki.write_private(home / "signing.key", pki.signing_key_pem(signing_key))
    pki.write_public(home / "clearing.pub", pki.public_key_pem(signing_key.private_key.public_key()))
    (home / CONFIG_FILE).write_text(toml_document({
        "identity": {"party_id": "clearing", "role": "clearing", "signing_key_id": CLEARING_KEY_ID},
        "clearing": {"listen_address": listen_address, "database_url": database_url, "expiry_sweep_ms": 200,
                     "window_close_interval_s": 0},
    }))
    operator = home / "operator"
    operator.mkdir()
    _write_tls(operator, _issue(ca, pki.OPERATOR, hosts=[], now=now, validity_days=validity_days), ca_pem)
    (operator / CONFIG_FILE).write_text(toml_document({
        "identity": {"party_id": "operator", "role": "operator"},
        "clearing": {"address": listen_address},
    }))


def issuing_ca(home: Path) -> pki.CertificateAuthority:
    return pki.load_ca(home / CA_KEY_FILE, home / TRUST_FILE)


def trusted_cas(home: Path) -> list[x509.Certificate]:
    """The CA certificates in the home's trust bundle, the issuing one first."""
    return pki.load_certificates((home / TRUST_FILE).read_bytes())


def issue(home: Path, identity: Identity, *, hosts: list[str], now: dt.datetime, validity_days: int,
          public_key=None) -> Issued:
    """A certificate for identity from the home's issuing CA: on public_key (from a checked
    signing request), or on a key made here."""
    return _issue(issuing_ca(home), identity, hosts=hosts, now=now, validity_days=validity_days,
                  public_key=public_key)


def _issue(ca: pki.CertificateAuthority, identity: Identity, *, hosts: list[str], now: dt.datetime,
           validity_days: int, public_key=None) -> Issued:
    not_after = now + dt.timedelta(days=validity_days)
    if not_after > ca.certificate.not_valid_after_utc:
        raise CertificateRefused(f"the CA expires on {ca.certificate.not_valid_after_utc:%Y-%m-%d}, before a "
                                 f"{validity_days}-day certificate would; rotate the CA first (docs/certificates.md)")
    if public_key is not None:
        return Issued(certificate_pem=pki.issue_for_key(ca, identity, public_key, hosts=hosts,
                                                        not_before=now - BACKDATE, not_after=not_after),
                      key_pem=None)
    certificate_pem, key_pem = pki.issue_certificate(ca, identity, hosts=hosts, not_before=now - BACKDATE,
                                                     not_after=not_after)
    return Issued(certificate_pem=certificate_pem, key_pem=key_pem)


def checked_request(data: bytes, *, bank_id: str):
    """The public key of a bank's certificate signing request; ValueError naming every problem
    (not a request, too large, badly signed, naming another party, an unusable key)."""
    if len(data) > limits.certificate_request_bytes_max:
        raise ValueError(f"the certificate signing request is {len(data)} bytes; at most "
                         f"{limits.certificate_request_bytes_max}")
    request = pki.load_request(data)
    problems = pki.request_problems(request, Identity(bank_id, "bank"))
    if problems:
        raise ValueError(f"the certificate signing request for {bank_id} is refused: {'; '.join(problems)}")
    return request.public_key()


def bank_hosts(node_address: str) -> list[str]:
    """The hosts a bank's certificate names beside its party name: the admitted node address's
    (unless loopback), whatever it asked for."""
    return _hosts(node_address)


def hosts_of(certificate_pem: bytes) -> list[str]:
    """The DNS names and IP addresses a certificate names, its party name included."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(value) for value in names.get_values_for_type(x509.DNSName)
            + names.get_values_for_type(x509.IPAddress)]


def own_hosts(config: ClearingConfig) -> list[str]:
    """The hosts the clearing's certificate names beside its party name: what its current one
    names (an operator may have issued it for a load balancer's name) and its listen
    address's host, less loopback names (named_hosts)."""
    current = named_hosts(hosts_of((config.home / "tls.crt").read_bytes()))
    return sorted(set(current) | set(_hosts(config.listen_address)))


def _write_tls(folder: Path, issued: Issued, trust_pem: bytes) -> None:
    """tls.crt, tls.key (when the CA made it) and ca.pem, each replaced in one step."""
    pki.replace_file(folder / TRUST_FILE, trust_pem)
    if issued.key_pem is not None:
        pki.replace_file(folder / "tls.key", issued.key_pem, private=True)
    pki.replace_file(folder / "tls.crt", issued.certificate_pem)


def install_tls(folder: Path, issued: Issued, *, home: Path) -> None:
    """Put a renewed certificate (and key) into folder with the home's trust bundle."""
    _write_tls(folder, issued, (home / TRUST_FILE).read_bytes())


def write_bank_bundle(
    config: ClearingConfig, out: Path, *, bank_id: str, node_address: str, signing_key_id: str,
    signing_key: pki.SigningKey | None,
    now: dt.datetime, validity_days: int, clearing_address: str, issued: Issued | None = None,
) -> Issued:
    """Write bank_id's bundle to out, with the certificate issued (issued here when None).

    With signing_key None the bank keeps a key it made itself (only its public key was
    registered) and must put signing.key into the bundle folder on its own. A certificate
    issued from a signing request comes without tls.key: the bank holds it.
    """
    if issued is None:
        issued = issue(config.home, Identity(bank_id, "bank"), hosts=_hosts(node_address), now=now,
                       validity_days=validity_days)
    out.mkdir(parents=True, exist_ok=True)
    _write_tls(out, issued, (config.home / TRUST_FILE).read_bytes())
    if signing_key is not None:
        pki.write_private(out / "signing.key", pki.signing_key_pem(signing_key))
    pki.write_public(out / "clearing.pub", (config.home / "clearing.pub").read_bytes())
    (out / CONFIG_FILE).write_text(toml_document({
        "identity": {"party_id": bank_id, "role": "bank", "signing_key_id": signing_key_id},
        "clearing": {"address": clearing_address, "signing_key_id": config.signing_key_id},
        "node": {"listen_address": node_address, "database_url": ""},
    }))
    return issued


# Rotating the CA ------------------------------------------------------------------------

def rotate_ca(home: Path, *, now: dt.datetime) -> tuple[x509.Certificate, x509.Certificate]:
    """Make a new CA the issuing one; the trust bundle (ca.pem here and in the operator's
    folder) holds it and the previous CA until retire_previous_cas. (new, previous).

    Steps, each safe to crash after: the new key goes to ca.key.next; the bundle gets the new
    certificate; ca.key becomes ca.key.previous and ca.key.next becomes ca.key. A rotation
    that crashed is finished by running it again."""
    trusted = trusted_cas(home)
    staged = home / NEXT_CA_KEY_FILE
    if staged.exists():
        resumed = _resume_rotation(home, staged, trusted)
        if resumed is not None:
            return resumed
    if len(trusted) > 1:
        raise CertificateRefused(f"{home / TRUST_FILE} trusts {len(trusted)} CAs: a rotation is under way; "
                                 "retire the previous CA first (certificates retire-old-ca)")
    previous = issuing_ca(home)
    new = pki.create_ca(now=now, validity_days=CA_VALIDITY_DAYS)
    pki.write_private(staged, pki.ca_key_pem(new))
    bundle = pki.ca_certificate_pem(new) + pki.ca_certificate_pem(previous)
    for folder in (home, home / "operator"):
        pki.replace_file(folder / TRUST_FILE, bundle)
    _finish_rotation(home, staged)
    return new.certificate, previous.certificate


def _resume_rotation(home: Path, staged: Path, trusted: list[x509.Certificate]):
    """Finish a rotation that crashed after staging the new key; None when its certificate
    never reached the bundle (then the staged key is dropped and the rotation starts over)."""
    try:
        new = pki.load_ca(staged, home / TRUST_FILE)
    except ValueError:
        staged.unlink()
        return None
    pki.replace_file(home / "operator" / TRUST_FILE, (home / TRUST_FILE).read_bytes())
    _finish_rotation(home, staged)
    previous = [certificate for certificate in trusted
                if pki.fingerprint(certificate) != pki.fingerprint(new.certificate)]
    return new.certificate, previous[0]


def _finish_rotation(home: Path, staged: Path) -> None:
    if (home / CA_KEY_FILE).exists():
        os.replace(home / CA_KEY_FILE, home / PREVIOUS_CA_KEY_FILE)
    os.replace(staged, home / CA_KEY_FILE)


def retire_previous_cas(home: Path) -> list[x509.Certificate]:
    """Trust only the issuing CA from now on (ca.pem here and in the operator's folder) and
    delete the previous CA's key; the CA certificates dropped. CertificateRefused when there
    is nothing to retire, or the clearing's or the operator's certificate is still the
    previous CA's (renew them first)."""
    current = issuing_ca(home)
    dropped = [certificate for certificate in trusted_cas(home)
               if pki.fingerprint(certificate) != pki.fingerprint(current.certificate)]
    if not dropped:
        raise CertificateRefused(f"{home / TRUST_FILE} trusts only the current CA: there is no previous CA to retire")
    for folder, party in ((home, "clearing"), (home / "operator", "operator")):
        certificate = x509.load_pem_x509_certificate((folder / "tls.crt").read_bytes())
        if not pki.issued_by(certificate, current.certificate):
            raise CertificateRefused(f"{folder / 'tls.crt'} is still the previous CA's: "
                                     f"renew it first (certificates renew {party})")
    for folder in (home, home / "operator"):
        pki.replace_file(folder / TRUST_FILE, pki.ca_certificate_pem(current))
    (home / PREVIOUS_CA_KEY_FILE).unlink(missing_ok=True)
    return dropped
