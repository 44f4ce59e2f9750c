"""Outside text is printed literally: no rich markup, no emoji codes, no terminal escapes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.table import Table

from gdx.cli.console import fail, print_error, styled, visible, wide
from tests.gdx.cli.test_main import HEADER, ZHANG

GDX = str(Path(sys.executable).parent / "gdx")
LOAD = ["--resource", "population.person", "--department", "public_security"]
TRICKY = "a[red]x[a-z][bold]:smile:"  # a file name: no closing tags, they hold a slash


def gdx(*args: str, home: Path):
    environment = dict(os.environ, GDX_HOME=str(home))
    environment.pop("GDX_DATABASE_URL", None)
    return subprocess.run(
        [GDX, *args], env=environment, capture_output=True, text=True, timeout=120
    )


def test_an_error_naming_a_file_with_brackets_prints_it_as_it_is(tmp_path):
    gdx("init", "--warehouse-only", home=tmp_path)
    path = tmp_path / f"{TRICKY}.csv"
    result = gdx("load", str(path), *LOAD, home=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"error: {path}: file not found\n"


def test_a_failed_batch_names_the_file_as_it_is(tmp_path):
    gdx("init", "--warehouse-only", home=tmp_path)
    path = tmp_path / f"{TRICKY}.csv"
    path.write_text("姓名\n张三\n", encoding="utf-8")
    result = gdx("load", str(path), *LOAD, home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {path}: required column for field id_number")


def test_headers_and_file_names_in_a_summary_are_printed_as_they_are(tmp_path):
    gdx("init", "--warehouse-only", home=tmp_path)
    path = tmp_path / f"{TRICKY}.csv"
    path.write_text(
        HEADER.replace("\n", ",[b]备注[/b]\n") + ZHANG.replace("\n", ",x\n"), encoding="utf-8"
    )
    result = gdx("load", str(path), *LOAD, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unknown columns (not loaded): [b]备注[/b]" in result.stdout
    again = gdx("load", str(path), *LOAD, home=tmp_path)
    assert f"skipped — {path} is identical" in again.stdout


def test_an_error_is_one_line_whatever_the_text_holds(capsys):
    print_error("bad\nname\x1b[31m\r\u2028[red]x[/red]")
    raised = fail("again [a-z]")
    assert raised.exit_code == 1
    assert capsys.readouterr().err == (
        "error: bad\\nname\\x1b[31m\\r\\u2028[red]x[/red]\nerror: again [a-z]\n"
    )


def test_table_cells_are_literal_and_styles_come_from_text(capsys):
    table = Table("name", "state")
    table.add_row("[red]张三[/red] [a-z] :smile:\t", styled("late [x]", "red"))
    wide().print(table)
    shown = capsys.readouterr().out
    assert "[red]张三[/red] [a-z] :smile:\\t" in shown and "late [x]" in shown


def test_visible_keeps_printable_text_and_escapes_the_rest():
    assert visible("公民身份号码 [a-z] 'x'") == "公民身份号码 [a-z] 'x'"
    assert visible("a\tb\x00c\x85d") == "a\\tb\\x00c\\x85d"
