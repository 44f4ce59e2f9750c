"""`gdx users`: the people who sign in to the portal (machines are `gdx consumers`)."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

from gdx.cli.console import catalog as _catalog
from gdx.cli.console import fail, json_text, out, when
from gdx.cli.table import Column, show

users_app = typer.Typer(
    help="People who sign in to the portal: add them, list them, disable or unlock them."
)
PLAIN = {"markup": False, "highlight": False}
UsernameArgument = Annotated[str, typer.Argument(help="The account's user name.")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if os.environ.get("GDX_NEW_PASSWORD"):
        return os.environ["GDX_NEW_PASSWORD"]
    if not sys.stdin.isatty():
        raise fail(
            "password: give it with --password-stdin or GDX_NEW_PASSWORD (no terminal to ask on)"
        )
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise fail("password: the two entries differ")
    return first


def _change(action, *arguments):
    from warehouse import engine, people

    try:
        with engine.writing(engine.create()) as conn:
            return action(conn, *arguments)
    except people.PersonError as exc:
        raise fail(str(exc)) from None


@users_app.command("add")
def users_add(
    username: UsernameArgument,
    department: Annotated[str, typer.Option(help="The person's department (a directory code).")],
    role: Annotated[
        str,
        typer.Option(
            help="hub_admin (supervision), department_admin (decides requests, manages the "
            "department's resources and deliveries) or integrator (an approval system's "
            "operator)."
        ),
    ],
    name: Annotated[
        str, typer.Option(help="Name shown on the portal (default: the user name).")
    ] = "",
    consumer: Annotated[
        str | None,
        typer.Option(help="An integrator's API consumer (`gdx consumers add`) it acts for."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of standard input."
        ),
    ] = False,
    sso_only: Annotated[
        bool,
        typer.Option(
            "--sso-only",
            help="No password: the person signs in only through the identity platform (OIDC).",
        ),
    ] = False,
) -> None:
    """Add a person. The password (at least 10 characters) is asked for twice on a terminal,
    or read from --password-stdin or GDX_NEW_PASSWORD; it is stored only as a scrypt hash."""
    from warehouse import people

    departments = _catalog().departments
    password = None if sso_only else _password(password_stdin)
    someone = _change(people.add, username, name, department, role, password, departments, consumer)
    out.print(
        f"added {someone.username} ({someone.display_name}), {someone.role} of "
        f"{someone.department}" + (f", acting for consumer {consumer}" if consumer else ""),
        **PLAIN,
    )


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every account: department, role, how it signs in, and whether it is locked or disabled."""
    from warehouse import engine, people

    with engine.create().connect() as conn:
        found = people.listing(conn)
    if as_json:
        out.print(json_text(found), **PLAIN)
        return
    if not found:
        out.print("no portal accounts yet: `gdx users add` adds one", **PLAIN)
        return
    columns = [
        Column("user name", "whole"),
        Column("name", "words", drop=3),
        Column("department", "whole"),
        Column("role", "whole"),
        Column("consumer", "whole", drop=2),
        Column("signs in with", "whole", drop=1),
        Column("state", "words"),
    ]
    rows = [
        [
            row["username"],
            row["name"],
            row["department"],
            row["role"],
            row["consumer"] or "",
            " + ".join(k for k in ("password", "oidc") if row[k]) or "oidc (not yet matched)",
            _state(row),
        ]
        for row in found
    ]
    show(columns, rows)


def _state(row: dict) -> str:
    if row["disabled_at"]:
        return "disabled since " + when(row["disabled_at"])
    if row["locked_until"]:
        from runtime import clock

        if row["locked_until"] > clock.now():
            return "locked until " + when(row["locked_until"])
    return "active"


@users_app.command("disable")
def users_disable(username: UsernameArgument) -> None:
    """Disable an account: its sessions end at once and it can no longer sign in."""
    from warehouse import people

    _change(people.disable, username)
    out.print(f"disabled {username}; its sessions have ended", **PLAIN)


@users_app.command("unlock")
def users_unlock(username: UsernameArgument) -> None:
    """Unlock an account locked after repeated wrong passwords."""
    from warehouse import people

    _change(people.unlock, username)
    out.print(f"unlocked {username}", **PLAIN)


@users_app.command("password")
def users_password(
    username: UsernameArgument,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of standard input."
        ),
    ] = False,
) -> None:
    """Set a new password (asked twice, or --password-stdin / GDX_NEW_PASSWORD); the account's
    sessions end."""
    from warehouse import people

    _change(people.set_password, username, _password(password_stdin))
    out.print(f"new password set for {username}; its sessions have ended", **PLAIN)
