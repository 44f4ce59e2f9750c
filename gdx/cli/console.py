"""What every command shares: the consoles, the one-line failure, the catalog.

Everything printed is literal: file names, headers, department text and values come from
outside, and rich would read `[red]` or `[a-z]` in them as markup (and `:smile:` as an emoji).
The consoles have markup and emoji off; colour is given with `Text` and styles instead. Line
breaks and control characters are shown as escapes (`\\n`, `\\x1b`): outside text can neither
split a one-line error nor send the terminal escape sequences.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from runtime import clock


def visible(text: str) -> str:
    """The text with every unprintable character (line breaks, tabs, ESC ...) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class LiteralConsole(Console):
    """A console that prints strings (lines and table cells) as they are, escapes aside."""

    def __init__(self, **kwargs):
        super().__init__(markup=False, emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs) -> Text:
        return super().render_str(visible(text), **kwargs)


out = LiteralConsole(soft_wrap=True)
err = LiteralConsole(stderr=True, soft_wrap=True)


def error_line(message: str) -> Text:
    """`error: message`, the message as given (escapes aside), always one line."""
    return Text.assemble(("error:", "red"), " ", visible(str(message)))


def print_error(message: str) -> None:
    """Print `error: message` on stderr, literally."""
    err.print(error_line(message), highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr; raise what this returns to exit with status 1."""
    print_error(message)
    return typer.Exit(1)


def styled(text: object, style: str) -> Text:
    """A table cell or line in colour, its text literal."""
    return Text(visible(str(text)), style=style)


def catalog():
    from catalog_schema import configured_catalog

    return configured_catalog()


def wide() -> Console:
    """The console for tables: as wide as COLUMNS when it is set, else the terminal, or a wide
    one when the output is a file or pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return LiteralConsole(width=int(columns))
    return out if out.is_terminal else LiteralConsole(width=170)


def instant(value: dt.datetime | str | None) -> dt.datetime | None:
    """A stored time as a datetime: ISO 8601 text is read; naive stays naive (taken as UTC)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def when(value: dt.datetime | str | None, empty: str = "") -> str:
    """A time on screen: local (GDX_TIMEZONE) ISO 8601 with its offset, to the second."""
    return clock.shown(instant(value), empty)


def json_text(data: Any, times: tuple[str, ...] = ()) -> str:
    """`data` as JSON for --json: every datetime, and the ISO 8601 text under the keys `times`,
    as local ISO 8601 with offset (one clock with the screen and the API); dates as
    YYYY-MM-DD; anything else JSON has no type for as its text."""

    def local(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dt.datetime):
            return clock.iso(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str) and key in times:
            return clock.iso(instant(value))
        if isinstance(value, dict):
            return {name: local(item, name) for name, item in value.items()}
        if isinstance(value, list | tuple):
            return [local(item) for item in value]
        return value

    return json.dumps(local(data), ensure_ascii=False, default=str)
