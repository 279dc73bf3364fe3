"""Both command lines read the same way: every subcommand has help text (in its parent's list
and atop its own --help), and --home and the log flags are taken before or after the
subcommand, at every depth of the tree."""
from __future__ import annotations

from pathlib import Path

import pytest

from fedmall.command_line import subcommands

from clearing.cli import _parser as clearing_parser
from node.cli import _parser as node_parser

PARSERS = {"fedmall-clearing": clearing_parser, "fedmall-node": node_parser}
COMMON_OPTIONS = ("--home", "--log-level", "--log-format", "--log-file")


def options_of(parser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


@pytest.mark.parametrize("tool", PARSERS)
def test_every_subcommand__has_help_text_and_a_description(tool):
    walked = list(subcommands(PARSERS[tool]()))
    assert len(walked) > 20
    missing = [" ".join(path) for path, _, help_text in walked if not (help_text or "").strip()]
    assert not missing, f"{tool} subcommands without help text: {missing}"
    undescribed = [" ".join(path) for path, sub, _ in walked if not (sub.description or "").strip()]
    assert not undescribed, f"{tool} subcommands whose --help opens with no description: {undescribed}"


@pytest.mark.parametrize("tool", PARSERS)
def test_every_subcommand__takes_home_and_the_log_flags(tool):
    parser = PARSERS[tool]()
    assert set(COMMON_OPTIONS) <= options_of(parser)
    lacking = [" ".join(path) for path, sub, _ in subcommands(parser) if not set(COMMON_OPTIONS) <= options_of(sub)]
    assert not lacking, f"{tool} subcommands without {COMMON_OPTIONS}: {lacking}"


@pytest.mark.parametrize("tool, command", [
    ("fedmall-clearing", ["serve"]),
    ("fedmall-clearing", ["participants", "set-cap", "bank-a", "5.00", "--reason", "r"]),
    ("fedmall-clearing", ["windows", "close"]),
    ("fedmall-node", ["serve"]),
    ("fedmall-node", ["credit", "offer", "--merchant", "m-1"]),
    ("fedmall-node", ["send", "--from", "a", "--to-bank", "bank-b", "--to-account", "b", "1.00"]),
])
def test_home__before_or_after_the_subcommand_is_the_same(tool, command):
    before = PARSERS[tool]().parse_args(["--home", "h", "--log-format", "json", *command])
    after = PARSERS[tool]().parse_args([*command, "--home", "h", "--log-format", "json"])
    assert vars(before) == vars(after)
    assert before.home == Path("h") and before.log_format == "json"


@pytest.mark.parametrize("tool, main_module", [("fedmall-clearing", "clearing.cli"), ("fedmall-node", "node.cli")])
def test_home__missing_is_bad_input_named_on_one_line(tool, main_module, capsys):
    main = __import__(main_module, fromlist=["main"]).main
    with pytest.raises(SystemExit) as exited:
        main(["serve"])
    assert exited.value.code == 2
    assert "--home is required (before or after the subcommand)" in capsys.readouterr().err
