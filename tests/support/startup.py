"""Running a real command that must refuse to start: exit 2, one line on stderr besides the
server's own log lines, no traceback."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def refused_start(module: str, *args: str, timeout_s: float = 60) -> str:
    """Run `python -m module args`; assert it refused with exit 2 and one line; return that line."""
    finished = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                              timeout=timeout_s, cwd=REPOSITORY)
    lines = [line for line in finished.stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert finished.returncode == 2, (finished.returncode, finished.stdout, finished.stderr)
    assert "Traceback" not in finished.stderr and len(lines) == 1, finished.stderr
    return lines[0]
