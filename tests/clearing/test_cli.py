"""fedmall-clearing on the command line: the operator's set-up, listings and refusals."""
from __future__ import annotations

import json
import stat

import pytest

from clearing.cli import main
from clearing.config import ClearingConfig
from clearing.registry import Registry
from clearing.store import Store


def run(capsys, home, *args) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(tmp_path, capsys):
    home = tmp_path / "clearing"
    assert run(capsys, home, "init", "--listen", "127.0.0.1:7999")[0] == 0
    return home


def admit(capsys, home, tmp_path, bank_id="bank-a", *extra):
    return run(capsys, home, "admit", bank_id, "--name", "Bank A", "--currency", "EUR", "--net-debit-cap",
               "1000.00", "--liquidity", "2000.00", "--node-address", "127.0.0.1:7101",
               "--out", str(tmp_path / bank_id), "--json", *extra)


def test_init__refuses_to_overwrite_a_clearing(capsys, home):
    code, _, err = run(capsys, home, "init")
    assert code == 2 and "already holds a clearing" in err


def test_admit__writes_a_bundle_with_private_files_for_the_owner_only(capsys, home, tmp_path):
    code, out, _ = admit(capsys, home, tmp_path)
    assert code == 0
    document = json.loads(out)
    assert (document["bank_id"], document["net_debit_cap_minor"], document["liquidity_minor"]) == ("bank-a", 100_000, 200_000)
    bundle = tmp_path / "bank-a"
    assert sorted(p.name for p in bundle.iterdir()) == [
        "ca.pem", "clearing.pub", "fedmall.toml", "signing.key", "tls.crt", "tls.key"]
    for private in ("signing.key", "tls.key"):
        assert stat.S_IMODE((bundle / private).stat().st_mode) == 0o600
    assert 'address = "127.0.0.1:7999"' in (bundle / "fedmall.toml").read_text()


@pytest.mark.parametrize("flag, value, message", [
    ("--currency", "XYZ", "unknown currency"),
    ("--net-debit-cap", "12.345", "decimal places"),
    ("--liquidity", "-5", "not an amount"),
])
def test_admit__bad_input_exits_2_and_admits_nobody(capsys, home, tmp_path, flag, value, message):
    args = {"--currency": "EUR", "--net-debit-cap": "1000.00", "--liquidity": "2000.00"}
    args[flag] = value
    flat = [x for pair in args.items() for x in pair]
    code, _, err = run(capsys, home, "admit", "bank-a", "--name", "A", *flat, "--node-address", "127.0.0.1:1",
                       "--out", str(tmp_path / "a"))
    assert code == 2 and message in err
    assert json.loads(run(capsys, home, "participants", "--json")[1]) == []


def test_admit__twice_is_refused_with_exit_1(capsys, home, tmp_path):
    admit(capsys, home, tmp_path)
    code, _, err = admit(capsys, home, tmp_path / "again")
    assert code == 1 and "EXISTS" in err


def test_admit__into_a_folder_that_is_not_empty_is_refused_and_admits_nobody(capsys, home, tmp_path):
    admit(capsys, home, tmp_path)
    before = sorted(path.name for path in (tmp_path / "bank-a").iterdir())
    code, _, err = run(capsys, home, "admit", "bank-b", "--name", "Bank B", "--currency", "EUR", "--net-debit-cap",
                       "1000.00", "--liquidity", "2000.00", "--node-address", "127.0.0.1:7102",
                       "--out", str(tmp_path / "bank-a"))
    assert code == 2 and "is not an empty folder" in err
    assert sorted(path.name for path in (tmp_path / "bank-a").iterdir()) == before   # bank-a's bundle untouched.
    assert [p["bank_id"] for p in json.loads(run(capsys, home, "participants", "--json")[1])] == ["bank-a"]


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "node.example:http", ":7101",
                                     "bad host:7101", "127.0.0.1:７１０１"])
def test_admit__a_node_address_that_is_not_host_port_is_refused(capsys, home, tmp_path, address):
    code, _, err = run(capsys, home, "admit", "bank-a", "--name", "A", "--currency", "EUR", "--net-debit-cap", "1.00",
                       "--liquidity", "1.00", "--node-address", address, "--out", str(tmp_path / "a"))
    assert code == 2 and "--node-address must be host:port" in err
    assert json.loads(run(capsys, home, "participants", "--json")[1]) == [] and not (tmp_path / "a").exists()


@pytest.mark.parametrize("address", ["node-b.bank.example:7101", "10.0.0.7:1", "[::1]:65535"])
def test_admit__host_names_and_ip_addresses_are_node_addresses(capsys, home, tmp_path, address):
    code, _, _ = run(capsys, home, "admit", "bank-a", "--name", "A", "--currency", "EUR", "--net-debit-cap", "1.00",
                     "--liquidity", "1.00", "--node-address", address, "--out", str(tmp_path / "a"))
    assert code == 0


def connect(home, bank_id: str) -> None:
    """What the bank's node does on start: its first call to the clearing makes it active."""
    store = Store.open(ClearingConfig.load(home).database_url)
    try:
        assert Registry(store, clock_ms=lambda: 0).record_connected(bank_id)
    finally:
        store.close()


def test_participants_suspend_resume_and_audit_verify(capsys, home, tmp_path):
    admit(capsys, home, tmp_path)
    code, out, _ = run(capsys, home, "participants")
    assert code == 0 and "bank-a" in out and "1000.00" in out and "onboarding" in out
    connect(home, "bank-a")
    assert run(capsys, home, "suspend", "bank-a")[0] == 0
    assert json.loads(run(capsys, home, "participants", "--json")[1])[0]["status"] == "suspended"
    assert run(capsys, home, "resume", "bank-a")[0] == 0
    code, _, err = run(capsys, home, "suspend", "bank-zz")
    assert code == 1 and "UNKNOWN_PARTICIPANT" in err
    code, out, _ = run(capsys, home, "audit-verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["entries"] == 4  # admit, its node connected, suspend, resume.


def test_settlement_commands__close_report_reconcile_settle_export(capsys, home, tmp_path):
    admit(capsys, home, tmp_path)
    connect(home, "bank-a")
    code, out, _ = run(capsys, home, "windows", "close", "--json")
    assert code == 0 and json.loads(out) == {"closed": 1, "opened": 2}
    code, _, err = run(capsys, home, "windows", "close", "--window", "1")
    assert code == 1 and "WINDOW_STATE_INVALID" in err
    code, out, _ = run(capsys, home, "report", "--window", "1", "--json")
    assert code == 0 and json.loads(out)["state"] == "PENDING_SETTLEMENT"
    code, out, _ = run(capsys, home, "reconcile", "--window", "1", "--json")   # No transfers: bank-a is idle.
    assert code == 0 and (json.loads(out)["silent"], json.loads(out)["idle"]) == ([], ["bank-a"])
    code, out, _ = run(capsys, home, "reconcile", "--window", "1")
    assert code == 0 and "idle — no answer needed" in out
    code, _, err = run(capsys, home, "settle", "--window", "2")
    assert code == 1 and "WINDOW_STATE_INVALID" in err
    code, out, _ = run(capsys, home, "settle", "--window", "1", "--json")
    assert code == 0 and json.loads(out)["override_reason"] is None
    code, out, _ = run(capsys, home, "export", "--window", "1", "--out", str(tmp_path / "x"), "--json")
    assert code == 0 and sorted(p.rsplit("/", 1)[-1] for p in json.loads(out)) == [
        "camt053-bank-a-w1.xml", "settlement-w1.csv"]
    code, out, _ = run(capsys, home, "windows", "list", "--json")
    assert [(w["window"], w["state"]) for w in json.loads(out)] == [(1, "SETTLED"), (2, "OPEN")]


def test_transfers__counts_by_state_and_abort_reason(capsys, home, tmp_path):
    admit(capsys, home, tmp_path)
    code, out, _ = run(capsys, home, "transfers", "--summary", "--json")
    assert code == 0 and json.loads(out) == {"by_state": {}, "aborted_by_reason": {}}


def test_every_subcommand_has_help_text():
    """`fedmall-clearing -h` and each group's -h say what every command does."""
    import argparse

    from clearing.cli import _parser

    def missing(parser: argparse.ArgumentParser, path: str) -> list[str]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    found += [] if helps.get(name) else [f"{path} {name}"]
                    found += missing(sub, f"{path} {name}")
        return found

    assert missing(_parser(), "fedmall-clearing") == []
