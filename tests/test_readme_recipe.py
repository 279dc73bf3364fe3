"""The README's "Running a federation by hand" stays true: its code block runs as written, in
an empty folder with the commands on the PATH (as `. .venv/bin/activate` puts them), real
processes and all. Only its port numbers are swapped for free ones, so that the test cannot
collide with anything else on the machine."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.federation import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
RECIPE_PORTS = ("7000", "7101", "7102")
STOP_WAIT_S = 20


def recipe_block() -> str:
    """The first indented block after the heading, as the shell will read it."""
    section = README.read_text().split("## Running a federation by hand\n", 1)[1]
    lines, started = [], False
    for line in section.splitlines():
        if line.startswith("    "):
            started = True
            lines.append(line[4:])
        elif started and line.strip():
            break
    return "\n".join(lines) + "\n"


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM whatever the recipe left running in its process group, then wait for it to go."""
    deadline = time.monotonic() + STOP_WAIT_S
    for number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            return
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        deadline = time.monotonic() + STOP_WAIT_S


def test_readme_recipe__runs_as_written_and_bob_is_paid(tmp_path):
    script = recipe_block()
    assert script.count("fedmall-clearing --home clr admit") == 2, script
    for port in RECIPE_PORTS:
        assert f"127.0.0.1:{port}" in script, (port, script)
        script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}")
    (tmp_path / "recipe.sh").write_text(script)
    environment = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    process = subprocess.Popen(["bash", "-e", "recipe.sh"], cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=180)
    finally:
        stop_group(process)
    assert process.returncode == 0, output[-4000:]
    assert re.search(r"^bank-a\s+active", output, re.MULTILINE) and re.search(r"^bank-b\s+active", output,
                                                                                re.MULTILINE), output[-4000:]
    assert re.search(r"^status\s+COMMITTED$", output, re.MULTILINE), output[-4000:]
    bob = output[output.rindex("account  bob"):]
    assert re.search(r"^balance\s+25\.00 EUR$", bob, re.MULTILINE), bob
    for log in ("clearing.log", "bank-a.log", "bank-b.log"):
        assert "listening" in (tmp_path / log).read_text(), log
    assert "clearing stopped" in output  # `kill %1 %2 %3` stopped them cleanly (SIGTERM).
