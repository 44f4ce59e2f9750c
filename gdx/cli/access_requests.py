"""`gdx requests`: the access requests to departments' resources, and their decisions."""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Annotated, Any

import typer

from gdx.cli.console import catalog as _catalog
from gdx.cli.console import fail, json_text, out, styled, when
from gdx.cli.table import Column, show

requests_app = typer.Typer(
    help="Access requests to departments' resources: list them, approve, refuse, revoke."
)

DepartmentOption = Annotated[
    str, typer.Option(help="The deciding department (the resource's provider).")
]
PLAIN: dict[str, Any] = {"markup": False, "highlight": False}  # user text is printed as is
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who decides (default: the login name).")
]


def _department(code: str) -> str:
    _catalog().department(code)
    return code


def _by(name: str | None) -> str:
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "gdx requests"


def _decide(action: str, **arguments: Any) -> dict:
    from warehouse import engine, grants

    change = getattr(grants, action)
    try:
        with engine.writing(engine.create()) as conn:
            return change(conn, **arguments)
    except grants.GrantError as exc:
        raise fail(exc.message) from None


def _line(found: dict) -> str:
    return (
        f"request {found['id']} {found['status']}: {found['resource']} "
        f"[{', '.join(found['fields'])}] for {found['consumer'] or found['consumer_id']} "
        f"({found['department']}), service item {found['service_item']}"
    )


def _day_end(last_day: dt.date) -> dt.datetime:
    """When a grant to the end of `last_day` stops: 00:00 local time of the next day (as
    warehouse/grants.py approves it)."""
    from runtime import clock

    return dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=clock.zone())


@requests_app.command("list")
def requests_list(
    department: Annotated[
        str | None, typer.Option(help="Only requests addressed to this (provider) department.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="pending, approved, expired, refused, revoked or withdrawn."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Access requests, newest first, with their deadline (10 working days) and status.

    `until` is the end of the grant (as asked, while pending): the instant it stops, 00:00
    local time (GDX_TIMEZONE) of the day after its last day.
    """
    from warehouse import engine, grants

    if department:
        _department(department)
    try:
        with engine.create().connect() as conn:
            found = grants.listing(conn, provider=department, status=status, limit=limit)
    except grants.GrantError as exc:
        raise fail(exc.message) from None
    if as_json:
        out.print_json(json_text(found), indent=None)
        return
    columns = [Column("id", justify="right"), Column("resource"), Column("fields", "words")]
    columns += [Column("consumer", "words"), Column("service item", drop=1)]
    columns += [Column("status"), Column("decide by", "words"), Column("until")]
    rows = []
    for item in found:
        deadline = str(item["decide_by"])
        if item["overdue"]:
            deadline = styled(f"{deadline} overdue", "red")
        rows.append(
            [
                str(item["id"]),
                item["resource"],
                ", ".join(item["fields"]),
                f"{item['consumer'] or item['consumer_id']} ({item['department']})",
                item["service_item"],
                item["status"],
                deadline,
                when(item["expires_at"] or _day_end(item["requested_until"])),
            ]
        )
    show(columns, rows)
    out.print(f"{len(found)} requests shown (at most {limit})", highlight=False)


@requests_app.command("approve")
def requests_approve(
    request_id: Annotated[int, typer.Argument(metavar="ID", help="The request's id.")],
    department: DepartmentOption,
    until: Annotated[
        str | None,
        typer.Option(help="Last day of the grant, YYYY-MM-DD (default: as asked; never later)."),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (optional).")] = None,
    by: ByOption = None,
) -> None:
    """Approve a pending request: its fields are served until the end of the last day."""
    last_day = None
    if until:
        try:
            last_day = dt.date.fromisoformat(until)
        except ValueError:
            raise fail(f"--until: {until!r} is not a date (YYYY-MM-DD)") from None
    found = _decide(
        "approve",
        request_id=request_id,
        admin_department=_department(department),
        decided_by=_by(by),
        reason=reason,
        until=last_day,
    )
    out.print(f"{_line(found)}, until {when(found['expires_at'])}", **PLAIN)


@requests_app.command("refuse")
def requests_refuse(
    request_id: Annotated[int, typer.Argument(metavar="ID", help="The request's id.")],
    department: DepartmentOption,
    reason: Annotated[str, typer.Option(help="Why (required).")],
    by: ByOption = None,
) -> None:
    """Refuse a pending request, with a reason."""
    found = _decide(
        "refuse",
        request_id=request_id,
        admin_department=_department(department),
        decided_by=_by(by),
        reason=reason,
    )
    out.print(f"{_line(found)}: {found['reason']}", **PLAIN)


@requests_app.command("revoke")
def requests_revoke(
    request_id: Annotated[int, typer.Argument(metavar="ID", help="The request's id.")],
    department: DepartmentOption,
    reason: Annotated[str, typer.Option(help="Why (required).")],
    by: ByOption = None,
) -> None:
    """Revoke an approved request: the grant stops working at once."""
    found = _decide(
        "revoke",
        request_id=request_id,
        admin_department=_department(department),
        revoked_by=_by(by),
        reason=reason,
    )
    out.print(f"{_line(found)}: {found['revoke_reason']}", **PLAIN)
