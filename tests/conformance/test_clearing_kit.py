"""The kit against the real Python clearing passes; against a clearing that breaks the contract it fails, naming the case."""
from __future__ import annotations

import json
import shutil

import pytest

from conformance import cli

from tests.support.federation import new_clearing_world


@pytest.fixture
def kit_world(tmp_path):
    """A running clearing (SQLite) with two test members admitted into a kit bundle, and the operator's folder."""
    world = new_clearing_world(tmp_path, f"sqlite:///{tmp_path / 'clearing.db'}")
    bundle = tmp_path / "bundle"
    for bank_id in ("test-a", "test-b"):
        world.admit(bank_id, cap_minor=100_000, liquidity_minor=200_000, folder=bundle)
    shutil.copytree(world.home / "operator", bundle / "operator")
    yield world, bundle
    world.close()


def run_kit(capsys, address: str, bundle) -> tuple[int, dict]:
    code = cli.main(["clearing", "--address", address, "--bundle", str(bundle), "--timeout-s", "5", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_clearing_kit__passes_against_the_python_clearing(kit_world, capsys):
    world, bundle = kit_world
    code, report = run_kit(capsys, world.address, bundle)
    failed = {case["name"]: case["reason"] for case in report["cases"] if not case["passed"]}
    assert failed == {} and code == 0 and report["passed"]
    assert len(report["cases"]) == 14
