"""The documentation names only what exists, and nothing points outside the repository.

Every backticked repository path in docs/*.md and README.md must exist: a token in
backticks that contains a "/" or ends with a known file suffix, and whose first path
segment is one of the repository's top-level names. A trailing `:function` is dropped;
a glob (`proto/fedmall/v1/*.proto`) must match at least one file; `{a,b}` is expanded.
"""
from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL_DIRS = ("node", "clearing", "proto", "tests", "scripts", "docs", "conformance")
TOP_LEVEL_FILES = ("pyproject.toml", "README.md")
FILE_SUFFIXES = (".py", ".pyi", ".proto", ".toml", ".md", ".mako", ".yaml", ".xsd", ".sh")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
BACKTICKED = re.compile(r"`([^`\n]+)`")
# Strings that would point outside the repository. This file is the one place allowed to hold them.
OUTSIDE_MARKERS = ("../shared", "DESIGN.md", "STYLE.md")


def documents() -> list[Path]:
    return sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def _candidate(token: str) -> str | None:
    """The repository path a backticked token names, or None when it names none."""
    token = token.strip().split()[0] if token.strip() else ""
    token = token.split(":", 1)[0]  # `node/bank/notices.py:decide` names node/bank/notices.py.
    if token.startswith("./"):
        token = token[2:]
    if "/" not in token and not token.endswith(FILE_SUFFIXES):
        return None
    first = token.split("/", 1)[0]
    if token in TOP_LEVEL_FILES or ("/" in token and first in TOP_LEVEL_DIRS):
        return token
    return None


def _expand_braces(path: str) -> list[str]:
    """node/{bank,market}/store.py -> node/bank/store.py, node/market/store.py."""
    parts = re.split(r"\{([^{}]*)\}", path)
    choices = [[part] if index % 2 == 0 else part.split(",") for index, part in enumerate(parts)]
    return ["".join(combination) for combination in itertools.product(*choices)]


def named_paths(markdown: str) -> list[str]:
    """Every repository path named in backticks in markdown text, in order (fenced code skipped)."""
    text = FENCE.sub("", markdown)
    found = []
    for token in BACKTICKED.findall(text):
        path = _candidate(token)
        if path is not None:
            found.extend(_expand_braces(path))
    return found


def exists(path: str, root: Path = ROOT) -> bool:
    if any(character in path for character in "*?["):
        return any(root.glob(path.rstrip("/")))
    return (root / path).exists()


def missing_paths(markdown: str, root: Path = ROOT) -> list[str]:
    return [path for path in named_paths(markdown) if not exists(path, root)]


def test_architecture__names_many_paths():
    paths = set(named_paths((ROOT / "docs" / "architecture.md").read_text()))
    assert len(paths) > 30, sorted(paths)


def test_architecture__every_path_it_names_exists():
    assert missing_paths((ROOT / "docs" / "architecture.md").read_text()) == []


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_docs__every_path_they_name_exists(document):
    assert missing_paths(document.read_text()) == []


def test_readme__names_paths():
    assert {"proto/fedmall/v1/*.proto", "node/bank/", "docs/architecture.md"} <= set(
        named_paths((ROOT / "README.md").read_text()))


def test_named_paths__a_missing_file_is_reported():
    sample = "The notices are in `node/bank/notices.py`, the rest in `node/bank/nonexistent.py`."
    assert named_paths(sample) == ["node/bank/notices.py", "node/bank/nonexistent.py"]
    assert missing_paths(sample) == ["node/bank/nonexistent.py"]


def test_named_paths__takes_paths_and_leaves_everything_else():
    sample = "\n".join([
        "`node/bank/notices.py:decide` `scripts/demo --help` `README.md` `pyproject.toml`",
        "`proto/fedmall/v1/*.proto` `node/{bank,credit}/store.py` `docs/`",
        "`@escrow/EUR` `fedmall.toml` `node.bank.ledger` `server.py` `--json` `postgresql+psycopg://u@h/db`",
        "```", "`node/bank/inside_a_fence.py`", "```",
    ])
    assert named_paths(sample) == [
        "node/bank/notices.py", "scripts/demo", "README.md", "pyproject.toml", "proto/fedmall/v1/*.proto",
        "node/bank/store.py", "node/credit/store.py", "docs/"]
    assert missing_paths(sample) == []
    assert missing_paths("`proto/fedmall/v1/*.nothing`") == ["proto/fedmall/v1/*.nothing"]


def repository_files() -> list[Path]:
    """Tracked files and new files not ignored, as they are in the working tree."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return [ROOT / name for name in sorted(set(listed)) if name and (ROOT / name).is_file()]


def test_repository__nothing_points_outside_it():
    this_file = Path(__file__).resolve()
    files = [path for path in repository_files() if path.resolve() != this_file]
    assert len(files) > 50 and ROOT / "README.md" in files
    offenders = []
    for path in files:
        data = path.read_bytes()
        if b"\0" in data:  # Binary.
            continue
        text = data.decode("utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)}: {marker}" for marker in OUTSIDE_MARKERS if marker in text]
    assert offenders == []
