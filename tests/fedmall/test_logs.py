"""fedmall.logs: where each setting comes from (the command line, then the environment, then
fedmall.toml, then the default), both formats, and a bad setting named with where it came from."""
from __future__ import annotations

import argparse
import ast
import json
import logging
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from fedmall import logs
from fedmall.config_file import ConfigError, read_toml


@contextmanager
def restored_logging():
    """Let a test configure the root logger, then give pytest back its own handlers."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def flags(**values) -> argparse.Namespace:
    return argparse.Namespace(**{"log_level": None, "log_format": None, "log_file": None, **values})


def file_settings(tmp_path: Path, text: str) -> logs.FileSettings:
    (tmp_path / "fedmall.toml").write_text(text)
    return logs.read_section(read_toml(tmp_path / "fedmall.toml"), tmp_path)


def test_resolve__the_command_line_beats_the_environment_which_beats_the_file(tmp_path):
    from_file = file_settings(tmp_path, '[log]\nlevel = "error"\nformat = "json"\nfile = "logs/node.log"\n')
    assert from_file == logs.FileSettings(level="error", format="json", file=tmp_path / "logs" / "node.log")
    environment = {"FEDMALL_LOG_LEVEL": "DEBUG", "FEDMALL_LOG_FORMAT": "text", "FEDMALL_LOG_FILE": "/tmp/env.log"}
    assert logs.resolve(flags(), from_file=from_file, environ={}) == logs.LogSettings(
        level="error", format="json", file=tmp_path / "logs" / "node.log", level_asked=False)
    assert logs.resolve(flags(), from_file=from_file, environ=environment) == logs.LogSettings(
        level="debug", format="text", file=Path("/tmp/env.log"), level_asked=True)
    assert logs.resolve(flags(log_level="warning", log_format="json", log_file=Path("flag.log")),
                        from_file=from_file, environ=environment) == logs.LogSettings(
        level="warning", format="json", file=Path("flag.log"), level_asked=True)


def test_resolve__defaults_to_info_text_and_no_file():
    assert logs.resolve(flags(), environ={}) == logs.LogSettings("info", "text", None, False)


@pytest.mark.parametrize("text, expected", [
    ('[log]\nlevel = "loud"\n', "[log].level must be one of debug, info, warning, error, not 'loud'"),
    ('[log]\nformat = 3\n', "[log].format must be one of text, json, not 3"),
    ('[log]\nfile = 3\n', "[log].file must be a string, not 3"),
])
def test_read_section__a_bad_value_names_the_file_the_key_and_what_is_expected(tmp_path, text, expected):
    with pytest.raises(ConfigError) as refused:
        file_settings(tmp_path, text)
    assert str(refused.value) == f"{tmp_path / 'fedmall.toml'}: {expected}"


def test_resolve__a_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"\$FEDMALL_LOG_FORMAT must be one of text, json, not 'xml'"):
        logs.resolve(flags(), environ={"FEDMALL_LOG_FORMAT": "xml"})


def test_json_format__every_line_parses_and_carries_its_fields(tmp_path):
    log_file = tmp_path / "logs" / "clearing.log"
    with restored_logging():
        logs.configure(logs.LogSettings("debug", "json", log_file, True), serving=True)
        log = logging.getLogger("fedmall.test")
        log.info("prepare batch from %s: %s", "bank-a", "2 OK", extra=logs.fields(
            bank="bank-a", transfers=2, **logs.bounded_ids(["t-1", "t-2"])))
        log.warning("window %d settled: net %s", 7, "71.32 EUR", extra=logs.fields(window_id=7, net="71.32 EUR",
                                                                                   path=tmp_path))
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("sweep failed", extra=logs.fields(order_id="o-1"))
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(lines) == 3
    batch, settled, failed = lines
    assert {key: batch[key] for key in ("level", "logger", "message", "bank", "transfers", "transfer_ids")} == {
        "level": "INFO", "logger": "fedmall.test", "message": "prepare batch from bank-a: 2 OK", "bank": "bank-a",
        "transfers": 2, "transfer_ids": ["t-1", "t-2"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", batch["time"]), batch["time"]
    assert "args" not in batch and "msg" not in batch  # The record's own attributes stay out.
    assert settled["window_id"] == 7 and settled["net"] == "71.32 EUR" and settled["path"] == str(tmp_path)
    assert failed["order_id"] == "o-1" and "RuntimeError: boom" in failed["exc_info"]


def test_text_format__fields_follow_the_message_as_key_value(tmp_path):
    log_file = tmp_path / "node.log"
    with restored_logging():
        logs.configure(logs.LogSettings("info", "text", log_file, False), serving=True)
        logging.getLogger("fedmall.test").info("order %s confirmed", "o-9", extra=logs.fields(
            order_id="o-9", bank="bank-b", transfer_ids=["a", "b"], reason="a reason"))
        logging.getLogger("fedmall.test").debug("not shown at info")
    (line,) = log_file.read_text().splitlines()
    assert line.endswith(" INFO fedmall.test order o-9 confirmed order_id=o-9 bank=bank-b transfer_ids=a,b "
                         "reason='a reason'"), line


def test_bounded_ids__at_most_the_limit_and_how_many_more():
    ids = [f"t-{index}" for index in range(logs.IDS_PER_LINE_MAX + 5)]
    assert logs.bounded_ids(ids) == {"transfer_ids": ids[:logs.IDS_PER_LINE_MAX], "transfer_ids_more": 5}
    assert logs.bounded_ids(ids[:3]) == {"transfer_ids": ids[:3]}
    assert logs.bounded_ids([]) == {}


def test_configure__a_command_other_than_serve_keeps_stderr_to_warnings_unless_asked(tmp_path, capsys):
    log_file = tmp_path / "operator.log"
    with restored_logging():
        logs.configure(logs.LogSettings("info", "text", log_file, False), serving=False)
        logging.getLogger("fedmall.test").info("operator alice: suspend: done")
    assert "operator alice" not in capsys.readouterr().err  # The terminal keeps the command's output...
    assert "operator alice: suspend: done" in log_file.read_text()  # ...the log file gets the action.


LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
SOURCES = [path for folder in ("clearing", "node", "proto/fedmall") for path in
           (Path(__file__).resolve().parents[2] / folder).rglob("*.py") if "_pb2" not in path.name]


def unformatted_minor_units(tree: ast.AST) -> list[int]:
    """Lines of log calls handing an amount in minor units (a name ending in _minor) straight to
    the message or a field, rather than through fedmall.money.format_money."""
    found = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in LOG_METHODS
                and isinstance(call.func.value, ast.Name) and call.func.value.id == "log"):
            continue
        values = list(call.args) + [keyword.value for keyword in call.keywords]
        for keyword_call in (v for v in values if isinstance(v, ast.Call)):  # extra=logs.fields(...)
            values.extend(keyword.value for keyword in keyword_call.keywords)
        for value in values:
            name = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else ""
            if name.endswith("_minor"):
                found.append(call.lineno)
    return found


def test_log_lines__never_show_minor_units_as_money():
    offending = {str(path): lines for path in SOURCES if (lines := unformatted_minor_units(ast.parse(path.read_text())))}
    assert not offending, f"format money with fedmall.money.format_money in these log calls: {offending}"
    assert unformatted_minor_units(ast.parse('log.info("net %s EUR", net_minor)')) == [1]  # The check can fail.
