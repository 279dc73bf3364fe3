"""Certificates as the consortium CA issued them before they named their party."""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from fedmall import pki
from fedmall.pki import Identity


def legacy_certificate(ca: pki.CertificateAuthority, identity: Identity, *, hosts: list[str], key=None) -> bytes:
    """A certificate for identity (on key, or a new one) naming the hosts only, as
    clearing.credentials issued them with 'localhost' and '127.0.0.1': no party name."""
    key = key or pki.new_tls_key()
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(pki._name(identity.party_id, identity.role))
                   .issuer_name(ca.certificate.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.SubjectAlternativeName(pki._alt_names(hosts)), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                                  critical=False)
                   .sign(ca.key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM)
