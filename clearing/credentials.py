"""The operator's PKI chores: create the consortium CA and the clearing's home, and
issue each admitted bank its credentials bundle (see fedmall.pki for the layout)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from fedmall import pki
from fedmall.pki import Identity

from clearing.config import CONFIG_FILE, ClearingConfig, toml_document

CLEARING_KEY_ID = "clearing/k1"
CA_VALIDITY_DAYS = 3650


def _hosts(address: str) -> list[str]:
    host = address.rsplit(":", 1)[0].strip("[]")
    return sorted({host, "localhost", "127.0.0.1"})


def init_home(home: Path, *, listen_address: str, database_url: str, now: dt.datetime, validity_days: int) -> None:
    """Create the CA, the clearing's TLS and signing keys, and the operator's bundle."""
    if (home / CONFIG_FILE).exists():
        raise FileExistsError(f"{home} already holds a clearing")
    home.mkdir(parents=True, exist_ok=True)
    ca = pki.create_ca(now=now, validity_days=CA_VALIDITY_DAYS)
    pki.write_private(home / "ca.key", pki.ca_key_pem(ca))
    ca_pem = pki.ca_certificate_pem(ca)
    _write_tls(home, ca, ca_pem, Identity("clearing", "clearing"), hosts=_hosts(listen_address),
               now=now, validity_days=validity_days)
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
    _write_tls(operator, ca, ca_pem, Identity("operator", "operator"), hosts=["localhost"], now=now,
               validity_days=validity_days)
    (operator / CONFIG_FILE).write_text(toml_document({
        "identity": {"party_id": "operator", "role": "operator"},
        "clearing": {"address": listen_address},
    }))


def _write_tls(folder: Path, ca: pki.CertificateAuthority, ca_pem: bytes, identity: Identity, *,
               hosts: list[str], now: dt.datetime, validity_days: int) -> None:
    certificate_pem, key_pem = pki.issue_certificate(
        ca, identity, hosts=hosts, not_before=now - dt.timedelta(minutes=5),
        not_after=now + dt.timedelta(days=validity_days))
    pki.write_public(folder / "ca.pem", ca_pem)
    pki.write_public(folder / "tls.crt", certificate_pem)
    pki.write_private(folder / "tls.key", key_pem)


def write_bank_bundle(
    config: ClearingConfig, out: Path, *, bank_id: str, node_address: str, signing_key_id: str,
    signing_key: pki.SigningKey | None,
    now: dt.datetime, validity_days: int, clearing_address: str,
) -> None:
    """Issue bank_id's certificate and write its bundle to out.

    With signing_key None the bank keeps a key it made itself (only its public key was
    registered) and must put signing.key into the bundle folder on its own.
    """
    out.mkdir(parents=True, exist_ok=True)
    ca = pki.load_ca(config.home / "ca.key", config.home / "ca.pem")
    _write_tls(out, ca, (config.home / "ca.pem").read_bytes(), Identity(bank_id, "bank"),
               hosts=_hosts(node_address), now=now, validity_days=validity_days)
    if signing_key is not None:
        pki.write_private(out / "signing.key", pki.signing_key_pem(signing_key))
    pki.write_public(out / "clearing.pub", (config.home / "clearing.pub").read_bytes())
    (out / CONFIG_FILE).write_text(toml_document({
        "identity": {"party_id": bank_id, "role": "bank", "signing_key_id": signing_key_id},
        "clearing": {"address": clearing_address, "signing_key_id": config.signing_key_id},
        "node": {"listen_address": node_address, "database_url": ""},
    }))
