"""`fedmall-clearing serve` with a broken home: one line naming the file and what is wrong, exit 2."""
import datetime as dt

import pytest

from clearing import credentials
from tests.support.startup import refused_start


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "clearing"
    credentials.init_home(home, listen_address="127.0.0.1:0", database_url="",
                          now=dt.datetime.now(dt.timezone.utc), validity_days=2)
    return home


def set_key(home, key: str, value: str) -> None:
    """Replace `key = ...` in the [clearing] section (init writes every key once)."""
    path = home / "fedmall.toml"
    lines = [f"{key} = {value}" if line.startswith(f"{key} =") else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


BREAKS = {
    "window_interval_negative": (lambda home: set_key(home, "window_close_interval_s", "-1"),
                                 "[clearing].window_close_interval_s must be an integer in 0..604800, not -1"),
    "sweep_not_a_number": (lambda home: set_key(home, "expiry_sweep_ms", '"fast"'),
                           "[clearing].expiry_sweep_ms must be an integer in 10..60000, not 'fast'"),
    "misspelt_key": (lambda home: set_key(home, "expiry_sweep_ms", '200\nwindow_close_interval = 5'),
                     "unknown key [clearing].window_close_interval"),
    "empty_config": (lambda home: (home / "fedmall.toml").write_text(""), "fedmall.toml: missing section [identity]"),
    "not_utf8": (lambda home: (home / "fedmall.toml").write_bytes(b"\xfe\xff"), "fedmall.toml: not UTF-8 text"),
    "signing_key_corrupt": (lambda home: (home / "signing.key").write_text("x"),
                            "signing.key: not the clearing's Ed25519 signing key (PEM)"),
    "signing_key_missing": (lambda home: (home / "signing.key").unlink(), "signing.key: not found"),
    "tls_key_corrupt": (lambda home: (home / "tls.key").write_text("x"), "tls.key: not a TLS private key"),
    "database_unreachable": (lambda home: set_key(home, "database_url", '"postgresql+psycopg://op:pw@127.0.0.1:1/c"'),
                             "database postgresql+psycopg://op:***@127.0.0.1:1/c: cannot open it"),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_serve__a_broken_home_is_one_line_and_exit_2(home, case):
    break_home, expected = BREAKS[case]
    break_home(home)
    line = refused_start("clearing.cli", "--home", str(home), "serve")
    assert expected in line, line


def test_serve__a_home_that_is_not_initialised_is_one_line_and_exit_2(tmp_path):
    line = refused_start("clearing.cli", "--home", str(tmp_path), "serve")
    assert "run 'fedmall-clearing init" in line
