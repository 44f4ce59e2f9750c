"""`gdx audit`: verify the hash chain of the audit log, and query it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from gdx.cli.console import fail, json_text, out, visible, when
from gdx.cli.table import Column, show

audit_app = typer.Typer(help="The tamper-evident audit log of every data call.")


def _moment(option: str, value: str | None) -> dt.datetime | None:
    """An ISO 8601 time; without an offset it is local time (GDX_TIMEZONE)."""
    from runtime.clock import zone

    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"{option}: {value!r} is not an ISO 8601 time (e.g. 2024-05-01T08:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone())


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the whole chain: exit 1 naming the first altered, deleted or inserted record."""
    from warehouse import audit, engine

    with engine.create().connect() as conn:
        result = audit.verify(conn)
    if not result.ok:
        raise fail(f"audit log broken at seq {result.bad_seq}: {result.reason}")
    if not result.records:
        out.print("audit log intact: 0 records (empty)", highlight=False)
        return
    head = result.head[:16] if result.head else ""
    out.print(f"audit log intact: {result.records} records, head {head}", highlight=False)


@audit_app.command("query")
def audit_query(
    consumer: Annotated[
        str | None, typer.Option(help="Only this consumer (its name, or its id).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="At or after this time (ISO 8601, local without offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this time (ISO 8601, local without offset).")
    ] = None,
    resource: Annotated[str | None, typer.Option(help="Only calls of this resource.")] = None,
    person: Annotated[
        str | None, typer.Option(help="Only the portal actions of this person (user name).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many records.", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object a line.")] = False,
) -> None:
    """Audit records, oldest first: who called for what, for which purpose, and the answer; a
    portal action shows its person, their department and the action."""
    from rich.text import Text

    from warehouse import audit, engine

    start, end = _moment("--since", since), _moment("--until", until)
    with engine.create().connect() as conn:
        found = audit.query(
            conn,
            consumer=consumer,
            since=start,
            until=end,
            resource=resource,
            limit=limit,
            person=person,
        )
    if as_json:
        for record in found:
            out.print(json_text(record), highlight=False, markup=False, emoji=False)
        return
    columns = [Column("seq", justify="right"), Column("at"), Column("who")]
    columns += [Column("purpose", drop=2), Column("call", "words"), Column("resource")]
    columns += [Column("keys", "words"), Column("fields", "words", drop=1)]
    rows = []
    for record in found:
        status = str(record["status"])
        if record["reason"]:
            status += f" {record['reason']}"
        cells = (
            str(record["seq"]),
            when(record["at"]),
            _who(record),
            record["purpose"] or "",
            (f"{record['action']}: " if record.get("action") else "")
            + f"{record['method']} {record['path']}",
            record["resource"] or "",
            ", ".join(record["keys"]),
            ", ".join(record["fields"]),
            status,
        )
        rows.append([Text(visible(cell)) for cell in cells])  # never read as markup
    show([*columns, Column("status", "text")], rows)
    out.print(f"{len(found)} records shown (at most {limit})", highlight=False)


def _who(record: dict) -> str:
    """The consumer of an API call; the person (and department) of a portal action."""
    if record.get("person"):
        return record["person"] + (f" ({record['department']})" if record["department"] else "")
    return record["consumer"] or ""
