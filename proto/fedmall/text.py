"""Printable text: the one rule for every free-text field of the contract.

References, reject reasons, names, titles, descriptions, tracking references, details: text
one party writes and another shows to people or keeps in its books. Both services check it
at their edge with this module (the clearing on every signed payload it accepts, a node on
what the clearing and its peers send it and on its own API), so what one side accepts the
other accepts too.

Refused, whatever the field:

- control characters (Unicode category Cc: C0, DEL and C1), so no line breaks, tabs,
  escape sequences or NULs reach a log line, a terminal, a CSV export or a statement;
- format characters (Cf): the bidirectional embeddings, overrides and isolates
  (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C) that make a reference
  read differently from what it holds, the zero-width characters (U+200B-U+200D, U+2060,
  U+FEFF) that make two different references look the same, soft hyphens, invisible
  operators and tag characters;
- line and paragraph separators (Zl, Zp), surrogates (Cs), private-use characters (Co)
  and noncharacters (U+FDD0-U+FDEF and every U+xFFFE, U+xFFFF): nothing a reader can see.

Allowed: every other character, spaces of any width included (an ideographic space in a
Chinese name is ordinary text). Unassigned code points are allowed, so text written with a
newer Unicode is not refused by an older Python; what a newer Unicode assigns to a refused
category is refused from then on.

Length is counted in characters (code points), as the bounds in fedmall.limits are; a
field's bytes are at most four times its length.
"""
from __future__ import annotations

import re
import unicodedata

_PRINTABLE_ASCII = re.compile(r"[ -~]*")
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def is_noncharacter(code_point: int) -> bool:
    return 0xFDD0 <= code_point <= 0xFDEF or code_point & 0xFFFE == 0xFFFE


def refused_character(value: str) -> str | None:
    """The first character the rule refuses, or None."""
    if value.isascii():  # The common case: only C0 and DEL can be wrong.
        if _PRINTABLE_ASCII.fullmatch(value):  # One pass in C (bulk imports check millions of fields).
            return None
        return next(character for character in value if not " " <= character <= "~")
    for character in value:
        if unicodedata.category(character) in REFUSED_CATEGORIES or is_noncharacter(ord(character)):
            return character
    return None


def text_problem(value: str, *, length_max: int, what: str = "text", required: bool = False) -> str | None:
    """Why value is not acceptable text of at most length_max characters, or None."""
    assert length_max > 0, length_max
    if required and not value.strip():
        return f"{what} is required"
    if len(value) > length_max:
        return f"{what} has {len(value)} characters, at most {length_max}"
    character = refused_character(value)
    if character is not None:
        return f"{what} holds U+{ord(character):04X}, a control, format or invisible character"
    return None


def is_text(value: str, *, length_max: int) -> bool:
    return text_problem(value, length_max=length_max) is None
