"""The kit against the real Python clearing passes; against a clearing that breaks the contract it fails, naming the case."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fedmall.v1 import settlement_pb2

from clearing import servicer, transfers

from conformance import cli

from tests.conformance import broken
from tests.support.federation import new_clearing_world


def start_kit_world(tmp_path, database_url: str | None = None):
    """A running clearing (SQLite unless database_url) with two test members admitted into a kit
    bundle, as `fedmall-clearing admit` writes them, and the operator's folder."""
    world = new_clearing_world(tmp_path, database_url or f"sqlite:///{tmp_path / 'clearing.db'}")
    bundle = tmp_path / "bundle"
    for bank_id in ("test-a", "test-b"):
        world.admit(bank_id, cap_minor=100_000, liquidity_minor=200_000, folder=bundle)
    shutil.copytree(world.home / "operator", bundle / "operator")
    return world, bundle


@pytest.fixture
def kit_world(tmp_path):
    world, bundle = start_kit_world(tmp_path)
    yield world, bundle
    world.close()


def run_kit(capsys, address: str, bundle) -> tuple[int, dict]:
    code = cli.main(["clearing", "--address", address, "--bundle", str(bundle), "--timeout-s", "5", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_clearing_kit__passes_against_the_python_clearing(tmp_path, database_url, capsys):
    world, bundle = start_kit_world(tmp_path, database_url)
    try:
        code, report = run_kit(capsys, world.address, bundle)
        failed = {case["name"]: case["reason"] for case in report["cases"] if not case["passed"]}
        assert failed == {} and code == 0 and report["passed"]
        assert len(report["cases"]) == 14
        # The window settled: the test members' positions are back at zero, nothing reserved.
        for bank_id in ("test-a", "test-b"):
            participant = world.participant(bank_id)
            assert (participant.position_minor, participant.reserved_minor) == (0, 0)
        assert world.clearing.windows.window(1).state == settlement_pb2.WINDOW_STATE_SETTLED
    finally:
        world.close()


def test_clearing_kit__the_console_script_prints_a_table_and_exits_zero(kit_world):
    world, bundle = kit_world
    script = Path(sys.executable).parent / "fedmall-conformance"
    done = subprocess.run([str(script), "clearing", "--address", world.address, "--bundle", str(bundle)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["case", "result", "ms", "reason"]
    assert lines[-1] == f"clearing at {world.address}: 14 of 14 cases passed"


def failures(report: dict) -> dict[str, str]:
    return {case["name"]: case["reason"] for case in report["cases"] if not case["passed"]}


def test_clearing_kit__a_clearing_that_forgets_retries_fails_idempotent_retries(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(servicer.ClearingServicer, "SubmitPrepares",
                        broken.forgetting_retries(servicer.ClearingServicer.SubmitPrepares))
    world, bundle = start_kit_world(tmp_path)  # After the patch: the servicer binds its methods at start.
    try:
        code, report = run_kit(capsys, world.address, bundle)
    finally:
        world.close()
    failed = failures(report)
    assert code == 1 and not report["passed"]
    assert set(failed) == {"idempotent retries"}
    assert "the same prepare again" in failed["idempotent retries"] and "'OK'" in failed["idempotent retries"]


def test_clearing_kit__a_clearing_that_believes_any_signature_fails_the_signature_cases(kit_world, monkeypatch, capsys):
    world, bundle = kit_world
    monkeypatch.setattr(transfers, "open_envelope", broken.parse_without_verifying)
    code, report = run_kit(capsys, world.address, bundle)
    failed = failures(report)
    assert code == 1
    assert {"bad signature", "wrong signer"} <= set(failed)
    assert "INVALID_SIGNATURE" in failed["bad signature"] and "SIGNER_NOT_PEER" in failed["wrong signer"]


def test_clearing_kit__a_bundle_without_two_banks_is_refused_plainly(tmp_path, capsys):
    (tmp_path / "bundle").mkdir()
    code = cli.main(["clearing", "--address", "127.0.0.1:1", "--bundle", str(tmp_path / "bundle")])
    assert code == 2
    assert "holds 0 bank folders" in capsys.readouterr().err
