"""Mutation testing of the money core: does the suite notice a small bug in a money rule?

Cosmic Ray puts one small change at a time (a flipped comparison, an off-by-one, a removed
branch...) into each module that holds a money rule, and runs the tests that cover that
module against it. A mutant the tests fail on is killed; one they pass is a survivor:
either a test is missing or the change is equivalent (it cannot change behaviour), which
scripts/mutants-equivalent.toml says for each such mutant, with the reason.

Cosmic Ray knows nothing of databases, so `--row-locks` adds one operator of our own: it
removes each row lock of the node (every FOR UPDATE and the advisory lock), one at a time,
and runs the race tests, which run on PostgreSQL too (SQLite serialises writers anyway).
A lock whose removal no test notices is a survivor.

Cosmic Ray rather than mutmut: mutmut 3 runs every mutant in a fork of one test process,
and the tests here start real gRPC servers, which do not survive a fork; Cosmic Ray edits
the file on disk and runs an ordinary pytest process per mutant: slower, but faithful.

The work happens in copies of the tracked files (one per parallel job), never in the
working tree. Too slow for every CI run: run it by hand (scripts/mutants), quote the figure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "scripts" / "mutants-equivalent.toml"
TARGET_KILL_RATE = 0.90

# Each module with a money rule, and the pytest arguments of the tests that cover it (fast,
# in-process ones; on SQLite only where the PostgreSQL variant tests the same rule again).
MODULES: dict[str, str] = {
    "clearing/rules.py": "tests/clearing/test_rules.py tests/clearing/test_boundaries.py",
    "clearing/netting.py": "tests/clearing/test_netting.py",
    "node/bank/ledger.py": "tests/node/bank/test_ledger.py",
    "node/bank/reconcile.py": "tests/node/bank/test_reconcile.py",
    "node/bank/settlement_credits.py": "tests/node/bank/test_settlement_credits.py",
    "node/credit/loans.py": "tests/node/credit/test_loans.py",
    "node/credit/repayments.py": "tests/node/credit/test_repayments.py tests/node/credit/test_lending.py -k 'not postgresql'",
    "proto/fedmall/money.py": "tests/fedmall/test_money.py",
}


# The row locks of the node, each removable on its own, and the race tests that must notice.
ROW_LOCK_PATTERNS = (
    re.compile(r"\.with_for_update\([^()]*\)"),                               # A query's FOR UPDATE.
    re.compile(r"connection\.execute\(sa\.text\(\"SELECT pg_advisory_xact_lock[^\n]*\)\)"),  # An advisory lock.
)
ROW_LOCK_TESTS = shlex.join(sorted(str(path.relative_to(ROOT))
                                   for path in (ROOT / "tests" / "node").glob("*/test_*concurrency.py"))) + (
    " tests/node/credit/test_lending.py::test_concurrent_applications__one_loan_per_merchant_whatever_the_race"
    " tests/node/credit/test_lending.py::test_review_passes_over_a_loan_a_delivery_is_repaying_and_judges_it_next_time")
ROW_LOCK_ATTEMPTS = 3  # A race shows itself often, not always: a lock is missed only if every attempt passes.


@dataclass
class Survivor:
    line: int
    operator: str
    code: str                 # The line as the mutant has it, stripped.
    equivalent_because: str   # Empty: a test is missing.


@dataclass
class ModuleResult:
    module: str
    mutants: int = 0
    killed: int = 0
    incompetent: int = 0      # The mutant could not even be imported or timed out: counted as killed.
    survivors: list[Survivor] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def equivalent(self) -> int:
        return sum(bool(s.equivalent_because) for s in self.survivors)

    @property
    def kill_rate(self) -> float:
        """Killed among the mutants that can be killed (equivalent ones cannot)."""
        killable = self.mutants - self.equivalent
        return (self.killed + self.incompetent) / killable if killable else 1.0


def copy_tree(destination: Path) -> None:
    """The tracked files only (no .venv, no databases; a new file needs `git add`), as they are
    in the working tree."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)


@dataclass(frozen=True, slots=True)
class Equivalent:
    """A kind of mutant that cannot change behaviour: in module ('*': any), by operator (a
    regular expression), whose line as mutated is code, or matches code_regex."""
    module: str
    operator: str
    why: str
    code: str = ""
    code_regex: str = ""

    def matches(self, module: str, operator: str, code: str) -> bool:
        return (self.module in ("*", module) and re.fullmatch(self.operator, operator) is not None
                and (code == self.code if self.code else re.fullmatch(self.code_regex, code) is not None))


def equivalents() -> list[Equivalent]:
    if not EQUIVALENT_FILE.exists():
        return []
    return [Equivalent(**entry) for entry in tomllib.loads(EQUIVALENT_FILE.read_text()).get("equivalent", [])]


def equivalent_because(known: list[Equivalent], module: str, operator: str, code: str) -> str:
    return next((entry.why for entry in known if entry.matches(module, operator, code)), "")


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that makes Python import the copy's packages, not the working tree's."""
    return dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'proto'}", PYTHONDONTWRITEBYTECODE="1")


def cosmic_ray(tree: Path, *args: str) -> str:
    command = [str(Path(sys.executable).parent / "cosmic-ray"), *args]
    result = subprocess.run(command, cwd=tree, env=tree_env(tree), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cosmic-ray {' '.join(args)} failed in {tree}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def pytest_command(tests: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *shlex.split(tests)]


def baseline_seconds(tree: Path, tests: str) -> float:
    started = time.monotonic()
    result = subprocess.run(pytest_command(tests), cwd=tree, env=tree_env(tree), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the tests fail without any mutant:\n{result.stdout[-3000:]}")
    return time.monotonic() - started


def mutate(module: str, tree: Path, progress) -> ModuleResult:
    tests = MODULES[module]
    timeout_s = 3 * baseline_seconds(tree, tests) + 10
    config, session = tree / "cosmic-ray.toml", tree / f"{module.replace('/', '_')}.sqlite"
    test_command = shlex.join(pytest_command(tests))
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\ntimeout = {timeout_s:.0f}\nexcluded-modules = []\n"
        f"test-command = {json.dumps(test_command)}\n\n[cosmic-ray.distributor]\nname = \"local\"\n")
    cosmic_ray(tree, "init", str(config), str(session))
    started = time.monotonic()
    done = threading.Event()
    reporter = threading.Thread(target=report_progress, args=(module, session, done, progress), daemon=True)
    reporter.start()
    try:
        cosmic_ray(tree, "exec", str(config), str(session))
    finally:
        done.set()
        reporter.join()
    result = judge(module, cosmic_ray(tree, "dump", str(session)))
    result.seconds = round(time.monotonic() - started, 1)
    return result


def report_progress(module: str, session: Path, done: threading.Event, progress) -> None:
    while not done.wait(15):
        try:
            with sqlite3.connect(session) as db:
                finished = db.execute("SELECT count(*) FROM work_results").fetchone()[0]
                total = db.execute("SELECT count(*) FROM work_items").fetchone()[0]
        except sqlite3.Error:
            continue
        progress(f"{module}: {finished}/{total} mutants run")


def mutated_line(diff: str) -> str:
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return added[0] if added else ""


def judge(module: str, dump: str) -> ModuleResult:
    known = equivalents()
    result = ModuleResult(module=module)
    for line in filter(None, dump.splitlines()):
        item, outcome = json.loads(line)
        result.mutants += 1
        test_outcome = outcome and outcome["test_outcome"]
        if test_outcome == "killed":
            result.killed += 1
        elif test_outcome == "incompetent":
            result.incompetent += 1
        else:
            mutation = item["mutations"][0]
            operator, code = mutation["operator_name"], mutated_line((outcome or {}).get("diff") or "")
            result.survivors.append(Survivor(line=mutation["start_pos"][0], operator=operator, code=code,
                                             equivalent_because=equivalent_because(known, module, operator, code)))
    return result


@dataclass(frozen=True, slots=True)
class RowLock:
    module: str
    start: int      # Character offsets of the lock in the module's text.
    end: int
    line: int
    code: str

    def removed_from(self, source: str) -> str:
        """The module's source without this lock: a query's FOR UPDATE dropped, a lock call made None."""
        removed = "" if source[self.start:self.end].startswith(".") else "None"
        return source[:self.start] + removed + source[self.end:]


def row_locks() -> list[RowLock]:
    found = []
    for path in sorted((ROOT / "node").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        for pattern in ROW_LOCK_PATTERNS:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(RowLock(str(path.relative_to(ROOT)), match.start(), match.end(), line,
                                     text.splitlines()[line - 1].strip()))
    return found


def without_lock(tree: Path, lock: RowLock, tests: str, timeout_s: float) -> int:
    """Run the race tests with one lock removed, up to ROW_LOCK_ATTEMPTS times; the attempt that
    noticed (failed or hung), 0 if none did."""
    path = tree / lock.module
    original = path.read_text()
    path.write_text(lock.removed_from(original))
    try:
        for attempt in range(1, ROW_LOCK_ATTEMPTS + 1):
            try:
                if subprocess.run(pytest_command(tests), cwd=tree, env=tree_env(tree), capture_output=True,
                                  timeout=timeout_s).returncode != 0:
                    return attempt
            except subprocess.TimeoutExpired:
                return attempt
        return 0
    finally:
        path.write_text(original)


def sweep_row_locks(trees: list[Path], progress) -> ModuleResult:
    locks = row_locks()
    timeout_s = 3 * baseline_seconds(trees[0], ROW_LOCK_TESTS) + 30
    result = ModuleResult(module="node row locks", mutants=len(locks))
    started = time.monotonic()
    free, lock_of_trees = list(trees), threading.Lock()

    def run(lock: RowLock) -> tuple[RowLock, bool]:
        with lock_of_trees:
            tree = free.pop()
        try:
            noticed = without_lock(tree, lock, ROW_LOCK_TESTS, timeout_s)
            progress(f"{lock.module}:{lock.line} without its lock: "
                     + (f"noticed (attempt {noticed})" if noticed else f"NOT NOTICED in {ROW_LOCK_ATTEMPTS} attempts"))
            return lock, noticed
        finally:
            with lock_of_trees:
                free.append(tree)

    known = equivalents()
    with ThreadPoolExecutor(max_workers=len(trees)) as pool:
        for lock, noticed in pool.map(run, locks):
            if noticed:
                result.killed += 1
            else:
                result.survivors.append(Survivor(line=lock.line, operator="remove row lock", code=lock.code,
                                                 equivalent_because=equivalent_because(
                                                     known, lock.module, "remove row lock", lock.code)))
    result.seconds = round(time.monotonic() - started, 1)
    return result


def table(results: list[ModuleResult]) -> str:
    rows = [("module", "mutants", "killed", "equivalent", "missed", "kill rate", "minutes")]
    for r in results:
        rows.append((r.module, str(r.mutants), str(r.killed + r.incompetent), str(r.equivalent),
                     str(len(r.survivors) - r.equivalent), f"{100 * r.kill_rate:.1f} %", f"{r.seconds / 60:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for r in results:
        for s in r.survivors:
            kind = f"equivalent: {s.equivalent_because}" if s.equivalent_because else "MISSED"
            lines.append(f"  {r.module}:{s.line} {s.operator} `{s.code}` ({kind})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Mutation testing of the money core (Cosmic Ray).")
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)} (default all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="modules mutated side by side")
    parser.add_argument("--row-locks", action="store_true",
                        help="instead: remove each row lock of the node in turn and run the race tests")
    parser.add_argument("--json", action="store_true", help="the results as JSON on stdout")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        print(f"mutants: not a money-core module: {', '.join(unknown)}", file=sys.stderr)
        return 2
    modules = args.modules or list(MODULES)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="fedmall-mutants-") as scratch:
        trees = []
        for index in range(args.jobs if args.row_locks else min(args.jobs, len(modules))):
            tree = Path(scratch) / f"tree-{index}"
            copy_tree(tree)
            trees.append(tree)
        free = list(trees)
        lock = threading.Lock()

        def run(module: str) -> ModuleResult:
            with lock:
                tree = free.pop()
            try:
                progress(f"{module}: mutating (pytest {MODULES[module]})")
                result = mutate(module, tree, progress)
                progress(f"{module}: {result.mutants} mutants, kill rate {100 * result.kill_rate:.1f} %")
                return result
            finally:
                with lock:
                    free.append(tree)

        if args.row_locks:
            results = [sweep_row_locks(trees, progress)]
        else:
            with ThreadPoolExecutor(max_workers=len(trees)) as pool:
                results = list(pool.map(run, modules))

    killable = sum(r.mutants - r.equivalent for r in results)
    killed = sum(r.killed + r.incompetent for r in results)
    overall = killed / killable if killable else 1.0
    missed = sum(len(r.survivors) - r.equivalent for r in results)
    if args.json:
        print(json.dumps(dict(cores=os.cpu_count(), kill_rate=round(overall, 4), target=TARGET_KILL_RATE,
                              missed=missed, modules=[dict(asdict(r), kill_rate=round(r.kill_rate, 4))
                                                      for r in results]), indent=2))
    else:
        print(table(results))
        print(f"\noverall: {killed} of {killable} killable mutants killed ({100 * overall:.1f} %, target "
              f"{100 * TARGET_KILL_RATE:.0f} %), {missed} missed")
    return 0 if all(r.kill_rate >= TARGET_KILL_RATE for r in results) and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
