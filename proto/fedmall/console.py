"""Command-line output: tidy tables for people, JSON for programs, plain errors."""
from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any, Sequence

EXIT_OK = 0
EXIT_REFUSED = 1  # The request was valid but refused (a result code).
EXIT_USAGE = 2  # Bad input: nothing was done.


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Left-aligned text, right-aligned numbers, one header row and a rule."""
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(r[i]) for r in cells]) for i, column in enumerate(columns)]
    # A column is numeric when every cell it fills holds a number (blank cells do not count).
    numeric = [any(r[i] for r in cells) and all(_is_number(r[i]) for r in cells if r[i]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _is_number(text: str) -> bool:
    return text.replace(".", "", 1).replace("-", "", 1).replace(",", "").isdigit()


def emit(document: Any, *, as_json: bool, human: str) -> None:
    print(json.dumps(document, indent=2, sort_keys=True) if as_json else human)


def fail(message: str, *, code: int = EXIT_USAGE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def utc_time(at_ms: int | None) -> str:
    """A moment for people: 2026-11-29 21:42:21 (UTC); empty for none."""
    return dt.datetime.fromtimestamp(at_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if at_ms else ""
