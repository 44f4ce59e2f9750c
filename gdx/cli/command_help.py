"""How `gdx --help` reads: help text wrapped between words at the terminal's width (Markdown
paragraphs: the line breaks of a docstring are not kept), and a flag shown as a flag — no
`<bool>` beside `--json` or `--help`, which take no value."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

MARKUP_MODE = "markdown"  # paragraphs re-wrapped between words; "rich" keeps every line break


class HelpGroup(TyperGroup):
    """The root `gdx` group: on building it, every flag of every command loses its type label."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_flags(self)


def plain_flags(command: Any) -> None:
    """Give every flag of `command` and of its subcommands (their --help too) an empty metavar:
    the help shows the flag's name and help, and no `<bool>`."""
    help_option = command.get_help_option(typer.Context(command))  # made once, then kept
    for param in [*command.params, *([help_option] if help_option else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for subcommand in getattr(command, "commands", {}).values():
        plain_flags(subcommand)
