"""The consortium PKI: a CA, X.509 identities for mTLS, Ed25519 signing keys, bundles.

A certificate names its holder in the subject: CN is the party id (a bank id,
"clearing" or "operator") and OU its role ("bank", "clearing", "operator"). The
gRPC peer identity is read from there and nowhere else.

A credentials bundle is a folder:
    ca.pem          the consortium CA certificate
    tls.crt         this party's certificate (client and server use)
    tls.key         its private key (mode 0600)
    signing.key     this party's Ed25519 signing key (mode 0600), PKCS#8 PEM
    clearing.pub    the clearing's Ed25519 public key, to verify what it signs
    fedmall.toml    ids and addresses (see the config modules of clearing and node)
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedmall.envelope import SigningKey

ROLES = ("bank", "clearing", "operator")
ORGANISATION = "Fedmall consortium"
PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Identity:
    party_id: str
    role: str


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
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Fedmall consortium CA", "ca")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key=key, certificate=certificate)


def issue_certificate(
    ca: CertificateAuthority,
    identity: Identity,
    *,
    hosts: list[str],
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> tuple[bytes, bytes]:
    """Issue a certificate for identity, valid for client and server use on hosts.

    Returns (certificate PEM, private key PEM).
    """
    assert identity.role in ROLES, identity.role
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(identity.party_id, identity.role))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def identity_of(certificate_pem: bytes) -> Identity | None:
    """The identity a consortium certificate names, or None if it names none."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    roles = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if len(common_names) != 1 or len(roles) != 1 or roles[0].value not in ROLES:
        return None
    return Identity(party_id=str(common_names[0].value), role=str(roles[0].value))


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
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return CertificateAuthority(key=key, certificate=x509.load_pem_x509_certificate(certificate_path.read_bytes()))


def write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def write_private(path: Path, data: bytes) -> None:
    """Create path readable by its owner only, before any secret byte is written."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


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
