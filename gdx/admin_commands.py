"""Administration commands: registered sources, quarantine, API consumers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gdx.console import catalog as _catalog
from gdx.console import fail, out, styled, wide

sources_app = typer.Typer(help="The registered department sources.")
quarantine_app = typer.Typer(help="Rows that broke the rules: list them, export them to fix.")
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

    from rich.table import Table

    from quality.dates import zone
    from warehouse import engine, records

    spec = _catalog().resource(resource)
    value = _key(spec, key)
    with engine.create().connect() as conn:
        if as_of:
            try:
                moment = dt.datetime.fromisoformat(as_of)
            except ValueError:
                raise fail(f"--as-of: {as_of!r} is not an ISO 8601 time") from None
            moment = moment if moment.tzinfo else moment.replace(tzinfo=zone())
            record, origin, disputes = records.as_of(conn, spec, value, moment), {}, []
        else:
            record = records.by_key(conn, spec, value)
            origin = records.provenance(conn, spec, record) if record else {}
            disputes = records.conflicts(conn, spec, value)
    if record is None:
        when = f" at {as_of}" if as_of else ""
        raise fail(f"no {resource} record with {spec.key} {value}{when}")
    fields = {f.name: record.get(f.name) for f in spec.fields}
    if as_json:
        report = {"resource": resource, "key": value, "state": record["_state"]}
        report |= {"fields": fields, "provenance": origin, "conflicts": disputes}
        out.print_json(json.dumps(report, ensure_ascii=False, default=str), indent=None)
        return
    out.print(f"{resource} {value}: {record['_state']}", highlight=False)
    table = Table("field", "value", "supplied by", "batch", "at")
    for name, field_value in fields.items():
        source = origin.get(name, {})
        table.add_row(
            name,
            "" if field_value is None else str(field_value),
            source.get("department", ""),
            source.get("batch_id", ""),
            str(source.get("supplied_at") or "")[:19],
        )
    wide().print(table)
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
    from rich.table import Table

    from warehouse import engine, records

    spec = _catalog().resource(resource)
    value = _key(spec, key)
    with engine.create().connect() as conn:
        versions = records.history(conn, spec, value)
    if not versions:
        raise fail(f"no {resource} record with {spec.key} {value}")
    if as_json:
        out.print_json(json.dumps(versions, ensure_ascii=False, default=str), indent=None)
        return
    table = Table("valid from", "op", "state", "changed", "department", "batch")
    for version in versions:
        table.add_row(
            str(version["_valid_from"])[:19],
            version["_op"],
            version["_state"],
            version["_changed"],
            version["_department"],
            version["_batch_id"],
        )
    wide().print(table)


@sources_app.command("list")
def sources_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False):
    """Every registered source with its last run, state and rows."""
    from rich.table import Table

    from warehouse import engine
    from warehouse.sources_report import sources_report

    with engine.create().connect() as conn:
        report = sources_report(conn, _catalog())
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False, default=str), indent=None)
        return
    table = Table("source", "kind", "into", "schedule", "last run", "status", "rows", "state")
    for row in report:
        status = row["last_status"] or "never run"
        style = {"failed": "red", "loaded": "green"}.get(row["last_status"] or "", "yellow")
        rows = "" if row["rows_read"] is None else f"{row['rows_loaded']}/{row['rows_read']}"
        table.add_row(
            row["source"],
            row["kind"],
            row["resource"],
            row["schedule"],
            (row["last_run"] or "")[:19],
            styled(status, style),
            rows,
            row["state_summary"],
        )
    wide().print(table)


@quarantine_app.command("list")
def quarantine_list(
    resource: Annotated[str, typer.Option(help="Resource code.")] = "population.person",
    batch: Annotated[str | None, typer.Option(help="Only this batch.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Quarantined rows of a resource, newest batch first, with the rules they broke."""
    from rich.table import Table

    from gdx import quarantine_report
    from warehouse import engine

    declared = _catalog().resource(resource)
    with engine.create().connect() as conn:
        found = quarantine_report.rows(conn, declared, batch=batch, limit=limit)
    if as_json:
        out.print_json(json.dumps(found, ensure_ascii=False, default=str), indent=None)
        return
    table = Table("batch", "department", "line", "key", "rules (中文)", "since")
    for row in found:
        reasons = [quarantine_report.explain(declared, rule)[0] for rule in row["rules"]]
        since = (
            f"retried in {row['retried_in']}"
            if row["retried_in"]
            else f"superseded by {row['superseded_by']}"
            if row.get("superseded_by")
            else "waiting"
        )
        table.add_row(
            row["batch_id"],
            row["department"],
            str(row["line"]),
            row["record_key"] or "",
            "；".join(reasons),
            since,
        )
    wide().print(table)
    out.print(f"{len(found)} rows shown (at most {limit})", highlight=False)


@quarantine_app.command("export")
def quarantine_export(
    file: Annotated[Path, typer.Argument(help="CSV file to write.")],
    resource: Annotated[str, typer.Option(help="Resource code.")],
    department: Annotated[str, typer.Option(help="The department that sent the rows.")],
    batch: Annotated[
        str | None, typer.Option(help="Batch (default: the department's latest).")
    ] = None,
    encoding: Annotated[str, typer.Option(help="utf-8-sig (Excel), utf-8 or gbk.")] = "utf-8-sig",
    force: Annotated[
        bool,
        typer.Option(
            help="Replace FILE if it exists (a regular file you may write; never a device, "
            "a directory, a link or a read-only file)."
        ),
    ] = False,
) -> None:
    """Write a department's rejected rows, as it sent them, with the reasons in zh and en, to
    a new FILE (or, with --force, over an existing one)."""
    from gdx import output_file, quarantine_report
    from warehouse import engine

    catalog = _catalog()
    declared, _ = catalog.resource(resource), catalog.department(department)
    try:
        output_file.check(file, force)  # before the query: refused is refused at once
    except output_file.OutputRefused as exc:
        raise fail(str(exc)) from None
    with engine.create().connect() as conn:
        batch = batch or quarantine_report.latest_batch(conn, declared, department)
        if batch is None:
            raise fail(f"no loaded batch of {resource} from {department}")
        found = quarantine_report.rows(conn, declared, batch=batch, department=department)
    try:
        count = quarantine_report.export(declared, found, file, encoding, force)
    except output_file.OutputRefused as exc:
        raise fail(str(exc)) from None
    except (OSError, LookupError, UnicodeEncodeError) as exc:
        raise fail(f"{file}: {exc}") from None
    out.print(f"wrote {count} rows of batch {batch} to {file}", highlight=False)


@quarantine_app.command("retry")
def quarantine_retry(
    batch: Annotated[str, typer.Argument(help="The batch whose quarantined rows to retry.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Re-validate a batch's quarantined rows (after a rule fix): passing rows merge, once."""
    from gdx.retry import retry

    summary = retry(batch, catalog=_catalog())
    if as_json:
        out.print_json(json.dumps(summary.as_dict(), ensure_ascii=False), indent=None)
    else:
        out.print(
            f"retry {summary.batch_id} of {batch}: {summary.rows_read} rows re-validated, "
            f"{summary.rows_loaded} merged, {summary.rows_unchanged} unchanged, "
            f"{summary.rows_quarantined} quarantined again",
            highlight=False,
        )


@quality_app.command("report")
def quality_report(
    resource: Annotated[str | None, typer.Option(help="Only this resource.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pass rates per resource and rule over every committed batch."""
    from rich.table import Table

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
    table = Table("resource", "rule", "rows checked", "rejected", "warned", "pass rate")
    for row in report:
        table.add_row(
            row["resource"],
            row["rule"],
            str(row["rows_checked"]),
            str(row["rejected"]),
            str(row["warned"]),
            f"{row['pass_rate']:.2%}",
        )
    wide().print(table)
    for code, path in docs.items():
        out.print(f"Data Docs of the latest {code} batch: {path}", highlight=False)
    if docs:
        from warehouse import settings

        home = settings.data_docs_dir() / "index.html"
        out.print(f"Data Docs of every batch: {home}", highlight=False)


@quality_app.command("docs")
def quality_docs(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write the Data Docs' Home and every resource's page again from the batch folders."""
    from quality.docs_home import rebuild
    from warehouse import settings

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
