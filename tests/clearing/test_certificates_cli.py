"""fedmall-clearing certificates and admit --csr on a real home, on SQLite and PostgreSQL:
admission from a bank's signing request, the registry, renewal, revocation, expiry warnings,
the CA rotation's refusals, and every refusal changing nothing."""
from __future__ import annotations

import datetime as dt
import json
import logging
import stat

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fedmall import pki
from fedmall.config_file import load_tls
from fedmall.database import make_engine

from clearing import credentials
from clearing.cli import main
from clearing.config import ClearingConfig
from clearing.server import Clearing
from clearing.store import audit_log
from node import cli as node_cli
from node.config import load_config
from tests.support.federation import wait_until


def run(capsys, home, *args) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_node(capsys, *args) -> tuple[int, str, str]:
    code = node_cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(tmp_path, capsys, database_url):
    home = tmp_path / "clearing"
    assert run(capsys, home, "init", "--listen", "127.0.0.1:7999", "--database-url", database_url)[0] == 0
    return home


def listed(capsys, home) -> list[dict]:
    code, out, _ = run(capsys, home, "certificates", "list", "--json")
    assert code == 0
    return json.loads(out)["certificates"]


def audit_kinds(home) -> list[str]:
    engine = make_engine(ClearingConfig.load(home).database_url)
    with engine.connect() as connection:
        kinds = connection.scalars(sa.select(audit_log.c.kind).order_by(audit_log.c.sequence)).all()
    engine.dispose()
    return kinds


def admit(capsys, home, bank_id: str, out, *extra) -> tuple[int, str, str]:
    return run(capsys, home, "admit", bank_id, "--name", f"Bank {bank_id}", "--currency", "EUR", "--net-debit-cap",
               "1000.00", "--liquidity", "2000.00", "--node-address", "node-a.bank.example:7101", "--out", str(out),
               "--json", *extra)


def bank_request(capsys, tmp_path, bank_id: str = "bank-a", *, named: str | None = None):
    """fedmall-node csr in a new home for bank_id: (the home, the request file)."""
    node_home = tmp_path / f"node-{bank_id}"
    request = tmp_path / f"{bank_id}.csr"
    code, out, err = run_node(capsys, "csr", "--home", str(node_home), "--bank-id", named or bank_id,
                              "--node-address", "evil.example:443", "--out", str(request), "--json")
    assert code == 0, err
    return node_home, request


def test_init__records_the_clearings_and_the_operators_certificates(capsys, home):
    code, out, _ = run(capsys, home, "certificates")  # list is the default.
    assert code == 0 and "clearing" in out and "operator" in out and "(issuing)" in out
    rows = listed(capsys, home)
    assert sorted((row["role"], row["party_id"], row["status"], row["ca"]) for row in rows) == [
        ("clearing", "clearing", "active", "current"), ("operator", "operator", "active", "current")]
    own = x509.load_pem_x509_certificate((home / "tls.crt").read_bytes())
    assert pki.serial_text(own) in {row["serial"] for row in rows}


def test_admit_from_a_signing_request__the_bundle_holds_no_private_key_and_the_bank_installs_it(capsys, home,
                                                                                                 tmp_path):
    node_home, request = bank_request(capsys, tmp_path)
    assert stat.S_IMODE((node_home / "tls.key.next").stat().st_mode) == 0o600
    bundle = tmp_path / "bundle"
    code, out, err = admit(capsys, home, "bank-a", bundle, "--csr", str(request),
                           "--signing-public-key", str(node_home / "signing.pub"))
    assert code == 0, err
    assert json.loads(out)["private_keys_in_bundle"] is False
    assert sorted(path.name for path in bundle.iterdir()) == ["ca.pem", "clearing.pub", "fedmall.toml", "tls.crt"]

    certificate = x509.load_pem_x509_certificate((bundle / "tls.crt").read_bytes())
    key = pki.load_private_key((node_home / "tls.key.next").read_bytes())
    assert pki.same_public_key(certificate.public_key(), key.public_key())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "node-a.bank.example" in names.get_values_for_type(x509.DNSName)  # The operator's, not the request's.
    assert "evil.example" not in names.get_values_for_type(x509.DNSName)
    assert [row["party_id"] for row in listed(capsys, home) if row["role"] == "bank"] == ["bank-a"]

    code, out, err = run_node(capsys, "install-certificate", "--home", str(node_home), "--from", str(bundle), "--json")
    assert code == 0, err
    assert json.loads(out)["serial"] == pki.serial_text(certificate)
    assert not (node_home / "tls.key.next").exists()
    assert stat.S_IMODE((node_home / "tls.key").stat().st_mode) == 0o600
    assert load_tls(node_home).certificate_pem == (bundle / "tls.crt").read_bytes()
    config = load_config(node_home)  # The bank's own signing key matches the one registered.
    assert (config.bank_id, config.signing_key().key_id) == ("bank-a", "bank-a/k1")


@pytest.mark.parametrize("case, message", [
    ("names_another_bank", "it names bank 'bank-b', not bank 'bank-a'"),
    ("bad_signature", "its signature is not valid"),
    ("not_a_request", "not a PEM certificate signing request"),
    ("no_signing_public_key", "--csr needs --signing-public-key"),
])
def test_admit_from_a_signing_request__refusals_admit_nobody_and_write_nothing(capsys, home, tmp_path, case,
                                                                                 message):
    node_home, request = bank_request(capsys, tmp_path, named="bank-b" if case == "names_another_bank" else None)
    if case == "bad_signature":
        der = bytearray(x509.load_pem_x509_csr(request.read_bytes()).public_bytes(serialization.Encoding.DER))
        der[-3] ^= 0x01
        request.write_bytes(x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM))
    if case == "not_a_request":
        request.write_text("garbage")
    extra = [] if case == "no_signing_public_key" else ["--signing-public-key", str(node_home / "signing.pub")]
    code, _, err = admit(capsys, home, "bank-a", tmp_path / "bundle", "--csr", str(request), *extra)
    assert code == 2 and message in err
    assert json.loads(run(capsys, home, "participants", "--json")[1]) == []
    assert not (tmp_path / "bundle").exists() and len(listed(capsys, home)) == 2


def test_renew_bank__on_a_signing_request_or_a_key_made_here__both_certificates_stay_valid(capsys, home, tmp_path):
    assert admit(capsys, home, "bank-a", tmp_path / "bank-a")[0] == 0
    first = x509.load_pem_x509_certificate((tmp_path / "bank-a" / "tls.crt").read_bytes())

    code, out, _ = run(capsys, home, "certificates", "renew", "bank", "bank-a", "--out", str(tmp_path / "r1"), "--json")
    assert code == 0
    renewed = json.loads(out)
    assert renewed["previous_serial"] == pki.serial_text(first) and renewed["private_key_made_here"]
    assert sorted(path.name for path in (tmp_path / "r1").iterdir()) == ["ca.pem", "tls.crt", "tls.key"]

    node_home, request = bank_request(capsys, tmp_path)
    code, out, err = run(capsys, home, "certificates", "renew", "bank", "bank-a", "--csr", str(request))
    assert code == 0 and "stays valid until" in err
    printed = x509.load_pem_x509_certificate(out.encode())
    assert pki.same_public_key(printed.public_key(),
                               pki.load_private_key((node_home / "tls.key.next").read_bytes()).public_key())

    rows = [row for row in listed(capsys, home) if row["party_id"] == "bank-a"]
    assert len(rows) == 3 and {row["status"] for row in rows} == {"active"}
    assert pki.serial_text(printed) in {row["serial"] for row in rows}


@pytest.mark.parametrize("args, code, message", [
    (["bank", "bank-zz", "--out", "{tmp}/x"], 1, "no participant 'bank-zz'"),
    (["bank", "bank-a"], 2, "renew bank needs --csr FILE"),
    (["bank", "bank-a", "--csr", "{tmp}/bank-b.csr"], 2, "it names bank 'bank-b', not bank 'bank-a'"),
    (["bank", "bank-a", "--out", "{tmp}/bank-a"], 2, "is not an empty folder"),
    (["clearing", "--validity-days", "0"], 2, "--validity-days must be in 1..825"),
    (["operator", "--validity-days", "5000"], 2, "--validity-days must be in 1..825"),
])
def test_renew__refusals_change_nothing(capsys, home, tmp_path, args, code, message):
    assert admit(capsys, home, "bank-a", tmp_path / "bank-a")[0] == 0
    bank_request(capsys, tmp_path, "bank-b")
    before = listed(capsys, home)
    result, _, err = run(capsys, home, "certificates", "renew", *[arg.format(tmp=tmp_path) for arg in args])
    assert (result, message in err) == (code, True), err
    assert listed(capsys, home) == before and not (tmp_path / "x").exists()


def test_renew_bank__an_unknown_party_kind_is_a_usage_error(capsys, home):
    with pytest.raises(SystemExit) as exit_:
        run(capsys, home, "certificates", "renew", "merchant", "m-1")
    assert exit_.value.code == 2


def test_renew_clearing_and_operator__new_files_in_the_home_with_the_same_hosts(capsys, home):
    before = {folder: (home / folder / "tls.crt").read_bytes() for folder in ("", "operator")}
    hosts = credentials.hosts_of(before[""])
    for party, folder in (("clearing", ""), ("operator", "operator")):
        code, out, _ = run(capsys, home, "certificates", "renew", party, "--json")
        assert code == 0
        assert json.loads(out)["files"] == [str(home / folder / name) for name in ("ca.pem", "tls.crt", "tls.key")]
        assert (home / folder / "tls.crt").read_bytes() != before[folder]
        load_tls(home / folder)  # The new key belongs to the new certificate.
    assert sorted(credentials.hosts_of((home / "tls.crt").read_bytes())) == sorted(hosts)
    assert len(listed(capsys, home)) == 4


def test_revoke__records_who_and_why_once__and_refuses_unknown_serials(capsys, home, tmp_path):
    assert admit(capsys, home, "bank-a", tmp_path / "bank-a")[0] == 0
    serial = pki.serial_text(x509.load_pem_x509_certificate((tmp_path / "bank-a" / "tls.crt").read_bytes()))
    code, _, err = run(capsys, home, "certificates", "revoke", "ab" * 8, "--reason", "x")
    assert code == 1 and "no certificate with serial" in err
    code, _, err = run(capsys, home, "certificates", "revoke", "not-hex", "--reason", "x")
    assert code == 2 and "is not a certificate serial" in err
    with pytest.raises(SystemExit):
        run(capsys, home, "certificates", "revoke", serial)  # --reason is required.
    assert audit_kinds(home) == ["admit"]

    code, out, _ = run(capsys, home, "certificates", "revoke", serial.upper(), "--reason", "key leaked",
                       "--operator", "alice", "--json")
    document = json.loads(out)
    assert code == 0 and (document["changed"], document["revoked_by"], document["reason"]) == (True, "alice",
                                                                                               "key leaked")
    assert document["other_valid_serials"] == []
    code, out, _ = run(capsys, home, "certificates", "revoke", serial, "--reason", "again", "--operator", "bob")
    assert code == 0 and "revoked already" in out and "alice: key leaked" in out
    assert audit_kinds(home) == ["admit", "certificate.revoke"]
    row = [row for row in listed(capsys, home) if row["serial"] == serial][0]
    assert (row["status"], row["revoked_by"], row["revoked_reason"]) == ("revoked", "alice", "key leaked")
    code, out, _ = run(capsys, home, "audit-verify", "--json")
    assert code == 0 and json.loads(out)["ok"]


def test_expiry__flagged_in_the_list_the_participants_view_and_the_clearings_log(capsys, home, tmp_path, caplog,
                                                                                 monkeypatch):
    assert admit(capsys, home, "bank-a", tmp_path / "bank-a")[0] == 0
    first = pki.serial_text(x509.load_pem_x509_certificate((tmp_path / "bank-a" / "tls.crt").read_bytes()))
    code, out, _ = run(capsys, home, "certificates", "renew", "bank", "bank-a", "--out", str(tmp_path / "short"),
                       "--validity-days", "10", "--json")
    short = json.loads(out)["serial"]
    code, out, err = run(capsys, home, "participants")
    assert code == 0 and "RENEW" not in out and err == ""  # The first certificate still has a year.

    assert run(capsys, home, "certificates", "revoke", first, "--reason", "test")[0] == 0
    rows = {row["serial"]: row for row in listed(capsys, home)}
    assert rows[short]["expires_soon"] and rows[short]["days_left"] == 9
    assert "EXPIRES SOON" in run(capsys, home, "certificates", "list")[1]
    code, out, err = run(capsys, home, "participants", "--json")
    assert json.loads(out)[0]["certificate_serial"] == short and json.loads(out)[0]["certificate_expires_soon"]
    assert f"the bank certificate of bank-a (serial {short}) expires in 9 days" in err
    assert "renew it: fedmall-clearing certificates renew bank bank-a" in err
    assert "9 days RENEW" in run(capsys, home, "participants")[1]

    monkeypatch.setenv("FEDMALL_CLEARING_LISTEN_ADDRESS", "127.0.0.1:0")
    with caplog.at_level(logging.WARNING, logger="fedmall.clearing"):
        clearing = Clearing(ClearingConfig.load(home), certificate_check_interval_s=0.05)
        clearing.start()
        try:
            def warnings() -> int:
                return sum("bank certificate of bank-a" in record.getMessage() for record in caplog.records)
            wait_until(lambda: warnings() >= 1, timeout_s=5)  # At start,
            wait_until(lambda: warnings() >= 3, timeout_s=5)  # and again while serving.
        finally:
            clearing.stop()


def test_ca_rotation__refused_out_of_order_and_walked_in_order(capsys, home, tmp_path):
    assert admit(capsys, home, "bank-a", tmp_path / "bank-a")[0] == 0
    code, _, err = run(capsys, home, "certificates", "retire-old-ca", "--reason", "r")
    assert code == 1 and "no previous CA to retire" in err

    code, out, _ = run(capsys, home, "certificates", "rotate-ca", "--reason", "yearly", "--json")
    assert code == 0
    assert len(pki.load_certificates((home / "ca.pem").read_bytes())) == 2
    assert (home / "operator" / "ca.pem").read_bytes() == (home / "ca.pem").read_bytes()
    code, _, err = run(capsys, home, "certificates", "rotate-ca", "--reason", "again")
    assert code == 1 and "a rotation is under way" in err

    code, _, err = run(capsys, home, "certificates", "retire-old-ca", "--reason", "r")
    assert code == 1 and "bank bank-a, clearing clearing, operator operator" in err
    for party in (["bank", "bank-a", "--out", str(tmp_path / "a2")], ["clearing"], ["operator"]):
        assert run(capsys, home, "certificates", "renew", *party)[0] == 0
    assert {row["ca"] for row in listed(capsys, home)} == {"current", "previous"}

    code, out, _ = run(capsys, home, "certificates", "retire-old-ca", "--reason", "renewed", "--json")
    assert code == 0 and json.loads(out)["certificates_retired"] == 3
    assert len(pki.load_certificates((home / "ca.pem").read_bytes())) == 1
    assert not (home / "ca.key.previous").exists()
    statuses = {(row["ca"], row["status"]) for row in listed(capsys, home)}
    assert statuses == {("current", "active"), ("dropped", "ca_retired")}
    assert audit_kinds(home) == ["admit", "ca.rotate", "ca.retire"]


def test_issue__refused_when_the_ca_ends_before_the_certificate_would(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    ca = pki.create_ca(now=now, validity_days=5)
    with pytest.raises(credentials.CertificateRefused, match="rotate the CA first"):
        credentials._issue(ca, pki.Identity("bank-a", "bank"), hosts=["localhost"], now=now, validity_days=10)
    assert credentials._issue(ca, pki.Identity("bank-a", "bank"), hosts=["localhost"], now=now, validity_days=4)
