"""The consortium's category tree, shipped with the contract (categories.json beside this file).

Why with the contract and not served by the clearing's registry: every node already runs the
same `fedmall` package (the .proto files, the bounds, the text rules), a category id is part
of what banks exchange (a search filter, a product's category in a search answer), and a tree
that changes is a change of contract, released like one. A node reads it once at import, so a
search never waits on the clearing. A search request carries the tree's version; a node whose
tree has another version refuses a category filter with CATEGORY_TREE_VERSION_MISMATCH rather
than answer for a category it may read differently.

Ids are stable: a new version may add categories or rename them, never reuse or re-parent an id.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Category:
    category_id: str
    name: str
    parent_id: str  # "" for a top-level category.


@dataclass(frozen=True, slots=True)
class CategoryTree:
    version: int
    categories: tuple[Category, ...]

    def get(self, category_id: str) -> Category | None:
        return next((category for category in self.categories if category.category_id == category_id), None)

    def children(self, category_id: str) -> list[Category]:
        return [category for category in self.categories if category.parent_id == category_id]

    def descendants(self, category_id: str) -> list[str]:
        """The category and every category under it, in tree order. Pure."""
        found = [category_id]
        for child in self.children(category_id):
            found.extend(self.descendants(child.category_id))
        return found

    def path(self, category_id: str) -> list[str]:
        """Root first, ending with the category: its ancestors' ids and its own."""
        path = []
        category = self.get(category_id)
        while category is not None:
            path.insert(0, category.category_id)
            category = self.get(category.parent_id)
        return path

    def depth(self, category_id: str) -> int:
        return len(self.path(category_id)) - 1


def tree_problems(document: dict) -> list[str]:
    """What is wrong with a category document (an empty list when nothing is). Pure."""
    problems = []
    if not isinstance(document.get("version"), int) or document["version"] < 1:
        problems.append("version must be a whole number from 1")
    ids = [entry.get("id") for entry in document.get("categories", [])]
    if len(set(ids)) != len(ids):
        problems.append("category ids repeat")
    for entry in document.get("categories", []):
        if entry.get("parent") and entry["parent"] not in ids:
            problems.append(f"{entry.get('id')!r} has an unknown parent {entry['parent']!r}")
        if not entry.get("id") or not entry.get("name"):
            problems.append(f"a category needs an id and a name: {entry!r}")
    return problems


def parse_tree(text: str) -> CategoryTree:
    document = json.loads(text)
    problems = tree_problems(document)
    if problems:
        raise ValueError("category tree: " + "; ".join(problems))
    tree = CategoryTree(version=document["version"], categories=tuple(
        Category(category_id=entry["id"], name=entry["name"], parent_id=entry["parent"])
        for entry in document["categories"]))
    for category in tree.categories:  # No cycles: every path ends at a root within the tree's size.
        assert len(tree.path(category.category_id)) <= len(tree.categories), category
    return tree


TREE = parse_tree(resources.files("fedmall").joinpath("categories.json").read_text(encoding="utf-8"))
VERSION = TREE.version
