"""The consortium PKI: signing requests a bank makes and the operator checks, certificates on
a bank's own key, and two CAs trusted side by side."""
from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from fedmall import pki
from fedmall.pki import Identity

from tests.support.certificates import legacy_certificate

NOW = dt.datetime.now(dt.timezone.utc)
BANK_A = Identity("bank-a", "bank")


@pytest.fixture(scope="module")
def ca() -> pki.CertificateAuthority:
    return pki.create_ca(now=NOW, validity_days=2)


def request_problems(pem: bytes, identity: Identity = BANK_A) -> list[str]:
    return pki.request_problems(pki.load_request(pem), identity)


def test_request__the_banks_own_passes_the_operators_checks():
    assert request_problems(pki.make_request(pki.new_tls_key(), BANK_A, hosts=["node-a.example"])) == []


@pytest.mark.parametrize("named, message", [
    (Identity("bank-b", "bank"), "it names bank 'bank-b', not bank 'bank-a'"),
    (Identity("bank-a", "operator"), "it names operator 'bank-a', not bank 'bank-a'"),
])
def test_request__naming_another_party_is_refused(named, message):
    problems = request_problems(pki.make_request(pki.new_tls_key(), named, hosts=[]))
    assert len(problems) == 1 and message in problems[0]


def test_request__a_subject_outside_the_consortiums_encoding_is_refused():
    key = pki.new_tls_key()
    pem = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "bank-a")])).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM)
    assert request_problems(pem) == ["it names 'CN=bank-a', not bank 'bank-a' "
                                     "(expected subject 'CN=bank-a,OU=bank,O=Fedmall consortium')"]


def test_request__a_broken_signature_is_refused():
    der = bytearray(x509.load_pem_x509_csr(pki.make_request(pki.new_tls_key(), BANK_A, hosts=[])).public_bytes(
        serialization.Encoding.DER))
    der[-3] ^= 0x01  # Inside the signature, the last field.
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    assert request_problems(tampered) == ["its signature is not valid: it was not signed by the key it carries"]


@pytest.mark.parametrize("make_key, message", [
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "an RSA key of 1024 bits"),
    (lambda: ec.generate_private_key(ec.SECP256K1()), "an EC key on secp256k1"),
    (ed25519.Ed25519PrivateKey.generate, "Ed25519PublicKey key"),
])
def test_request__a_key_of_a_refused_kind_is_refused(make_key, message):
    key = make_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(pki._name("bank-a", "bank"))
    pem = builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM)
    problems = request_problems(pem)
    assert len(problems) == 1 and message in problems[0]


def test_request__rsa_of_2048_bits_is_accepted():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert request_problems(pki.make_request(key, BANK_A, hosts=[])) == []


def test_load_request__what_is_not_a_request_is_refused():
    with pytest.raises(ValueError, match="not a PEM certificate signing request"):
        pki.load_request(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")


def test_issue_for_key__certifies_the_requesters_key_for_its_party_name_and_the_hosts_the_operator_names(ca):
    key = pki.new_tls_key()
    request = pki.load_request(pki.make_request(key, BANK_A, hosts=["evil.example"]))
    pem = pki.issue_for_key(ca, BANK_A, request.public_key(), hosts=["127.0.0.1", "node-a.example"],
                            not_before=NOW, not_after=NOW + dt.timedelta(days=1))
    certificate = x509.load_pem_x509_certificate(pem)
    assert pki.same_public_key(certificate.public_key(), key.public_key())
    assert pki.identity_of(pem) == BANK_A and pki.issued_by(certificate, ca.certificate)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["bank-a.bank.fedmall", "node-a.example"]  # Not evil.example.
    assert pki.names_party(pem, BANK_A) and not pki.names_party(pem, Identity("bank-b", "bank"))
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_create_ca__two_cas_have_distinct_names_and_key_identifiers(ca):
    other = pki.create_ca(now=NOW, validity_days=2)
    assert ca.certificate.subject != other.certificate.subject
    pem, _ = pki.issue_certificate(other, BANK_A, hosts=["localhost"], not_before=NOW,
                                   not_after=NOW + dt.timedelta(days=1))
    certificate = x509.load_pem_x509_certificate(pem)
    authority = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    subject_key = other.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert authority.key_identifier == subject_key.digest
    assert pki.issued_by(certificate, other.certificate) and not pki.issued_by(certificate, ca.certificate)


def test_load_ca__picks_the_certificate_of_its_key_from_a_bundle_of_two(tmp_path, ca):
    other = pki.create_ca(now=NOW, validity_days=2)
    pki.write_private(tmp_path / "ca.key", pki.ca_key_pem(other))
    (tmp_path / "ca.pem").write_bytes(pki.ca_certificate_pem(ca) + pki.ca_certificate_pem(other))
    assert pki.fingerprint(pki.load_ca(tmp_path / "ca.key", tmp_path / "ca.pem").certificate) == pki.fingerprint(
        other.certificate)
    (tmp_path / "ca.pem").write_bytes(pki.ca_certificate_pem(ca))
    with pytest.raises(ValueError, match="holds no certificate of the CA key"):
        pki.load_ca(tmp_path / "ca.key", tmp_path / "ca.pem")


# Party names ------------------------------------------------------------------------------

def test_party_name__the_bank_the_clearing_and_the_operator():
    assert pki.party_name(BANK_A) == "bank-a.bank.fedmall"
    assert pki.party_name(pki.CLEARING) == "clearing.fedmall"
    assert pki.party_name(pki.OPERATOR) == "operator.fedmall"
    assert pki.party_name(Identity("clearing", "bank")) == "clearing.bank.fedmall"  # Not the clearing's.


@pytest.mark.parametrize("party_id", ["Bank-A", "BANK-A", "bank_a", "bank.a", "bank--a", "x--mjqw423ufvqq",
                                      "-bank", "b" * 34, "B" * 34])
def test_party_name__an_id_that_is_not_a_plain_lowercase_label_is_spelled_so_no_other_id_shares_its_name(party_id):
    name = pki.party_name(Identity(party_id, "bank"))
    label, suffix = name.split(".", 1)
    assert suffix == "bank.fedmall" and len(label) <= 63
    assert all(c.islower() or c.isdigit() or c == "-" for c in label)
    others = ["bank-a", "Bank-A", "BANK-A", "bank_a", "bank.a", "bank--a", "x--mjqw423ufvqq", "-bank", "bank",
              "b" * 34, "B" * 34]
    # DNS names ignore case: no two ids may give names equal when lowercased.
    assert [other for other in others if pki.party_name(Identity(other, "bank")).lower() == name.lower()] == [party_id]


def test_is_party_name__the_consortium_names_in_any_case_and_with_a_final_dot():
    assert [pki.is_party_name(host) for host in ("bank-b.bank.fedmall", "CLEARING.FEDMALL.", "fedmall", "*.fedmall",
                                                 "fedmall.example", "node-b.example", "127.0.0.1")] == [
        True, True, True, True, False, False, False]


def test_issue_for_key__a_host_under_the_party_names_is_our_bug(ca):
    with pytest.raises(AssertionError):
        pki.issue_certificate(ca, BANK_A, hosts=["bank-b.bank.fedmall"], not_before=NOW,
                              not_after=NOW + dt.timedelta(days=1))


def test_party_name_problem__a_certificate_from_before_party_names_is_told_to_renew(ca):
    pem = legacy_certificate(ca, BANK_A, hosts=["localhost", "127.0.0.1"])
    assert not pki.names_party(pem, BANK_A)
    problem = pki.party_name_problem(pem, BANK_A)
    assert "does not name bank-a.bank.fedmall" in problem and "renew it" in problem
    fresh, _ = pki.issue_certificate(ca, BANK_A, hosts=[], not_before=NOW, not_after=NOW + dt.timedelta(days=1))
    assert pki.party_name_problem(fresh, BANK_A) is None

