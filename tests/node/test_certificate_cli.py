"""fedmall-node csr and install-certificate: the bank's key stays in its home, and only a
certificate that fits the home is installed; every refusal changes nothing."""
from __future__ import annotations

import datetime as dt
import json
import stat

import pytest
from cryptography import x509

from fedmall import pki
from fedmall.pki import Identity

from node.cli import main
from node.certificates import expiry_warning


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sign(consortium, home, *, bank_id: str = "bank-a", ca: pki.CertificateAuthority | None = None,
         days: float = 2, key_file: str = "tls.key.next") -> bytes:
    """What the operator does with the home's key: a certificate for it (PEM)."""
    now = dt.datetime.now(dt.timezone.utc)
    key = pki.load_private_key((home / key_file).read_bytes())
    return pki.issue_for_key(ca or consortium.ca, Identity(bank_id, "bank"), key.public_key(), hosts=["127.0.0.1"],
                             not_before=now - dt.timedelta(days=10), not_after=now + dt.timedelta(days=days))


def folder_with(tmp_path, name: str, **files: bytes):
    folder = tmp_path / name
    folder.mkdir()
    for file_name, data in files.items():
        (folder / file_name.replace("_", ".")).write_bytes(data)
    return folder


def test_csr__a_new_home_gets_the_tls_key_and_a_signing_key__the_request_goes_to_stdout(capsys, tmp_path):
    home = tmp_path / "node"
    code, out, err = run(capsys, "csr", "--home", str(home), "--bank-id", "bank-a", "--node-address", "10.0.0.7:7101")
    assert code == 0 and "fedmall-clearing admit bank-a" in err
    request = pki.load_request(out.encode())
    assert pki.request_problems(request, Identity("bank-a", "bank")) == []
    for private in ("tls.key.next", "signing.key"):
        assert stat.S_IMODE((home / private).stat().st_mode) == 0o600
    assert pki.load_public_key_pem((home / "signing.pub").read_bytes())
    key = pki.load_private_key((home / "tls.key.next").read_bytes())
    assert pki.same_public_key(request.public_key(), key.public_key())

    code, out, _ = run(capsys, "csr", "--home", str(home), "--bank-id", "bank-a", "--json")  # A retry.
    document = json.loads(out)
    assert code == 0 and document["private_key_reused"] and document["signing_public_key_file"] is None
    assert pki.same_public_key(pki.load_request(document["request_pem"].encode()).public_key(), key.public_key())


def test_csr__an_admitted_home_knows_its_bank(capsys, consortium):
    home = consortium.bundle("bank-a")
    code, out, _ = run(capsys, "csr", "--home", str(home), "--json")
    assert code == 0 and json.loads(out)["bank_id"] == "bank-a"
    assert (home / "tls.key.next").exists() and not (home / "signing.pub").exists()


@pytest.mark.parametrize("args, message", [
    ([], "--bank-id is needed"),
    (["--bank-id", "bank a"], "is not a bank id"),
    (["--bank-id", "bank-a", "--node-address", "nowhere"], "--node-address must be host:port"),
])
def test_csr__bad_input_exits_2_and_makes_no_key(capsys, tmp_path, args, message):
    code, _, err = run(capsys, "csr", "--home", str(tmp_path / "node"), *args)
    assert code == 2 and message in err
    assert not (tmp_path / "node" / "tls.key.next").exists()


def test_csr__another_bank_than_the_homes_is_refused(capsys, consortium):
    home = consortium.bundle("bank-a")
    code, _, err = run(capsys, "csr", "--home", str(home), "--bank-id", "bank-b")
    assert code == 2 and "is not the bank of" in err and not (home / "tls.key.next").exists()


def test_install__a_renewal_replaces_key_and_certificate(capsys, consortium, tmp_path):
    home = consortium.bundle("bank-a")
    assert run(capsys, "csr", "--home", str(home))[0] == 0
    certificate = sign(consortium, home)
    renewal = folder_with(tmp_path, "renewal", ca_pem=pki.ca_certificate_pem(consortium.ca), tls_crt=certificate)
    code, out, err = run(capsys, "install-certificate", "--home", str(home), "--from", str(renewal), "--json")
    assert code == 0, err
    assert json.loads(out)["files"] == [str(home / name) for name in ("tls.key", "tls.crt", "ca.pem")]
    assert (home / "tls.crt").read_bytes() == certificate and not (home / "tls.key.next").exists()
    assert pki.same_public_key(pki.load_private_key((home / "tls.key").read_bytes()).public_key(),
                               x509.load_pem_x509_certificate(certificate).public_key())


@pytest.mark.parametrize("case, message", [
    ("another_bank", "names bank bank-b, not bank bank-a"),
    ("another_key", "does not certify any key here"),
    ("untrusted_ca", "was not issued by a CA in"),
    ("expired", "is not in force now"),
    ("no_ca_pem", "ca.pem: not found"),
    ("bundle_without_the_banks_ca", "does not trust the CA of this bank's own certificate"),
])
def test_install__what_does_not_fit_the_home_is_refused_and_nothing_changes(capsys, consortium, tmp_path, case,
                                                                              message):
    home = consortium.bundle("bank-a")
    assert run(capsys, "csr", "--home", str(home))[0] == 0
    before = {path.name: path.read_bytes() for path in home.iterdir()}
    ca_pem = pki.ca_certificate_pem(consortium.ca)
    other_ca = pki.create_ca(now=dt.datetime.now(dt.timezone.utc), validity_days=2)
    files = {
        "another_bank": lambda: dict(ca_pem=ca_pem, tls_crt=sign(consortium, home, bank_id="bank-b")),
        "another_key": lambda: dict(ca_pem=ca_pem, tls_crt=consortium.credentials("bank-a").certificate_pem),
        "untrusted_ca": lambda: dict(ca_pem=ca_pem, tls_crt=sign(consortium, home, ca=other_ca)),
        "expired": lambda: dict(ca_pem=ca_pem, tls_crt=sign(consortium, home, days=-1)),
        "no_ca_pem": lambda: dict(tls_crt=sign(consortium, home)),
        "bundle_without_the_banks_ca": lambda: dict(ca_pem=pki.ca_certificate_pem(other_ca)),
    }[case]()
    code, _, err = run(capsys, "install-certificate", "--home", str(home), "--from",
                       str(folder_with(tmp_path, "sent", **files)))
    assert code == 2 and "nothing installed" in err and message in err
    assert {path.name: path.read_bytes() for path in home.iterdir()} == before


def test_install__a_trust_bundle_alone_replaces_ca_pem(capsys, consortium, tmp_path):
    home = consortium.bundle("bank-a")
    other_ca = pki.create_ca(now=dt.datetime.now(dt.timezone.utc), validity_days=2)
    both = pki.ca_certificate_pem(other_ca) + pki.ca_certificate_pem(consortium.ca)
    code, out, _ = run(capsys, "install-certificate", "--home", str(home), "--from",
                       str(folder_with(tmp_path, "trust", ca_pem=both)))
    assert code == 0 and "only the trust bundle" in out
    assert (home / "ca.pem").read_bytes() == both


def test_expiry_warning__from_thirty_days_before():
    now = dt.datetime.now(dt.timezone.utc)
    ca = pki.create_ca(now=now, validity_days=100)

    def certificate(days: int) -> bytes:
        return pki.issue_certificate(ca, Identity("bank-a", "bank"), hosts=["localhost"], not_before=now,
                                     not_after=now + dt.timedelta(days=days, hours=1))[0]

    assert expiry_warning(certificate(30), now=now) is None  # 30 days and an hour.
    assert "expires in 29 days" in expiry_warning(certificate(29), now=now)
    assert "has expired" in expiry_warning(certificate(29), now=now + dt.timedelta(days=31))


def test_csr__a_request_file_that_cannot_be_written_exits_2__a_retry_reuses_the_key(capsys, tmp_path):
    home = tmp_path / "node"
    code, _, err = run(capsys, "csr", "--home", str(home), "--bank-id", "bank-a", "--out",
                       str(tmp_path / "missing" / "bank-a.csr"))
    assert code == 2 and "cannot write it" in err
    code, out, _ = run(capsys, "csr", "--home", str(home), "--bank-id", "bank-a", "--json")
    assert code == 0 and json.loads(out)["private_key_reused"]
