"""What both command lines (fedmall-clearing, fedmall-node) share about their argparse tree.

`--home` and the log flags are accepted the same way in both tools, before the subcommand
or after it (`fedmall-node --home b serve` and `fedmall-node serve --home b`): they are
declared on the top parser and again, with argparse.SUPPRESS as their default, on every
subcommand, so one given before is not overwritten by its absence after. Every subcommand's
own --help page opens with the help text its parent lists for it.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Iterator

from fedmall import logs


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) \
        -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every subcommand under parser, depth first: its path of names, its parser and its help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield path + (name,), sub, helps.get(name)
                yield from subcommands(sub, path + (name,))


def add_common_options(parser: argparse.ArgumentParser, *, home_help: str) -> None:
    """--home and the log flags on the top parser and every subcommand; descriptions from help."""
    def add(target: argparse.ArgumentParser, default) -> None:
        if not any("--home" in action.option_strings for action in target._actions):
            target.add_argument("--home", type=Path, default=default, help=home_help)
        logs.add_arguments(target, default=default)

    add(parser, None)
    for _, sub, help_text in subcommands(parser):
        add(sub, argparse.SUPPRESS)
        if sub.description is None and help_text:
            sub.description = help_text


def run(parser: argparse.ArgumentParser, argv: list[str] | None,
        command: Callable[[argparse.Namespace], int]) -> int:
    """Parse argv (bad usage exits 2), then run the command with its logging undone on return
    (fedmall.logs.session)."""
    args = parser.parse_args(argv)
    if getattr(args, "home", None) is None:
        parser.error("--home is required (before or after the subcommand)")
    with logs.session():
        return command(args)
