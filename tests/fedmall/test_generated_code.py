"""Generated code is committed and fresh; the .proto files are buf-lint clean."""
from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "proto" / "fedmall" / "v1"


def test_generated_code_matches_a_fresh_generation(tmp_path):
    subprocess.run([str(ROOT / "scripts" / "gen-proto"), str(tmp_path)], check=True,
                   env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    fresh = sorted(p.name for p in (tmp_path / "fedmall" / "v1").iterdir())
    committed = sorted(p.name for p in GENERATED.iterdir() if "_pb2" in p.name)
    assert fresh == committed
    stale = [name for name in fresh if not filecmp.cmp(tmp_path / "fedmall" / "v1" / name, GENERATED / name, shallow=False)]
    assert stale == [], f"regenerate with scripts/gen-proto: {stale}"


def last_release() -> str:
    """The release scripts/lint checks the contract against (proto/releases/)."""
    return next(line.split("=", 1)[1] for line in (ROOT / "scripts" / "lint").read_text().splitlines()
                if line.startswith("RELEASE_BASELINE="))


NO_NPX = pytest.mark.skipif(shutil.which("npx") is None,
                            reason="npx not installed: scripts/lint runs buf lint and buf breaking")


@NO_NPX
def test_scripts_lint__the_contract_is_buf_lint_clean_and_compatible_with_the_last_release():
    result = subprocess.run([str(ROOT / "scripts" / "lint")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@NO_NPX
def test_buf_breaking__a_renumbered_field_is_caught_against_the_release(tmp_path):
    """The check can fail: the contract with one field renumbered breaks against the release."""
    shutil.copytree(ROOT / "proto", tmp_path / "proto",
                    ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__", "releases"))
    proto = tmp_path / "proto" / "fedmall" / "v1" / "transfer.proto"
    original = proto.read_text()
    proto.write_text(original.replace("  string reference = 8;", "  string reference = 99;", 1))
    assert proto.read_text() != original
    release = last_release()
    baseline = ROOT / "proto" / "releases" / f"{release}.binpb"
    result = subprocess.run(["npx", "-y", "@bufbuild/buf@1.75.0", "breaking", ".", "--against", str(baseline)],
                            cwd=tmp_path / "proto", capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and '"reference"' in result.stdout, result.stdout + result.stderr


def test_release__the_baseline_scripts_lint_names_exists():
    release = last_release()
    assert (ROOT / "proto" / "releases" / f"{release}.binpb").stat().st_size > 0
