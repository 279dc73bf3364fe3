"""The words search sees: one rule for the index, the query and the ranking.

A word is a run of letters and digits (no underscore), lower-cased: "Kettle, 1.5l (RED)" ->
"kettle 1 5l red". Titles, descriptions and SKUs are stored so normalised beside the product
(search_title, search_body, search_sku, each with a space before and after) and indexed (SQLite FTS5 with the unicode61 tokenizer,
PostgreSQL to_tsvector('simple', ...)): both split these space-separated words exactly as
here, so what the store matches and what ranking.score counts are the same words. Pure.
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def normalised(text: str) -> str:
    """The text's words, space-separated."""
    return " ".join(words(text))


def stored(text: str) -> str:
    """The text's words as a search column holds them: space-separated with a space before and after,
    so "is this word in it" is one LIKE '% word %' in SQL (node.market.local_search), nothing built per row."""
    return f" {normalised(text)} "


def search_columns(*, title: str, description: str, sku: str) -> dict[str, str]:
    """The stored search columns of a product row."""
    return dict(search_title=stored(title), search_body=stored(description), search_sku=stored(sku))
