"""`gdx --help` at 80 columns: wrapped between words (never inside one), flags without
`<bool>`, every line within the width (gdx/cli/command_help.py)."""

from __future__ import annotations

import re

import pytest
import typer
from rich.cells import cell_len
from typer.testing import CliRunner

from gdx.cli.main import app

ROOT = typer.main.get_command(app)


def _commands() -> list[list[str]]:
    found = [[]]
    for name, command in ROOT.commands.items():
        found.append([name])
        found += [[name, sub] for sub in getattr(command, "commands", {})]
    return found


def _command(path: list[str]):
    command = ROOT
    for name in path:
        command = command.commands[name]
    return command


def _words(text: str | None) -> set[str]:
    return set((text or "").replace("`", "").split())


def _expected_words(command) -> set[str]:
    """The words of a command's help, of its parameters' help and, for a group, of the first
    paragraph of each of its commands' help (the commands panel)."""
    words = _words(command.help)
    for param in command.params:
        words |= _words(getattr(param, "help", None))
    for sub in getattr(command, "commands", {}).values():
        words |= _words((sub.help or "").split("\n\n")[0])
    return words


@pytest.mark.parametrize("path", _commands(), ids=lambda path: " ".join(path) or "gdx")
def test_help_at_80_columns_keeps_every_word_whole_and_labels_no_flag(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    lines = result.output.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), result.output
    shown = set(re.sub(r"[│╭╮╰╯─]", " ", result.output.replace("`", "")).split())
    missing = _expected_words(_command(path)) - shown
    assert not missing, f"cut or lost in the help of gdx {' '.join(path)}: {missing}"


def test_a_docstring_paragraph_is_rewrapped_not_broken_where_the_source_broke_it():
    result = CliRunner().invoke(app, ["load", "--help"], env={"COLUMNS": "80"})
    # the docstring breaks its line after "what"; the help fills the line on
    assert "writes only what the directory makes it" in result.output


def test_flags_show_no_type_but_options_with_a_value_do():
    result = CliRunner().invoke(app, ["quarantine", "list", "--help"], env={"COLUMNS": "80"})
    json_line = next(line for line in result.output.splitlines() if "--json" in line)
    assert "<" not in json_line and "Print JSON." in json_line
    assert "<str>" in next(line for line in result.output.splitlines() if "--resource" in line)
