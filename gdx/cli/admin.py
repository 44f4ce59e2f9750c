"""Administration commands: golden records, registered sources, quality, API consumers."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gdx.cli.console import catalog as _catalog
from gdx.cli.console import fail, json_text, out, styled, when
from gdx.cli.table import Column, show

sources_app = typer.Typer(help="The registered department sources.")
consumers_app = typer.Typer(help="Register the approval systems that call the API.")
quality_app = typer.Typer(help="Data quality figures of the base libraries.")
records_app = typer.Typer(help="Golden records as administrators see them: provenance, history.")


def _key(resource, raw: str) -> str:
    from quality.keys import BadKey, normalize_key

    try:
        return normalize_key(resource, raw)
    except BadKey as exc:
        raise fail(str(exc)) from None


@records_app.command("show")
def records_show(
    resource: Annotated[str, typer.Argument(help="Resource code, e.g. population.person.")],
    key: Annotated[str, typer.Argument(help="The record's key.")],
    as_of: Annotated[
        str | None,
        typer.Option(help="Show it as it was at this time (ISO 8601, local without offset)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One golden record, unmasked: each field with the department and batch that supplied it,
    and the open conflicts between departments."""
    import datetime as dt

    from runtime import clock
    from warehouse import engine, records

    spec = _catalog().resource(resource)
    value = _key(spec, key)
    with engine.create().connect() as conn:
        if as_of:
            try:
                moment = dt.datetime.fromisoformat(as_of)
            except ValueError:
                raise fail(f"--as-of: {as_of!r} is not an ISO 8601 time") from None
            moment = moment if moment.tzinfo else moment.replace(tzinfo=clock.zone())
            record, origin, disputes = records.as_of(conn, spec, value, moment), {}, []
        else:
            record = records.by_key(conn, spec, value)
            origin = records.provenance(conn, spec, record) if record else {}
            disputes = records.conflicts(conn, spec, value)
    if record is None:
        moment_text = f" at {as_of}" if as_of else ""
        raise fail(f"no {resource} record with {spec.key} {value}{moment_text}")
    fields = {f.name: record.get(f.name) for f in spec.fields}
    if as_json:
        report = {"resource": resource, "key": value, "state": record["_state"]}
        report |= {"fields": fields, "provenance": origin, "conflicts": disputes}
        out.print_json(json_text(report), indent=None)
        return
    out.print(f"{resource} {value}: {record['_state']}", highlight=False)
    rows = []
    for name, field_value in fields.items():
        source = origin.get(name, {})
        rows.append(
            [
                name,
                "" if field_value is None else str(field_value),
                source.get("department", ""),
                source.get("batch_id", ""),
                when(source.get("supplied_at")),
            ]
        )
    columns = [Column("field"), Column("value", "text"), Column("supplied by"), Column("batch")]
    show([*columns, Column("at", drop=1)], rows)
    for item in disputes:
        out.print(
            f"conflict on {item['field']}: {item['winner_department']} "
            f"{item['winner_value']!r} (kept) vs {item['other_department']} "
            f"{item['other_value']!r}, since batch {item['found_batch']}",
            highlight=False,
        )


@records_app.command("history")
def records_history(
    resource: Annotated[str, typer.Argument(help="Resource code, e.g. population.person.")],
    key: Annotated[str, typer.Argument(help="The record's key.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every version of a golden record, oldest first: what changed, by which batch, when."""
    from warehouse import engine, records

    spec = _catalog().resource(resource)
    value = _key(spec, key)
    with engine.create().connect() as conn:
        versions = records.history(conn, spec, value)
    if not versions:
        raise fail(f"no {resource} record with {spec.key} {value}")
    if as_json:
        out.print_json(json_text(versions), indent=None)
        return
    columns = [Column("valid from"), Column("op"), Column("state", drop=1)]
    columns += [Column("changed", "words"), Column("department"), Column("batch")]
    rows = [
        [
            when(version["_valid_from"]),
            version["_op"],
            version["_state"],
            version["_changed"] or "",
            version["_department"],
            version["_batch_id"],
        ]
        for version in versions
    ]
    show(columns, rows)


@sources_app.command("list")
def sources_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False):
    """Every registered source with its last run, state and rows."""
    from warehouse import engine
    from warehouse.sources_report import sources_report

    with engine.create().connect() as conn:
        report = sources_report(conn, _catalog())
    if as_json:
        out.print_json(json_text(report, times=("last_run",)), indent=None)
        return
    columns = [Column("source"), Column("kind", drop=2), Column("into")]
    columns += [Column("schedule", drop=3), Column("last run"), Column("status")]
    columns += [Column("rows", justify="right"), Column("state", "words", drop=1)]
    rows = []
    for row in report:
        status = row["last_status"] or "never run"
        style = {"failed": "red", "loaded": "green"}.get(row["last_status"] or "", "yellow")
        count = "" if row["rows_read"] is None else f"{row['rows_loaded']}/{row['rows_read']}"
        rows.append(
            [
                row["source"],
                row["kind"],
                row["resource"],
                row["schedule"],
                when(row["last_run"]),
                styled(status, style),
                count,
                row["state_summary"],
            ]
        )
    show(columns, rows)


@quality_app.command("report")
def quality_report(
    resource: Annotated[str | None, typer.Option(help="Only this resource.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pass rates per resource and rule over every committed batch."""
    from warehouse import engine
    from warehouse.quality_report import latest_docs, pass_rates

    if resource:
        _catalog().resource(resource)
    with engine.create().connect() as conn:
        report = pass_rates(conn, resource)
        docs = latest_docs(conn, resource)
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False), indent=None)
        return
    columns = [Column("resource"), Column("rule")]
    columns += [
        Column(header, justify="right", drop=drop)
        for header, drop in (("rows checked", 2), ("rejected", 0), ("warned", 1), ("pass rate", 0))
    ]
    rows = [
        [
            row["resource"],
            row["rule"],
            str(row["rows_checked"]),
            str(row["rejected"]),
            str(row["warned"]),
            f"{row['pass_rate']:.2%}",
        ]
        for row in report
    ]
    show(columns, rows)
    for code, path in docs.items():
        out.print(f"Data Docs of the latest {code} batch: {path}", highlight=False)
    if docs:
        from runtime import settings

        home = settings.data_docs_dir() / "index.html"
        out.print(f"Data Docs of every batch: {home}", highlight=False)


@quality_app.command("docs")
def quality_docs(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write the Data Docs' Home and every resource's page again from the batch folders."""
    from quality.docs_home import rebuild
    from runtime import settings

    site = rebuild(settings.data_docs_dir())
    if as_json:
        found = {"home": str(site.home), "resources": site.resources, "batches": site.batches}
        found["unreadable"] = [str(path) for path in site.unreadable]
        out.print_json(json.dumps(found, ensure_ascii=False), indent=None)
    else:
        out.print(
            f"Data Docs home: {site.home} ({site.resources} resources, {site.batches} batches)",
            highlight=False,
        )
    if site.unreadable:
        more = f" (and {len(site.unreadable) - 1} more)" if len(site.unreadable) > 1 else ""
        raise fail(f"{site.unreadable[0]}: not a batch record of the Data Docs, left out{more}")


@consumers_app.command("add")
def consumers_add(
    name: Annotated[str, typer.Argument(help="Name of the approval system.")],
    department: Annotated[str, typer.Option(help="Department the consumer belongs to.")],
    admin: Annotated[
        bool,
        typer.Option(
            "--admin",
            help="The department's data administrator: decides access requests to the "
            "department's resources (over the API), instead of an approval system.",
        ),
    ] = False,
) -> None:
    """Register a consumer and print its API key (shown once; only its hash is stored)."""
    from warehouse import consumers, engine

    _catalog().department(department)
    role = "admin" if admin else "consumer"
    with engine.create().begin() as conn:
        consumer, key = consumers.add(conn, name, department, role)
    out.print(f"{role} {consumer.id} {consumer.name} ({consumer.department})", highlight=False)
    out.print(f"API key (shown once, keep it safe): {key}", highlight=False)
