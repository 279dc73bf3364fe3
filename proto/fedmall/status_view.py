"""What `fedmall-clearing status` and `fedmall-node status` share: the running process's own
facts (asked of its /status, fedmall.observability) or why there are none, and how a status
document reads for people.

Everything else a status shows is read from the home folder and the database by the
command itself, so it shows the same whether the server runs or not.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from fedmall import database, observability
from fedmall.console import table, utc_time

DAY_MS = 24 * 3600 * 1000
THROUGHPUT_WINDOW_MS = 60_000


def process_facts(home: Path) -> dict[str, Any]:
    """{"running": True, "address": ..., **its /status} or {"running": False, "why": ...}."""
    facts, address_or_why = observability.running_status(home)
    if facts is None:
        return {"running": False, "why": address_or_why}
    return {"running": True, "metrics_address": address_or_why, **facts}


def database_facts(url: str, read: Callable[[sa.Connection], dict]) -> dict[str, Any]:
    """read(a read-only connection), on an engine of its own; {"database_error": why} when the
    database cannot be read. Never migrates: a status must not change what it looks at."""
    engine = database.make_engine(url)
    try:
        with database.read_connection(engine) as connection:
            return read(connection)
    except (sa.exc.SQLAlchemyError, OSError) as error:
        return {"database_error": " ".join(str(getattr(error, "orig", None) or error).split())}
    finally:
        engine.dispose()


def certificate_facts(path: Path, *, now_ms: int) -> dict[str, Any]:
    not_after_ms = observability.certificate_not_after_ms(path)
    if not_after_ms is None:
        return {"path": str(path), "not_after_ms": None, "days_left": None}
    return {"path": str(path), "not_after_ms": not_after_ms, "days_left": (not_after_ms - now_ms) // DAY_MS}


def certificate_text(facts: dict[str, Any]) -> str:
    if facts.get("not_after_ms") is None:
        return "unreadable"
    days = facts["days_left"]
    when = f"expired {-days} days ago" if days < 0 else f"{days} days left"
    return f"{utc_time(facts['not_after_ms'])} UTC ({when})"


def process_rows(process: dict[str, Any]) -> list[dict[str, str]]:
    if not process["running"]:
        return [{"what": "process", "value": process["why"]}]
    ready = "ready" if process["ready"] else "NOT READY: " + "; ".join(process["problems"])
    return [{"what": "process", "value": f"running since {utc_time(process['started_at_ms'])} UTC "
                                          f"(up {duration_text(process['uptime_s'])}), {ready}"},
            {"what": "metrics", "value": f"http://{process['metrics_address']}/metrics"}]


def duration_text(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    return (f"{days}d {hours}h" if days else f"{hours}h {minutes}m" if hours else
            f"{minutes}m {seconds}s" if minutes else f"{seconds}s")


def facts_table(rows: list[dict[str, str]]) -> str:
    return table(rows, ["what", "value"])


def exit_code(process: dict[str, Any]) -> int:
    """0 running and ready; 1 not running or not ready (scripts can wait on it)."""
    return 0 if process["running"] and process["ready"] else 1
