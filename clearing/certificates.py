"""The certificate registry: every certificate the consortium CA issued, its status, and
which ones every call is refused with.

    record            a certificate just issued (a member's, the clearing's, the operator's)
    record_home       the clearing's and the operator's certificates in the home, if missing
    listed            every certificate, newest first
    revoke            the operator revokes one, with who and why in the audit log
    retire_ca         the CA was dropped from the trust bundle: its certificates are refused
    refused           revoked or CA-retired and not yet expired: the clearing refuses calls
                      made with them, and hands the list to the nodes (ListRevokedCertificates)
    expiry_warnings   one line per party whose newest certificate expires within 30 days

A certificate that is not in the registry is not refused: the registry lists what was
revoked, not what may connect (the TLS handshake already requires a certificate of a
trusted CA). Certificates issued before the registry existed are not in it.

Exceptions:
    CertificateRefused     the operator's request cannot be done; nothing was changed
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import sqlalchemy as sa
from cryptography import x509

from fedmall import limits, pki

from clearing import audit
from clearing.operator import OperatorAction
from clearing.store import Store, certificates

log = logging.getLogger("fedmall.clearing")

ACTIVE = "active"
REVOKED = "revoked"
CA_RETIRED = "ca_retired"
STATUSES = (ACTIVE, REVOKED, CA_RETIRED)
# The participants view, `certificates list` and the clearing's log warn this long before a
# party's newest certificate expires.
EXPIRY_WARNING_DAYS = pki.EXPIRY_WARNING_DAYS
DAY_MS = 24 * 3600 * 1000


class CertificateRefused(Exception):
    """The operator's request cannot be done (unknown serial, too many revoked); nothing changed."""


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    serial: str
    sha256: str
    party_id: str
    role: str
    not_before_ms: int
    not_after_ms: int
    ca_sha256: str
    status: str
    recorded_at_ms: int
    revoked_at_ms: int | None = None
    revoked_by: str | None = None
    revoked_reason: str | None = None

    def days_left(self, now_ms: int) -> int:
        """Whole days until it expires; negative once it has."""
        return (self.not_after_ms - now_ms) // DAY_MS

    def expires_soon(self, now_ms: int) -> bool:
        return self.status == ACTIVE and self.not_after_ms - now_ms <= EXPIRY_WARNING_DAYS * DAY_MS


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def describe(certificate_pem: bytes, *, trusted: Iterable[x509.Certificate], now_ms: int) -> CertificateEntry:
    """The registry entry of a consortium certificate; ValueError if it names no party or
    none of the trusted CAs issued it."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    identity = pki.identity_of(certificate_pem)
    if identity is None:
        raise ValueError(f"certificate {pki.serial_text(certificate)} names no consortium party")
    issuers = [ca for ca in trusted if pki.issued_by(certificate, ca)]
    if not issuers:
        raise ValueError(f"certificate {pki.serial_text(certificate)} of {identity.party_id} was not issued "
                         "by a CA in the trust bundle")
    return CertificateEntry(
        serial=pki.serial_text(certificate), sha256=pki.fingerprint(certificate), party_id=identity.party_id,
        role=identity.role, not_before_ms=_ms(certificate.not_valid_before_utc),
        not_after_ms=_ms(certificate.not_valid_after_utc), ca_sha256=pki.fingerprint(issuers[0]), status=ACTIVE,
        recorded_at_ms=now_ms)


def record(connection: sa.Connection, certificate_pem: bytes, *, trusted: Iterable[x509.Certificate],
           now_ms: int) -> CertificateEntry:
    """Record a certificate the CA issued; one already recorded is left as it is."""
    entry = describe(certificate_pem, trusted=trusted, now_ms=now_ms)
    existing = connection.execute(sa.select(certificates).where(certificates.c.serial == entry.serial)).first()
    if existing is not None:
        return _entry(existing)
    connection.execute(sa.insert(certificates).values(
        serial=entry.serial, sha256=entry.sha256, party_id=entry.party_id, role=entry.role,
        not_before_ms=entry.not_before_ms, not_after_ms=entry.not_after_ms, ca_sha256=entry.ca_sha256,
        status=entry.status, recorded_at_ms=now_ms, certificate_pem=certificate_pem))
    return entry


def record_home(store: Store, home: Path, *, now_ms: int) -> list[CertificateEntry]:
    """Record the clearing's and the operator's certificates in the home when they are missing
    (a home made before the registry existed, or by `init`); what is now on the books."""
    trusted = pki.load_certificates((home / "ca.pem").read_bytes())
    recorded = []
    for folder in (home, home / "operator"):
        path = folder / "tls.crt"
        if not path.exists():
            continue
        try:
            with store.write() as connection:
                recorded.append(record(connection, path.read_bytes(), trusted=trusted, now_ms=now_ms))
        except sa.exc.IntegrityError:  # Another clearing process recorded it meanwhile.
            continue
        except ValueError as error:  # Not the consortium's: the TLS handshake will tell.
            log.warning("%s is not recorded in the certificate registry: %s", path, error)
    return recorded


def normalised_serial(text: str) -> str:
    """A serial as the registry writes it: lowercase hex, no colons, no leading zeros;
    ValueError when text is not hexadecimal."""
    digits = text.strip().lower().replace(":", "").removeprefix("0x").lstrip("0")
    if not digits or len(digits) > 40 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"{text!r} is not a certificate serial (hexadecimal, as `certificates list` shows it)")
    return digits


def listed(connection: sa.Connection) -> list[CertificateEntry]:
    rows = connection.execute(sa.select(certificates).order_by(
        certificates.c.not_after_ms.desc(), certificates.c.serial)).all()
    return [_entry(row) for row in rows]


def get(connection: sa.Connection, serial: str) -> CertificateEntry | None:
    row = connection.execute(sa.select(certificates).where(certificates.c.serial == serial)).first()
    return None if row is None else _entry(row)


def revoke(connection: sa.Connection, serial: str, action: OperatorAction, *,
           now_ms: int) -> tuple[CertificateEntry, bool]:
    """Revoke the certificate with serial (normalised) and append who and why to the audit log,
    in the caller's transaction. (entry after, whether this call changed it): revoking a revoked
    certificate again changes nothing. CertificateRefused for an unknown serial, or when the
    list of refused certificates is full."""
    row = connection.execute(
        sa.select(certificates).where(certificates.c.serial == serial).with_for_update()).first()
    if row is None:
        raise CertificateRefused(f"no certificate with serial {serial} in the registry "
                                 "(see `fedmall-clearing certificates list`)")
    if row.status == REVOKED:
        return _entry(row), False
    if _refused_count(connection, now_ms=now_ms) >= limits.refused_certificates_max:
        raise CertificateRefused(f"{limits.refused_certificates_max} unexpired certificates are refused already; "
                                 "rotate the CA instead (docs/certificates.md)")
    connection.execute(sa.update(certificates).where(certificates.c.serial == serial).values(
        status=REVOKED, revoked_at_ms=now_ms, revoked_by=action.operator, revoked_reason=action.reason))
    audit.append(connection, kind="certificate.revoke", party_id="operator", now_ms=now_ms, body=audit.json_body({
        "serial": serial, "sha256": row.sha256, "party_id": row.party_id, "role": row.role,
        **action.audit_fields()}))
    return _entry(connection.execute(sa.select(certificates).where(certificates.c.serial == serial)).one()), True


def parties_not_renewed(entries: Iterable[CertificateEntry], *, ca_sha256: str, now_ms: int) -> list[str]:
    """Parties with an unexpired active certificate but none issued by the CA ca_sha256:
    dropping the other CAs would leave them without a certificate that works."""
    holders: dict[str, set[str]] = {}
    for entry in entries:
        if entry.status == ACTIVE and entry.not_after_ms > now_ms:
            holders.setdefault(f"{entry.role} {entry.party_id}", set()).add(entry.ca_sha256)
    return sorted(party for party, cas in holders.items() if ca_sha256 not in cas)


def retire_ca(connection: sa.Connection, *, kept_ca_sha256: str, dropped_ca_sha256: list[str],
              action: OperatorAction, now_ms: int) -> int:
    """Mark every active certificate of a CA other than kept_ca_sha256 CA_RETIRED (so a
    connection made before the CA was dropped is refused too) and audit the retirement;
    how many certificates it marked."""
    marked = connection.execute(sa.update(certificates).where(
        certificates.c.status == ACTIVE, certificates.c.ca_sha256 != kept_ca_sha256).values(
        status=CA_RETIRED, revoked_at_ms=now_ms, revoked_by=action.operator, revoked_reason=action.reason)).rowcount
    audit.append(connection, kind="ca.retire", party_id="operator", now_ms=now_ms, body=audit.json_body({
        "kept_ca_sha256": kept_ca_sha256, "dropped_ca_sha256": dropped_ca_sha256, "certificates_retired": marked,
        **action.audit_fields()}))
    return marked


def record_ca_rotation(connection: sa.Connection, *, new_ca_sha256: str, previous_ca_sha256: str,
                       action: OperatorAction, now_ms: int) -> None:
    audit.append(connection, kind="ca.rotate", party_id="operator", now_ms=now_ms, body=audit.json_body({
        "new_ca_sha256": new_ca_sha256, "previous_ca_sha256": previous_ca_sha256, **action.audit_fields()}))


def refused(connection: sa.Connection, *, now_ms: int) -> list[CertificateEntry]:
    """Certificates calls are refused with: revoked or of a retired CA, and not yet expired
    (an expired one fails the TLS handshake anyway). At most limits.refused_certificates_max,
    which revoke keeps it below."""
    rows = connection.execute(sa.select(certificates).where(
        certificates.c.status != ACTIVE, certificates.c.not_after_ms > now_ms)
        .order_by(certificates.c.revoked_at_ms.desc(), certificates.c.serial)
        .limit(limits.refused_certificates_max)).all()
    return [_entry(row) for row in rows]


def _refused_count(connection: sa.Connection, *, now_ms: int) -> int:
    return connection.scalar(sa.select(sa.func.count()).select_from(certificates).where(
        certificates.c.status != ACTIVE, certificates.c.not_after_ms > now_ms))


def newest_by_party(entries: Iterable[CertificateEntry]) -> dict[tuple[str, str], CertificateEntry]:
    """(role, party id) -> its active certificate that expires last."""
    newest: dict[tuple[str, str], CertificateEntry] = {}
    for entry in entries:
        key = (entry.role, entry.party_id)
        if entry.status == ACTIVE and (key not in newest or entry.not_after_ms > newest[key].not_after_ms):
            newest[key] = entry
    return newest


def expiry_warnings(entries: Iterable[CertificateEntry], *, now_ms: int) -> list[str]:
    """One line per party whose newest active certificate expires within EXPIRY_WARNING_DAYS
    (or has expired): the member banks', the clearing's and the operator's."""
    warnings = []
    for (role, party_id), entry in sorted(newest_by_party(entries).items()):
        if not entry.expires_soon(now_ms):
            continue
        days = entry.days_left(now_ms)
        when = f"expired {-days} days ago" if entry.not_after_ms <= now_ms else f"expires in {days} days"
        command = f"renew bank {party_id}" if role == "bank" else f"renew {role}"
        warnings.append(f"the {role} certificate of {party_id} (serial {entry.serial}) {when}, on "
                        f"{utc_text(entry.not_after_ms)}; renew it: fedmall-clearing certificates {command}")
    return warnings


def utc_text(at_ms: int) -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _entry(row: sa.Row) -> CertificateEntry:
    return CertificateEntry(
        serial=row.serial, sha256=row.sha256, party_id=row.party_id, role=row.role,
        not_before_ms=row.not_before_ms, not_after_ms=row.not_after_ms, ca_sha256=row.ca_sha256,
        status=row.status, recorded_at_ms=row.recorded_at_ms, revoked_at_ms=row.revoked_at_ms,
        revoked_by=row.revoked_by, revoked_reason=row.revoked_reason)
