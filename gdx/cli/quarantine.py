"""`gdx quarantine`: rows that broke the rules — list them, export them to fix, retry them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gdx.cli.console import catalog as _catalog
from gdx.cli.console import fail, json_text, out
from gdx.cli.table import Column, show

quarantine_app = typer.Typer(help="Rows that broke the rules: list them, export them to fix.")


@quarantine_app.command("list")
def quarantine_list(
    resource: Annotated[
        str | None, typer.Option(help="Only this resource (default: every resource).")
    ] = None,
    batch: Annotated[str | None, typer.Option(help="Only this batch.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Quarantined rows, newest batch first, with the rules they broke, and how many rows wait
    for a fix in all."""
    from gdx import quarantine_report
    from warehouse import engine

    catalog = _catalog()
    declared = [catalog.resource(resource)] if resource else list(catalog.resources.values())
    found, total, held, holding = [], 0, 0, 0
    with engine.create().connect() as conn:
        for spec in declared:
            rows = quarantine_report.rows(conn, spec, batch=batch, limit=limit)
            found += [row | {"resource": spec.code} for row in rows]
            quarantined, waiting = quarantine_report.counts(conn, spec, batch=batch)
            total, held, holding = total + quarantined, held + waiting, holding + bool(waiting)
    # batch ids sort by time across resources: newest batch first, then by line
    found.sort(key=lambda row: (row["line"] or 0, row["id"]))
    found.sort(key=lambda row: row["batch_id"], reverse=True)
    found = found[:limit]
    if as_json:
        out.print_json(json_text(found), indent=None)
        return
    columns = [Column("resource")] if resource is None else []
    columns += [Column("batch"), Column("department", drop=2)]
    columns += [Column("line", justify="right"), Column("key"), Column("rules (中文)", "text")]
    rows = []
    for row in found:
        spec = catalog.resource(row["resource"])
        reasons = [quarantine_report.explain(spec, rule)[0] for rule in row["rules"]]
        since = (
            f"retried in {row['retried_in']}"
            if row["retried_in"]
            else f"superseded by {row['superseded_by']}"
            if row.get("superseded_by")
            else "waiting"
        )
        cells = [row["batch_id"], row["department"], str(row["line"]), row["record_key"] or ""]
        rows.append([*([row["resource"]] if resource is None else []), *cells])
        rows[-1] += ["；".join(reasons), since]
    show([*columns, Column("state", "words", drop=1)], rows)
    counted = (total, held, holding)
    out.print(_quarantine_total(resource, batch, len(found), counted), highlight=False)


def _quarantine_total(
    resource: str | None, batch: str | None, shown: int, counted: tuple[int, int, int]
) -> str:
    """How many rows wait for a fix in all (not only those shown), and how many are shown."""
    total, held, holding = counted
    rows = f"{held:,} row" if held == 1 else f"{held:,} rows"
    of = (f" of {resource}" if resource else "") + (f" in batch {batch}" if batch else "")
    wait = "waits" if held == 1 else "wait"
    across = ""
    if resource is None and holding:
        across = f" across {holding} resource" + ("s" if holding > 1 else "")
    line = f"{rows}{of} {wait} in quarantine{across} ({total:,} quarantined in all, retried or "
    line += "superseded included); "
    return line + ("all shown" if shown == total else f"showing the first {shown} (--limit N)")


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
    from quality.runner import warm

    warm()  # Great Expectations' import and set-up, in a thread beside the retry's own
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
