"""What every command shares: the consoles, the one-line failure, the catalog."""

from __future__ import annotations

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr; raise what this returns to exit with status 1."""
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def catalog():
    from warehouse import settings

    return settings.catalog()


def wide() -> Console:
    """The console for tables: the terminal, or a wide one when the output is a file or pipe."""
    return out if out.is_terminal else Console(width=170)
