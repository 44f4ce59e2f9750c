"""Tables people copy from (gdx/cli/table.py): every identifier whole on one line, at any width."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len

from gdx.cli.console import LiteralConsole
from gdx.cli.table import Column, fit, show

BATCH = "20261206T012322.123456-abcdef"
RETRY = "20261207T080000.000001-012345"
RESOURCE = "human_resources.insurance_payment"
PATH = "/srv/gdx/incoming/market_regulation/enterprises-2026-12-06.csv"
REASON = "身份证号：不符合公民身份号码校验；性别：与身份证号不符"
COLUMNS = [
    Column("resource"),
    Column("batch"),
    Column("department", drop=2),
    Column("line", justify="right"),
    Column("key"),
    Column("rules (中文)", "text"),
    Column("state", "words", drop=1),
]
ROWS = [
    [RESOURCE, BATCH, "public_security", "12", "11010519491231002X", REASON, f"retried in {RETRY}"],
    ["population.person", BATCH, "civil_affairs", "7", "110105194912310021", REASON, "waiting"],
]
IDENTIFIERS = [RESOURCE, "population.person", BATCH, "11010519491231002X", "110105194912310021"]


def render(width: int, columns=COLUMNS, rows=ROWS) -> tuple[str, list[str]]:
    console = LiteralConsole(width=width, file=io.StringIO())
    left_out = show(columns, rows, console)
    return console.file.getvalue(), left_out


def on_one_line(text: str, value: str) -> bool:
    return any(value in line for line in text.splitlines())


@pytest.mark.parametrize("width", [80, 120, 170])
def test_every_identifier_is_whole_on_one_line_and_nothing_is_cut(width):
    text, _ = render(width)
    for value in IDENTIFIERS:
        assert on_one_line(text, value), (value, text)
    assert "…" not in text
    assert on_one_line(text, RETRY) or "state" in text.splitlines()[-1]  # shown, or left out


def test_at_120_the_least_useful_columns_are_left_out_first_and_named():
    text, left_out = render(120)
    assert left_out == ["department", "state"]  # `department` (drop 2) first, then `state`
    assert "left out for the width (120 columns): department, state" in text
    assert REASON[:8] in text  # the rules (drop 0) stay
    assert all(cell_len(line) <= 120 for line in text.splitlines()[:-1])  # the table fits


def test_wide_enough_every_column_shows():
    text, left_out = render(170)
    assert left_out == [] and "public_security" in text and "left out" not in text
    assert on_one_line(text, RETRY)
    assert all(cell_len(line) <= 170 for line in text.splitlines())


def test_at_80_rows_become_records_with_every_value():
    """Resource code, batch id and key are 81 cells side by side: no table fits in 80."""
    assert fit(COLUMNS, ROWS, 80) is None
    text, left_out = render(80)
    assert left_out == [] and "┃" not in text
    assert f"resource {RESOURCE}  batch {BATCH}" in text
    assert "department public_security" in text  # nothing is left out of a record
    assert f"state retried in {RETRY}" in text
    flat = "".join(line.strip() for line in text.splitlines())
    assert REASON in flat  # free text wraps (or folds), whole


def test_free_text_folds_but_a_words_column_breaks_only_between_words():
    columns = [Column("id"), Column("note", "text"), Column("fields", "words")]
    rows = [["1", "x" * 60, "uscc, legal_rep_id, registered_capital, registration_authority"]]
    text, _ = render(60, columns, rows)
    for word in ("legal_rep_id,", "registered_capital,", "registration_authority"):
        assert on_one_line(text, word)
    assert "x" * 60 not in text and text.count("x") == 60  # folded, not cut
    assert all(cell_len(line) <= 60 for line in text.splitlines())


def test_a_lone_identifier_wider_than_the_terminal_is_printed_whole():
    text, _ = render(40, [Column("path")], [[PATH]])
    assert on_one_line(text, PATH)


def test_cells_stay_literal():
    text, _ = render(120, [Column("name", "text")], [["[red]张三[/red] [a-z] :smile:\t"]])
    assert "[red]张三[/red] [a-z] :smile:\\t" in text


def test_a_record_wraps_a_words_value_between_words_within_the_width():
    """In a record, a `words` value longer than the terminal breaks between words only: every
    line within the width but a word wider than the terminal, which stands whole on its own."""
    fields = "name gender birth_date ethnicity household_address phone marital_status"
    columns = [Column("batch"), Column("resource"), Column("changed", "words")]
    text, _ = render(40, columns, [[BATCH, "population.person", f"{fields} {PATH} death_date"]])
    lines = text.splitlines()
    assert "┃" not in text  # a record: batch id and resource code are 58 cells side by side
    for word in [*fields.split(), "death_date"]:
        assert on_one_line(text, word)
    assert PATH in lines  # wider than 40: whole, alone
    assert all(cell_len(line) <= 40 for line in lines if line != PATH), text
    assert "changed name gender birth_date" in text
