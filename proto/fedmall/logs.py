"""One logging setup for the clearing and the node: level, format and an optional file.

Where each setting comes from, the first that gives it winning:
    1. the command line:  --log-level, --log-format, --log-file (before or after the subcommand)
    2. the environment:   FEDMALL_LOG_LEVEL, FEDMALL_LOG_FORMAT, FEDMALL_LOG_FILE
    3. fedmall.toml:      [log] level, format, file (a relative file is in the home folder)
    4. the default:       info; text; no file

Formats: `text` for people (`2026-11-30 01:02:03,456 INFO fedmall.clearing prepare batch ...
bank=bank-a transfers=200`), `json` for machines (one object a line: time (ISO 8601, UTC),
level, logger, message and every field). Lines about a transfer, window or order carry its ids as fields
(`extra=fields(transfer_id=..., bank=...)`), so either format can be searched by them.

The code keeps the standard library's loggers (`logging.getLogger`, %-style messages): only
the formatter is ours. The JSON lines come from python-json-logger, a small kept library with
no dependencies of its own, because it already does what a hand-written formatter gets wrong:
every `extra` field as a key, the reserved LogRecord attributes left out, exceptions and
stack traces as text, values JSON cannot hold (a Path, a bytes id) turned into strings rather
than losing the line. structlog was the other candidate: its processors and bound contexts
serve code written against its own API, and ours is a hundred stdlib call sites.

A command other than serve keeps the terminal for its output: its stderr shows warnings and
worse unless a level is asked for on the command line or in the environment, while the log
file (when there is one) gets every line at the level, so an operator's command run beside
the service leaves its action in the service's log.
"""
from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from fedmall.config_file import ConfigError, TomlFile

SECTION = "log"
KEYS = frozenset({"level", "format", "file"})
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
LEVEL_ENVIRONMENT, FORMAT_ENVIRONMENT, FILE_ENVIRONMENT = "FEDMALL_LOG_LEVEL", "FEDMALL_LOG_FORMAT", "FEDMALL_LOG_FILE"
LEVEL_DEFAULT, FORMAT_DEFAULT = "info", "text"
HANDLER_NAME = "fedmall"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# A successful batch names at most this many of its transfers at info (all of them at debug).
IDS_PER_LINE_MAX = 20

# The LogRecord's own attributes; anything else on a record came in through `extra`.
_RECORD_ATTRIBUTES = frozenset(RESERVED_ATTRS) | {"taskName"}


@dataclass(frozen=True, slots=True)
class FileSettings:
    """The [log] section of a fedmall.toml, each key its default where the section is silent."""
    level: str = LEVEL_DEFAULT
    format: str = FORMAT_DEFAULT
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str
    format: str
    file: Path | None
    level_asked: bool  # Given on the command line or in the environment (not a default or the file).


def read_section(file: TomlFile, home: Path) -> FileSettings:
    """[log] of a fedmall.toml (optional, every key optional); ConfigError naming the file and key."""
    if SECTION not in file.document:
        return FileSettings()
    section = file.section(SECTION)

    def choice(key: str, allowed: tuple[str, ...], default: str) -> str:
        if key not in section.values:
            return default
        value = section.values[key]
        if not isinstance(value, str) or value.lower() not in allowed:
            raise ConfigError(f"{file.path}: [{SECTION}].{key} must be one of {', '.join(allowed)}, not {value!r}")
        return value.lower()

    named = section.text("file", required=False)
    return FileSettings(level=choice("level", LEVELS, LEVEL_DEFAULT),
                        format=choice("format", FORMATS, FORMAT_DEFAULT), file=home / named if named else None)


def add_arguments(parser, *, default=None) -> None:
    """--log-level, --log-format, --log-file (default=argparse.SUPPRESS on subcommands, so a flag
    given before the subcommand is not overwritten by the subcommand's absent one)."""
    parser.add_argument("--log-level", choices=LEVELS, default=default,
                        help=f"the least severe log lines shown (${LEVEL_ENVIRONMENT}, [log].level)")
    parser.add_argument("--log-format", choices=FORMATS, default=default,
                        help=f"text for people, json lines for machines (${FORMAT_ENVIRONMENT}, [log].format)")
    parser.add_argument("--log-file", type=Path, default=default,
                        help=f"also append the log lines to this file (${FILE_ENVIRONMENT}, [log].file)")


def resolve(args, *, from_file: FileSettings = FileSettings(), environ: Mapping[str, str] = os.environ) \
        -> LogSettings:
    """The settings, the command line first, then the environment, then the file, then the default."""
    def environment(name: str, allowed: tuple[str, ...] | None) -> str | None:
        value = environ.get(name, "").strip()
        if not value:
            return None
        if allowed is not None and value.lower() not in allowed:
            raise ConfigError(f"${name} must be one of {', '.join(allowed)}, not {value!r}")
        return value.lower() if allowed else value

    flag_level, flag_format, flag_file = (getattr(args, name, None) for name in ("log_level", "log_format", "log_file"))
    asked_level = flag_level or environment(LEVEL_ENVIRONMENT, LEVELS)
    file_text = environment(FILE_ENVIRONMENT, None)
    return LogSettings(
        level=asked_level or from_file.level,
        format=flag_format or environment(FORMAT_ENVIRONMENT, FORMATS) or from_file.format,
        file=flag_file or (Path(file_text) if file_text else None) or from_file.file,
        level_asked=asked_level is not None)


@contextmanager
def session() -> Iterator[None]:
    """One command's logging: what configure sets inside is undone when the command returns, so
    a process that runs several commands (a test calling main()) keeps the logging it had."""
    root = logging.getLogger()
    level = root.level
    try:
        yield
    finally:
        _remove_ours(root)
        root.setLevel(level)


def _remove_ours(root: logging.Logger) -> None:
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:  # Anyone else's (a test's capture) stays.
            root.removeHandler(handler)
            handler.close()


def configure(settings: LogSettings, *, serving: bool) -> None:
    """Replace the root logger's handlers this module added before: stderr (warnings and worse
    only for a command other than serve that asked for no level), and the file when there is one."""
    root = logging.getLogger()
    _remove_ours(root)
    level = getattr(logging, settings.level.upper())
    formatter = json_formatter() if settings.format == "json" else TextFormatter(TEXT_FORMAT)
    stderr = _StderrHandler()
    stderr.setLevel(level if serving or settings.level_asked else max(level, logging.WARNING))
    handlers: list[logging.Handler] = [stderr]
    if settings.file is not None:
        try:
            settings.file.parent.mkdir(parents=True, exist_ok=True)
            # Watched: a file rotated away (logrotate) is reopened at the next line.
            handlers.append(logging.handlers.WatchedFileHandler(settings.file, encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"log file {settings.file}: cannot open it ({error.strerror})") from None
    for handler in handlers:
        handler.set_name(HANDLER_NAME)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is at each line (a redirect, a test's capture), never a stale one."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def fields(**values) -> dict:
    """The fields of a log line, for `extra=`: ids (transfer_id, window_id, order_id, bank), counts,
    result codes and money already formatted with its currency (fedmall.money.format_money)."""
    return values


def bounded_ids(ids: list[str]) -> dict:
    """A batch's ids for an info line: the first IDS_PER_LINE_MAX, and how many more there were
    (nothing for none)."""
    if not ids:
        return {}
    shown = ids[:IDS_PER_LINE_MAX]
    return {"transfer_ids": shown, **({"transfer_ids_more": len(ids) - len(shown)} if len(ids) > len(shown) else {})}


def extra_fields(record: logging.LogRecord) -> dict:
    return {key: value for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES}


class TextFormatter(logging.Formatter):
    """The standard line, then the record's fields as key=value (lists joined by commas)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = extra_fields(record)
        if not extra:
            return line
        head, newline, rest = line.partition("\n")  # A traceback stays below the fields.
        pairs = " ".join(f"{key}={_text(value)}" for key, value in extra.items())
        return f"{head} {pairs}{newline}{rest}"


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    text = str(value)
    return repr(text) if not text or " " in text else text


class _JsonLines(JsonFormatter):
    """python-json-logger's lines with the time first, ISO 8601 in UTC to the millisecond."""

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_record["time"] = dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_record, record, message_dict)


def json_formatter() -> JsonFormatter:
    return _JsonLines(["levelname", "name", "message"], rename_fields={"levelname": "level", "name": "logger"},
                      json_default=str, json_ensure_ascii=False)
