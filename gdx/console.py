"""What every command shares: the consoles, the one-line failure, the catalog.

Everything printed is literal: file names, headers, department text and values come from
outside, and rich would read `[red]` or `[a-z]` in them as markup (and `:smile:` as an emoji).
The consoles have markup and emoji off; colour is given with `Text` and styles instead. Line
breaks and control characters are shown as escapes (`\\n`, `\\x1b`): outside text can neither
split a one-line error nor send the terminal escape sequences.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text


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
    from warehouse import settings

    return settings.catalog()


def wide() -> Console:
    """The console for tables: the terminal, or a wide one when the output is a file or pipe."""
    return out if out.is_terminal else LiteralConsole(width=170)
