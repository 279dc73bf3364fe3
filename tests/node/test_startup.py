"""`fedmall-node serve` with a broken home: one line naming the file and what is wrong, exit 2."""
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.startup import refused_start


def replace_line(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new))


def append(path, text: str) -> None:
    with path.open("a") as file:  # [node] is the bundle's last section.
        file.write(text)


def other_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


BREAKS = {
    "empty_config": (lambda home: (home / "fedmall.toml").write_text(""), "fedmall.toml: missing section [identity]"),
    "not_utf8": (lambda home: (home / "fedmall.toml").write_bytes(b"[identity]\nparty_id = \"\xff\"\n"),
                 "fedmall.toml: not UTF-8 text"),
    "not_toml": (lambda home: (home / "fedmall.toml").write_text("[identity\n"), "fedmall.toml: not valid TOML"),
    "missing_section": (lambda home: replace_line(home / "fedmall.toml", "[clearing]", "[elsewhere]"),
                        "unknown section [elsewhere]"),
    "missing_key": (lambda home: replace_line(home / "fedmall.toml", 'party_id = "bank-a"\n', ""),
                    "[identity].party_id is missing"),
    "misspelt_key": (lambda home: append(home / "fedmall.toml", "transfer_expiry = 5000\n"),
                     "unknown key [node].transfer_expiry"),
    "wrong_type": (lambda home: append(home / "fedmall.toml", 'transfer_expiry_ms = "soon"\n'),
                   "[node].transfer_expiry_ms must be an integer in 1000..86400000, not 'soon'"),
    "out_of_range": (lambda home: append(home / "fedmall.toml", "search_deadline_ms = 1\n"),
                     "[node].search_deadline_ms must be an integer in 50..30000, not 1"),
    "signing_key_missing": (lambda home: (home / "signing.key").unlink(), "signing.key: not found"),
    "signing_key_corrupt": (lambda home: (home / "signing.key").write_text("garbage"),
                            "signing.key: not the bank's Ed25519 signing key (PEM)"),
    "signing_key_other_kind": (lambda home: (home / "signing.key").write_bytes(other_key_pem()),
                               "not an Ed25519 private key"),
    "clearing_key_corrupt": (lambda home: (home / "clearing.pub").write_text("-----BEGIN PUBLIC KEY-----\n"),
                             "clearing.pub: not the clearing's Ed25519 public key (PEM)"),
    "tls_key_corrupt": (lambda home: (home / "tls.key").write_text("garbage"), "tls.key: not a TLS private key"),
    "tls_key_of_another_certificate": (lambda home: (home / "tls.key").write_bytes(other_key_pem()),
                                       "tls.key: not the private key of"),
    "certificate_missing": (lambda home: (home / "tls.crt").unlink(), "tls.crt: not found"),
    "ca_corrupt": (lambda home: (home / "ca.pem").write_text("x"), "ca.pem: not the consortium CA certificate"),
    "fulfilment_secret_short": (lambda home: (home / "fulfilment.secret").write_bytes(b"short"),
                                "fulfilment.secret"),
    "database_unreachable": (lambda home: replace_line(home / "fedmall.toml", 'database_url = ""',
                                                       'database_url = "postgresql+psycopg://u:pw@127.0.0.1:1/x"'),
                             "database postgresql+psycopg://u:***@127.0.0.1:1/x: cannot open it"),
    "database_not_a_database": (lambda home: (home / "node.db").write_text("not a database at all" * 100),
                                "node.db: cannot open it (file is not a database)"),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_serve__a_broken_home_is_one_line_and_exit_2(consortium, case):
    home = consortium.bundle("bank-a")
    break_home, expected = BREAKS[case]
    break_home(home)
    line = refused_start("node.cli", "serve", "--home", str(home))
    assert expected in line, line


def test_serve__a_missing_home_is_one_line_and_exit_2(tmp_path):
    line = refused_start("node.cli", "serve", "--home", str(tmp_path / "nowhere"))
    assert "fedmall.toml: not found" in line
