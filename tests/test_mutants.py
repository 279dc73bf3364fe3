"""scripts/mutants is run by hand, so its own parts are checked here: the equivalent-mutant
list loads and every pattern compiles, each listed module and test exists, and every row
lock it removes leaves a module that still compiles."""
from __future__ import annotations

import re
import shlex

from scripts import mutants


def test_equivalents__load_and_every_pattern_compiles():
    known = mutants.equivalents()
    assert known and all(entry.why for entry in known)
    for entry in known:
        re.compile(entry.operator)
        assert entry.code or re.compile(entry.code_regex)


def test_modules__and_the_tests_named_for_them_exist():
    for module, tests in mutants.MODULES.items():
        assert (mutants.ROOT / module).is_file(), module
        for word in shlex.split(tests):
            if word.startswith("tests/"):
                assert (mutants.ROOT / word.split("::")[0]).is_file(), word


def test_row_locks__each_removal_leaves_a_module_that_compiles():
    locks = mutants.row_locks()
    assert {lock.module for lock in locks} >= {"node/bank/store.py", "node/market/seller_orders.py",
                                               "node/credit/repayments.py"}
    for lock in locks:
        source = (mutants.ROOT / lock.module).read_text()
        without = lock.removed_from(source)
        assert len(without) < len(source) and "with_for_update" not in without[lock.start - 40:lock.start + 40]
        compile(without, lock.module, "exec")
