"""Tables people copy from.

A value someone copies into the next command — a resource or department code, a batch id, a
key, a path, a time — is never cut. Its column is as wide as its widest value and never wraps
(`whole`), or wraps only between words, never inside one (`words`); only free text (`text`: a
rule's reason) may fold inside a long word. When the terminal is too narrow, the least useful
columns are left out first and the table says which (--json has them all). When even the columns
that stay do not fit side by side, each row is printed as a record: `header value` pairs, every
value whole on one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gdx.cli.console import styled, visible, wide

TEXT_FLOOR = 20  # a `text` column keeps at least this many cells before columns are left out
EDGES = 3  # each column adds two cells of padding and one of border; the table one more

Kind = Literal["whole", "words", "text"]
Cell = str | Text


@dataclass(frozen=True)
class Column:
    """A table column: `kind` says how its values may break (see the module); `drop` orders
    the columns left out when the terminal is too narrow (highest first, 0 never)."""

    header: str
    kind: Kind = "whole"
    drop: int = 0
    justify: Literal["left", "right"] = "left"


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else visible(cell)


def _longest_word(cell: Cell) -> int:
    return max((cell_len(word) for word in _plain(cell).split()), default=0)


def least_width(column: Column, cells: Sequence[Cell]) -> int:
    """The cells a column needs: `whole` its widest value (or header), `words` its longest
    word, `text` its longest word up to TEXT_FLOOR."""
    if column.kind == "whole":
        return max(cell_len(_plain(cell)) for cell in [column.header, *cells])
    longest = max(_longest_word(cell) for cell in [column.header, *cells])
    return max(1, longest if column.kind == "words" else min(longest, TEXT_FLOOR))


def _spread(width: int, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[int]:
    """Widths within `width`: each column as wide as its widest value, the widest wrapping
    columns narrowed first, none below its least width."""
    cells = [[row[index] for row in rows] for index in range(len(columns))]
    least = [least_width(column, found) for column, found in zip(columns, cells, strict=True)]
    widths = [
        max(cell_len(_plain(cell)) for cell in [column.header, *found])
        if column.kind != "whole"
        else least[index]
        for index, (column, found) in enumerate(zip(columns, cells, strict=True))
    ]
    excess = sum(widths) + EDGES * len(widths) + 1 - width
    while excess > 0:
        narrower = [i for i, column in enumerate(columns) if widths[i] > least[i]]
        if not narrower:
            break
        widest = max(narrower, key=lambda i: (widths[i], i))
        widths[widest] -= 1
        excess -= 1
    return widths


def fit(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """The indexes of the columns to show in `width` cells: all of them if they fit, else
    without the columns of highest `drop` (the later first among equals) until they do; None
    when even the columns never left out do not fit side by side."""
    least = [least_width(column, [row[i] for row in rows]) for i, column in enumerate(columns)]
    kept = list(range(len(columns)))
    while sum(least[i] + EDGES for i in kept) + 1 > width:
        droppable = [i for i in kept if columns[i].drop]
        if not droppable:
            return None
        kept.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    return kept


def show(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], console: Console | None = None
) -> list[str]:
    """Print the rows on `console` (default: gdx.cli.console.wide()) as a table, or as records
    when no table fits; returns the headers of the columns left out for the width."""
    console = console or wide()
    kept = fit(columns, rows, console.width)
    if kept is None:
        _records(columns, rows, console)
        return []
    shown = [columns[i] for i in kept]
    picked = [[row[i] for i in kept] for row in rows]
    table = Table()
    for column, width in zip(shown, _spread(console.width, shown, picked), strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            width=width,
            no_wrap=column.kind == "whole",
            overflow="fold",  # never "…": a word longer than a `text` column folds
        )
    for row in picked:
        table.add_row(*row)
    console.print(table, crop=False)
    left_out = [column.header for index, column in enumerate(columns) if index not in kept]
    if left_out:
        console.print(
            f"left out for the width ({console.width} columns): {', '.join(left_out)} "
            "(a wider terminal or --json shows them)",
            highlight=False,
        )
    return left_out


def _records(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], console: Console) -> None:
    """Each row as lines of `header value` pairs, then a blank line: the `whole` values packed
    side by side while they fit, each whole on one line; the wrapping values on lines of their
    own; empty values left out."""
    for row in rows:
        line = Text()
        for column, cell in zip(columns, row, strict=True):
            if column.kind != "whole" or not _plain(cell):
                continue
            pair = styled(column.header, "bold") + " " + _cell(cell)
            if line and cell_len(line.plain) + 2 + cell_len(pair.plain) > console.width:
                console.print(line, crop=False, no_wrap=True, overflow="ignore")
                line = Text()
            if line:
                line.append("  ")
            line.append_text(pair)
        if line:
            console.print(line, crop=False, no_wrap=True, overflow="ignore")
        for column, cell in zip(columns, row, strict=True):
            if column.kind == "text" and _plain(cell):
                console.print(
                    styled(column.header, "bold") + " " + _cell(cell),
                    crop=False,
                    overflow="fold",
                    soft_wrap=False,  # the terminal's console soft-wraps; a record wraps here
                )
            elif column.kind == "words" and _plain(cell):
                pair = styled(column.header, "bold") + " " + _cell(cell)
                for part in _between_words(pair, console.width):
                    console.print(part, crop=False, no_wrap=True, overflow="ignore")
        console.print()  # a blank line after each record


def _between_words(text: Text, width: int) -> list[Text]:
    """`text` in lines of at most `width` cells, broken only between words: a word wider than
    that stands whole on a line of its own (rich wraps only by folding such a word)."""
    plain, offsets, start = text.plain, [], 0
    for word in re.finditer(r"\S+", plain):
        if word.start() > start and cell_len(plain[start : word.end()]) > width:
            offsets.append(word.start())
            start = word.start()
    lines = list(text.divide(offsets))
    for line in lines:
        line.rstrip()  # the space a line was broken at
    return lines


def _cell(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(visible(cell))
