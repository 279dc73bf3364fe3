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


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx not installed: buf lint runs in scripts/lint")
def test_buf_lint_is_clean():
    result = subprocess.run(["npx", "-y", "@bufbuild/buf@1.75.0", "lint"], cwd=ROOT / "proto",
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
