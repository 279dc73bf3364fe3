"""The node's wings depend one way: bank <- market <- credit, all on the shared modules.

    node/*.py (shared)   may import only other shared modules
    node/bank/           shared + bank
    node/market/         shared + bank + market
    node/credit/         shared + bank + market + credit
    node/server.py, node/cli.py, node/migrations/,  compose the node: may import anything,
    node/metrics.py, node/service_status.py          and nothing else may import them (the last
                                                     two read every wing's tables)

Imports are read with ast from every module, those inside functions included, so a
comment or a string cannot make the check pass by accident.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

NODE_ROOT = Path(__file__).resolve().parents[2] / "node"

SHARED, BANK, MARKET, CREDIT, COMPOSITION = "shared", "bank", "market", "credit", "composition"
WINGS = (BANK, MARKET, CREDIT)
COMPOSITION_MODULES = ("node.server", "node.cli", "node.migrations", "node.metrics", "node.service_status")
MAY_IMPORT = {
    SHARED: {SHARED},
    BANK: {SHARED, BANK},
    MARKET: {SHARED, BANK, MARKET},
    CREDIT: {SHARED, BANK, MARKET, CREDIT},
    COMPOSITION: {SHARED, BANK, MARKET, CREDIT, COMPOSITION},
}


def part_of(module: str) -> str:
    """The part of the node a dotted module name belongs to."""
    if any(module == name or module.startswith(name + ".") for name in COMPOSITION_MODULES):
        return COMPOSITION
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else SHARED


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) for every node module the file imports, relative imports resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for statement in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(statement, ast.Import):
            found += [(statement.lineno, alias.name) for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom):
            if statement.level:
                base = package.rsplit(".", statement.level - 1)[0] if statement.level > 1 else package
                source = f"{base}.{statement.module}" if statement.module else base
            else:
                source = statement.module or ""
            for alias in statement.names:  # `from node import bank` imports the package node.bank.
                submodule = f"{source}.{alias.name}"
                is_module = (root.parent / submodule.replace(".", "/")).with_suffix(".py").exists() or \
                    (root.parent / submodule.replace(".", "/")).is_dir()
                found.append((statement.lineno, submodule if is_module else source))
    return [(line, module) for line, module in found if module == "node" or module.startswith("node.")]


def violations(root: Path) -> list[str]:
    """Every import against the order above, as 'file:line: importer (part) imports module (part)'."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path, root)
        for line, imported in imported_modules(path, root):
            if part_of(imported) not in MAY_IMPORT[part_of(importer)]:
                problems.append(f"{path.relative_to(root.parent)}:{line}: {importer} ({part_of(importer)}) "
                                f"imports {imported} ({part_of(imported)})")
    return problems


def test_node__every_import_follows_the_wing_order():
    assert violations(NODE_ROOT) == []


def test_node__every_module_belongs_to_a_known_part():
    wings = {path.name for path in NODE_ROOT.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert wings == {*WINGS, "migrations"}


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path) -> Path:
    """A small node tree that follows the order."""
    root = tmp_path / "node"
    for package in ("", "bank/", "market/", "credit/", "migrations/"):
        write(root, f"{package}__init__.py", "")
    write(root, "limits.py", "")
    write(root, "bank/ledger.py", "from node import limits\n")
    write(root, "bank/settlement_credits.py", "from node.bank import ledger\n")
    write(root, "market/orders.py", "from node.bank import ledger\nfrom . import store\n")
    write(root, "market/store.py", "")
    write(root, "credit/store.py", "")
    write(root, "credit/repayments.py", "from node.market import orders\nfrom node.bank.ledger import x\n")
    write(root, "server.py", "from node.credit import repayments\nfrom node.market.orders import y\n")
    return root


def test_violations__a_tree_that_follows_the_order_has_none(tree):
    assert violations(tree) == []


@pytest.mark.parametrize("relative, source, imported", [
    ("bank/notices.py", "from node.credit.repayments import RepaymentFromSales\n", "node.credit.repayments"),
    ("bank/notices.py", "import node.market.orders\n", "node.market.orders"),
    ("bank/notices.py", "def f():\n    from node.market import orders\n", "node.market.orders"),
    ("bank/notices.py", "from ..market import orders\n", "node.market.orders"),
    ("bank/notices.py", "from node import market\n", "node.market"),
    ("market/orders.py", "from node.credit import store\n", "node.credit.store"),
    ("limits.py", "from node.bank import ledger\n", "node.bank.ledger"),
    ("credit/repayments.py", "from node.server import build_node\n", "node.server"),
    ("bank/ledger.py", "from node.migrations import all_tables\n", "node.migrations"),
])
def test_violations__an_import_against_the_order_is_named(tree, relative, source, imported):
    write(tree, relative, source)
    found = violations(tree)
    assert len(found) == 1 and f"imports {imported} " in found[0], found
