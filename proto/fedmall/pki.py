"""The consortium PKI: a CA, X.509 identities for mTLS, Ed25519 signing keys, bundles.

A certificate names its holder in the subject: CN is the party id (a bank id,
"clearing" or "operator") and OU its role ("bank", "clearing", "operator"). The
gRPC peer identity of a caller is read from there and nowhere else.

It also names its holder as a server, in a DNS subject alternative name (party_name):
bank-a.bank.fedmall, clearing.fedmall, operator.fedmall. A client demands that name of
the server it dials (fedmall.tls.secure_channel), whatever address it dials, so one
member cannot answer calls meant for the clearing or for another bank. Hosts the
certificate names beside it serve operators' own tools only; no client of ours reads them.

A credentials bundle is a folder:
    ca.pem          the consortium CA certificates this party trusts: one, or two while the
                    CA is being rotated (docs/certificates.md)
    tls.crt         this party's certificate (client and server use)
    tls.key         its private key (mode 0600)
    signing.key     this party's Ed25519 signing key (mode 0600), PKCS#8 PEM
    clearing.pub    the clearing's Ed25519 public key, to verify what it signs
    fedmall.toml    ids and addresses (see the config modules of clearing and node)

A bank may make its own TLS key and send a certificate signing request (make_request);
the operator checks it (request_problems) and signs its public key (issue_for_key), so the
private key never leaves the bank.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedmall.envelope import SigningKey

ROLES = ("bank", "clearing", "operator")
ORGANISATION = "Fedmall consortium"
PRIVATE_FILE_MODE = 0o600
# The clearing and the nodes warn this long before a certificate expires.
EXPIRY_WARNING_DAYS = 30
# TLS keys a certificate may certify: what every gRPC peer (BoringSSL) verifies quickly.
ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
RSA_KEY_BITS_MIN = 2048


@dataclass(frozen=True, slots=True)
class Identity:
    party_id: str
    role: str


CLEARING = Identity("clearing", "clearing")
OPERATOR = Identity("operator", "operator")
# Party names live under this name, which no real host has and no client resolves: a
# client dials an address and demands a party name, never looks the name up.
PARTY_DOMAIN = "fedmall"
DNS_LABEL_LENGTH_MAX = 63
_PLAIN_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
ENCODED_LABEL_PREFIX = "x--"


def _party_label(party_id: str) -> str:
    """party_id as one DNS label that no other party id gives.

    DNS names ignore case and a label holds neither '_' nor '.', while a bank id may hold
    both and 'Bank-A' is not 'bank-a'. So only an id that is already a lowercase label
    without '--' is its own label; any other is spelled x-- and its base32, in lowercase
    (injective; its '--' keeps it apart from every plain label). A 34-character bank id
    (fedmall.limits.bank_id_length_max) gives 58 characters, within the 63 of a label.
    """
    if _PLAIN_LABEL.fullmatch(party_id) and "--" not in party_id:
        return party_id
    label = ENCODED_LABEL_PREFIX + base64.b32encode(party_id.encode()).decode().rstrip("=").lower()
    assert len(label) <= DNS_LABEL_LENGTH_MAX, party_id
    return label


def party_name(identity: Identity) -> str:
    """The DNS name a certificate gives its party, and the one a client demands of the server
    it dials: <party>.<role>.fedmall (bank-a.bank.fedmall), or <role>.fedmall when the party
    id is the role (clearing.fedmall, operator.fedmall). No two parties share one."""
    assert identity.role in ROLES, identity.role
    if identity.party_id == identity.role:
        return f"{identity.role}.{PARTY_DOMAIN}"
    return f"{_party_label(identity.party_id)}.{identity.role}.{PARTY_DOMAIN}"


def is_party_name(host: str) -> bool:
    """Whether host is, or is under, the consortium's party names: only the CA's party_name
    may put one in a certificate (a node address under it must not name another party)."""
    name = host.lower().rstrip(".")
    return name == PARTY_DOMAIN or name.endswith("." + PARTY_DOMAIN)


def names_party(certificate_pem: bytes, identity: Identity) -> bool:
    """Whether the certificate names identity's party_name: whether clients accept it as that
    party's server. A certificate issued before certificates named their party does not."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    wanted = party_name(identity)
    return any(name.lower().rstrip(".") == wanted for name in names.get_values_for_type(x509.DNSName))


def party_name_problem(certificate_pem: bytes, identity: Identity) -> str | None:
    """Why the certificate cannot serve as identity's server, or None."""
    if names_party(certificate_pem, identity):
        return None
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    named = identity_of(certificate_pem)
    if named != identity:
        holder = f"{named.role} {named.party_id}" if named else "no consortium party"
        return f"certificate {serial_text(certificate)} names {holder}, not {identity.role} {identity.party_id}"
    return (f"certificate {serial_text(certificate)} does not name {party_name(identity)}: it was issued before "
            f"certificates named their party, and every client refuses it as the server of {identity.role} "
            f"{identity.party_id}; renew it")


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def _name(common_name: str, role: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def create_ca(*, now: dt.datetime, validity_days: int) -> CertificateAuthority:
    """A new consortium CA. Its name carries its date and serial, and it has a subject key
    identifier that the certificates it issues point to, so two CAs trusted side by side
    while the CA is rotated are never mistaken for each other when a chain is built."""
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    name = _name(f"Fedmall consortium CA {now:%Y-%m-%d} {format(serial, '040x')[:8]}", "ca")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key=key, certificate=certificate)


def new_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def issue_certificate(
    ca: CertificateAuthority,
    identity: Identity,
    *,
    hosts: list[str],
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> tuple[bytes, bytes]:
    """Issue a certificate for identity on a new key, valid for client and server use on hosts.

    Returns (certificate PEM, private key PEM).
    """
    key = new_tls_key()
    certificate_pem = issue_for_key(ca, identity, key.public_key(), hosts=hosts, not_before=not_before,
                                    not_after=not_after)
    return certificate_pem, private_key_pem(key)


def issue_for_key(
    ca: CertificateAuthority,
    identity: Identity,
    public_key,
    *,
    hosts: list[str],
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> bytes:
    """Certify public_key (made elsewhere, e.g. by a bank) as identity's, for client and server
    use; the certificate PEM. It names identity's party_name first, then hosts (for operators'
    own tools), none of which may be a party name."""
    assert identity.role in ROLES, identity.role
    assert key_problem(public_key) is None, key_problem(public_key)
    assert not any(is_party_name(host) for host in hosts), hosts
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(identity.party_id, identity.role))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(party_name(identity))] + _alt_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    return alt_names


def key_problem(public_key) -> str | None:
    """Why a TLS key may not be certified, or None: EC on P-256 or P-384, or RSA of 2048 bits and up."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ACCEPTED_CURVES):
            return None
        return f"an EC key on {public_key.curve.name}; use P-256 or P-384"
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size >= RSA_KEY_BITS_MIN:
            return None
        return f"an RSA key of {public_key.key_size} bits; use {RSA_KEY_BITS_MIN} or more, or EC P-256"
    return f"a {type(public_key).__name__.removeprefix('_')} key; use EC P-256 or P-384, or RSA"


def make_request(key: ec.EllipticCurvePrivateKey, identity: Identity, *, hosts: list[str]) -> bytes:
    """A certificate signing request for identity's key (PEM). The hosts are what the bank
    asks for; the operator decides the certificate's hosts from the admitted node address."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(identity.party_id, identity.role))
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def load_request(data: bytes) -> x509.CertificateSigningRequest:
    """ValueError when data is not one PEM certificate signing request."""
    try:
        return x509.load_pem_x509_csr(data)
    except ValueError as error:
        raise ValueError(f"not a PEM certificate signing request ({error})") from None


def request_problems(request: x509.CertificateSigningRequest, identity: Identity) -> list[str]:
    """What keeps the operator from certifying this request as identity's; empty when nothing.

    The request must be signed by the key it carries (its holder has the private key), name
    exactly identity in the consortium's encoding (O, OU = role, CN = party id: a request
    naming another bank, another role or with extra name parts is refused) and carry a key
    of an accepted kind. The hosts it asks for are not checked: they are not used.
    """
    problems = []
    try:
        public_key = request.public_key()
    except (ValueError, TypeError) as error:
        return [f"its public key cannot be read ({error})"]
    problem = key_problem(public_key)
    if problem is not None:
        problems.append(f"it carries {problem}")
    if not request.is_signature_valid:
        problems.append("its signature is not valid: it was not signed by the key it carries")
    expected = _name(identity.party_id, identity.role)
    if request.subject != expected:
        named = _identity_in(request.subject)
        whom = f"{named.role} {named.party_id!r}" if named else f"'{request.subject.rfc4514_string()}'"
        problems.append(f"it names {whom}, not {identity.role} {identity.party_id!r} "
                        f"(expected subject '{expected.rfc4514_string()}')")
    return problems


def _identity_in(name: x509.Name) -> Identity | None:
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    roles = name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if len(common_names) != 1 or len(roles) != 1 or roles[0].value not in ROLES:
        return None
    return Identity(party_id=str(common_names[0].value), role=str(roles[0].value))


def identity_of(certificate_pem: bytes) -> Identity | None:
    """The identity a consortium certificate names, or None if it names none."""
    return _identity_in(x509.load_pem_x509_certificate(certificate_pem).subject)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER bytes, lowercase hex: what revocation lists name."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def serial_text(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a trust bundle holds one or two); ValueError if none."""
    return x509.load_pem_x509_certificates(data)


def issued_by(certificate: x509.Certificate, ca_certificate: x509.Certificate) -> bool:
    """Whether ca_certificate's key signed certificate."""
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def same_public_key(a, b) -> bool:
    der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*der) == b.public_bytes(*der)


def new_signing_key(key_id: str) -> SigningKey:
    return SigningKey(key_id=key_id, private_key=Ed25519PrivateKey.generate())


def signing_key_pem(key: SigningKey) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_signing_key(path: Path, key_id: str) -> SigningKey:
    return signing_key_from_pem(path.read_bytes(), key_id)


def signing_key_from_pem(data: bytes, key_id: str) -> SigningKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return SigningKey(key_id=key_id, private_key=key)


def ca_key_pem(ca: CertificateAuthority) -> bytes:
    return ca.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ca_certificate_pem(ca: CertificateAuthority) -> bytes:
    return ca.certificate.public_bytes(serialization.Encoding.PEM)


def load_ca(key_path: Path, certificate_path: Path) -> CertificateAuthority:
    """The CA whose key is at key_path; its certificate is the one in the bundle at
    certificate_path (one or two CAs) that certifies that key."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    for certificate in load_certificates(certificate_path.read_bytes()):
        if same_public_key(certificate.public_key(), key.public_key()):
            return CertificateAuthority(key=key, certificate=certificate)
    raise ValueError(f"{certificate_path} holds no certificate of the CA key {key_path}")


def write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def write_private(path: Path, data: bytes) -> None:
    """Create path readable by its owner only, before any secret byte is written."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def replace_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write data to path in one step: a reader (a server reloading its certificate) sees the
    old file or the new one, never half of one."""
    staged = path.with_name(path.name + ".new")
    if private:
        write_private(staged, data)
    else:
        staged.unlink(missing_ok=True)
        staged.write_bytes(data)
    os.replace(staged, path)


def load_private_key(data: bytes):
    """A PEM private key without a password; ValueError when data is none."""
    return serialization.load_pem_private_key(data, password=None)


@dataclass(frozen=True, slots=True)
class TlsCredentials:
    """What a process needs for mutual TLS."""
    ca_pem: bytes
    certificate_pem: bytes
    key_pem: bytes

    @classmethod
    def load(cls, folder: Path) -> "TlsCredentials":
        return cls(
            ca_pem=(folder / "ca.pem").read_bytes(),
            certificate_pem=(folder / "tls.crt").read_bytes(),
            key_pem=(folder / "tls.key").read_bytes(),
        )
