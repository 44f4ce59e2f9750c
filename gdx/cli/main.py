"""The `gdx` command: every command has --help; bad input is one line on stderr and exit 1."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from gdx.cli.access_requests import requests_app
from gdx.cli.admin import consumers_app, quality_app, records_app, sources_app
from gdx.cli.airflow import airflow_command
from gdx.cli.audit import audit_app
from gdx.cli.backup import backup_command, restore_command
from gdx.cli.catalog import catalog_app
from gdx.cli.command_help import MARKUP_MODE, HelpGroup
from gdx.cli.console import catalog as _catalog
from gdx.cli.console import err, fail, out, print_error, styled
from gdx.cli.quarantine import quarantine_app
from gdx.cli.users import users_app
from gdx.errors import GdxError

app = typer.Typer(
    help="gdx — the government data sharing and exchange hub (数据共享交换平台).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=HelpGroup,  # flags without `<bool>`
    rich_markup_mode=MARKUP_MODE,  # help wrapped between words
)
app.add_typer(consumers_app, name="consumers")
app.add_typer(sources_app, name="sources")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(quality_app, name="quality")
app.add_typer(records_app, name="records")
app.add_typer(catalog_app, name="catalog")
app.add_typer(requests_app, name="requests")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.command("airflow")(airflow_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)

NUMBERS = (  # the settings `gdx serve` checks before it starts a worker
    "GDX_API_POOL",
    "GDX_RATE_LIMIT",
    "GDX_BODY_TIMEOUT_SECONDS",
    "GDX_PORTAL_SESSION_MINUTES",
    "GDX_PORTAL_LOCKOUT_FAILURES",
    "GDX_PORTAL_LOCKOUT_MINUTES",
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per batch.")]


@app.command()
def init(
    warehouse_only: Annotated[
        bool, typer.Option("--warehouse-only", help="Skip Airflow (its home and metadata DB).")
    ] = False,
) -> None:
    """Prepare the deployment in GDX_HOME (idempotent, never drops data): create or upgrade
    the warehouse schema; write the hub's settings into the airflow.cfg of AIRFLOW_HOME (else
    GDX_HOME/airflow; other settings kept, a changed file's old text in airflow.cfg.bak); create
    or upgrade Airflow's metadata DB (GDX_HOME/airflow/airflow.db) and its pools."""
    from gdx.airflow import setup as airflow_setup
    from warehouse import engine, tables

    catalog = _catalog()
    db = engine.create()
    changes = tables.init_schema(db, catalog)
    out.print(f"warehouse {engine.describe(db)}: " + (", ".join(changes) or "up to date"))
    if not warehouse_only:
        out.print(f"airflow: {airflow_setup.migrate()}", highlight=False)


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(summary.as_dict(), ensure_ascii=False), indent=None)
        return
    s = summary
    if s.status == "skipped":
        out.print(
            f"batch {s.batch_id} {s.resource} from {s.department}: skipped — {s.file} is "
            f"identical to the file of batch {s.same_as}, already loaded (--force reads it)",
            highlight=False,
        )
        return
    out.print(
        f"batch {s.batch_id} {s.resource} from {s.department}: {s.status} — read {s.rows_read}, "
        f"loaded {s.rows_loaded} (new {s.rows_inserted}, changed {s.rows_updated}), "
        f"unchanged {s.rows_unchanged}, duplicate {s.rows_duplicate}, "
        f"quarantined {s.rows_quarantined} in {s.seconds:.2f}s",
        highlight=False,
    )
    if s.records_changed or s.conflicts or s.rows_withdrawn:
        out.print(
            f"  golden records changed {s.records_changed}, withdrawn by the snapshot "
            f"{s.rows_withdrawn}, new conflicts with other departments {s.conflicts}",
            highlight=False,
        )
    if s.withdrawal_held:
        out.print("  snapshot had unreadable rows: no key was withdrawn", highlight=False)
    for rule, count in s.rejected_by_rule.items():
        out.print(f"  rejected by {rule}: {count}", highlight=False)
    for rule, count in s.warned_by_rule.items():
        out.print(f"  loaded with a warning from {rule}: {count}", highlight=False)
    if s.unknown_columns:
        out.print(f"  unknown columns (not loaded): {', '.join(s.unknown_columns)}", markup=False)
    if s.withheld_columns:
        fields = ", ".join(f"{header} ({name})" for header, name in s.withheld_columns.items())
        out.print(
            f"  columns of fields {s.department} is no source of (not loaded): {fields}",
            markup=False,
            highlight=False,
        )


@app.command()
def load(
    file: Annotated[Path, typer.Argument(help="Department file (CSV or XLSX).")],
    source: Annotated[
        str | None,
        typer.Option(
            help="A registered source (gdx sources list): the file is its delivery, under its "
            "department's authority, field list and mapping."
        ),
    ] = None,
    resource: Annotated[
        str | None, typer.Option(help="Resource code, e.g. population.person (ad-hoc file).")
    ] = None,
    department: Annotated[
        str | None,
        typer.Option(help="Delivering department, e.g. public_security (ad-hoc file)."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="auto, utf-8, utf-8-sig, gbk or gb18030.")] = "auto",
    force: Annotated[
        bool, typer.Option(help="Read a file this department already loaded (else skipped).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Load one file through the whole pipeline as one batch.

    Give --source, or --resource and --department. Either way the department writes only what
    the directory makes it the source of (一数一源): a resource it has no registered source for is
    refused, and columns of fields its sources do not declare are not read.
    """
    from quality.runner import warm

    warm()  # Great Expectations' 2-4 s of import and set-up, in a thread beside the load's own
    from gdx.pipeline import load_file

    if source is not None:
        registered = _catalog().source(source)
        if resource not in (None, registered.resource) or department not in (
            None,
            registered.department,
        ):
            raise fail(
                f"--source {source} delivers {registered.resource} for "
                f"{registered.department}; drop --resource/--department or make them agree"
            )
        resource, department = registered.resource, registered.department
    elif resource is None or department is None:
        raise fail("give --source CODE, or both --resource and --department")
    summary = load_file(file, resource, department, encoding=encoding, force=force, source=source)
    _print_summary(summary, as_json)


@app.command()
def collect(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Registered source codes (default: all).")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="Read files the department already loaded (else they are skipped)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Collect registered sources (what the Airflow tasks call)."""
    from quality.runner import warm

    warm()  # Great Expectations' 2-4 s of import and set-up, in a thread beside the reads
    from gdx.pipeline import collect as collect_source

    catalog = _catalog()
    failed = 0
    for code in sources or list(catalog.sources):
        try:
            summaries = collect_source(code, catalog=catalog, force=force)
        except GdxError as exc:
            for summary in getattr(exc, "summaries", []):
                _print_summary(summary, as_json)
            print_error(f"{code}: {exc}")
            failed += 1
            continue
        for summary in summaries:
            _print_summary(summary, as_json)
        if not summaries and not as_json:
            out.print(f"{code}: nothing new", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Freshness: per resource and source, last success, records, staleness against the update
    cycle (late sources in red), open conflicts and quarantine."""
    import datetime as dt

    from gdx.cli.console import json_text, when
    from gdx.cli.table import Column, show
    from runtime import clock
    from warehouse import engine, running
    from warehouse.status import batch_activity, resource_status, source_status

    catalog = _catalog()
    db = engine.create()
    running.reap(db)  # a batch whose process is gone is failed, `interrupted`
    now = clock.now()
    with db.connect() as conn:
        sources = source_status(conn, catalog, now)
        resources = resource_status(conn, catalog)
        batches = batch_activity(conn, now, dt.timedelta(days=1))
    if as_json:
        report = {"resources": resources, "sources": sources} | batches
        times = ("last_success", "last_update", "started_at")
        out.print_json(json_text(report, times=times), indent=None)
        return
    counts = [Column(name, justify="right") for name in ("conflicts", "quarantined")]
    show(
        [
            Column("resource"),
            Column("records", justify="right"),
            *(Column(name, justify="right", drop=1) for name in ("ended", "removed")),
            Column("last update"),
            *counts,
        ],
        [
            [
                row["resource"],
                *(str(row[name]) for name in ("records", "ended", "removed")),
                when(row["last_update"], "never"),
                _warn(row["conflicts"]),
                _warn(row["quarantined"]),
            ]
            for row in resources
        ],
    )
    _show_sources(sources, counts)
    for state, color in (("running", "yellow"), ("interrupted", "red")):
        for row in batches[state]:
            line = styled(state, color)
            line += (
                f" batch {row['batch_id']} {row['resource']} from {row['department']}"
                f" ({row['source'] or 'gdx load'}), started {when(row['started_at'])}"
            )
            out.print(line)
    out.print(
        "quarantined: rows not yet retried; conflicts: open disagreements between departments"
    )


def _show_sources(sources: list[dict], counts: list) -> None:
    """`gdx status`'s table of sources: last success (local), age, late or on time."""
    from gdx.cli.console import when
    from gdx.cli.table import Column, show

    rows = []
    for row in sources:
        state = styled("late", "red") if row["late"] else styled("on time", "green")
        if row["failed_since"]:
            state += styled(" (last run failed)", "red")
        age = "" if row["age_hours"] is None else str(row["age_hours"])
        rows.append(
            [
                row["source"],
                row["cycle"],
                when(row["last_success"], "never"),
                age,
                state,
                str(row["records"]),
                _warn(row["conflicts"]),
                _warn(row["quarantined"]),
            ]
        )
    columns = [Column("source"), Column("cycle", drop=2), Column("last success")]
    columns += [Column("age (h)", justify="right", drop=3), Column("state", "words")]
    show([*columns, Column("records", justify="right"), *counts], rows)


def _warn(count: int) -> str:
    return styled(count, "yellow") if count else "0"


@app.command()
def refresh(
    today: Annotated[
        str | None, typer.Option(help="Date to derive for (YYYY-MM-DD); default today.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Bring derived data up to date with the calendar: expired licences (过期) and every
    subject's credit status. The publish DAG runs it daily and whenever a library changes."""
    import datetime as dt

    from gdx.refresh import refresh as run

    try:
        day = dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise fail(f"--today: {today!r} is not a date (YYYY-MM-DD)") from None
    report = run(catalog=_catalog(), today=day)
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False), indent=None)
        return
    for row in report:
        out.print(
            f"{row['resource']}: {row['expired']} records expired, {row['subjects_changed']} "
            f"subjects changed status (batch {row['batch_id']}, as of {row['today']})",
            highlight=False,
        )


@app.command()
def publish(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Recompute the directory's figures per resource: records, last update, freshness against
    the update cycle, quality pass rate, open conflicts (the publish DAG runs it)."""
    from gdx.cli.console import json_text, when
    from gdx.cli.table import Column, show
    from gdx.publish import publish as run

    report = run(catalog=_catalog())
    if as_json:
        times = ("last_update", "last_collected", "computed_at")
        out.print_json(json_text(report, times=times), indent=None)
        return
    rows = [
        [
            row["resource"],
            str(row["records"]),
            when(row["last_update"], "never"),
            styled("yes", "green") if row["fresh"] else styled("no", "red"),
            "" if row["pass_rate"] is None else f"{row['pass_rate']:.2%}",
            _warn(row["open_conflicts"]),
        ]
        for row in report
    ]
    columns = [Column("resource"), Column("records", justify="right"), Column("last update")]
    columns += [Column("fresh"), Column("pass rate", justify="right")]
    show([*columns, Column("open conflicts", justify="right")], rows)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [GDX_API_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port, 1 to 65535; 0 picks a free one [GDX_API_PORT].")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (at least 1).")] = 1,
) -> None:
    """Serve the data-service API (OpenAPI at /docs); prints where it listens."""
    import uvicorn

    from gdx import serving
    from runtime import settings

    workers = serving.worker_count(workers)
    if port is None:
        port = serving.port_number(settings.get("GDX_API_PORT"), "GDX_API_PORT")
    else:
        port = serving.port_number(port, "--port")
    host_from = "--host" if host else "GDX_API_HOST"
    host = host or settings.get("GDX_API_HOST")
    _catalog()  # a broken declaration is one line here, not a traceback from every worker
    for setting in NUMBERS:  # a bad number
        settings.positive(setting)
    port = serving.claim(host, port, host_from)  # a busy port or a bad host: one line, exit 1
    serving.shared_state(err, port, workers)
    serving.announce(out, host, port, workers)
    uvicorn.run(
        "gdx.web:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


@app.command("demo-data")
def demo_data(
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to write the extracts into (default: GDX_INCOMING_DIR, the folder the "
            "registered sources are read from).",
        ),
    ] = None,
    people: Annotated[int, typer.Option(help="People in the population extract.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 7,
    defect_rate: Annotated[float, typer.Option(help="Share of rows that break a rule.")] = 0.03,
    serve_api: Annotated[
        bool, typer.Option("--serve", help="Then serve the transport bureau's licence API.")
    ] = False,
    api_port: Annotated[int, typer.Option(help="Port of the demo licence API.")] = 8765,
) -> None:
    """Write realistic department extracts for every registered source."""
    from gdx import connections, serving
    from gdx.demo.data import write_demo_data
    from runtime import settings

    incoming = settings.incoming_dir()
    out_dir = out_dir or incoming
    api_port = serving.port_number(api_port, "--api-port")
    if serve_api:  # a busy port is said before the files are written, in one line
        api_port = serving.claim("127.0.0.1", api_port)
    try:
        manifest = write_demo_data(out_dir, _catalog(), people, seed, defect_rate, api_port)
    except ValueError as exc:
        raise fail(str(exc)) from None
    for source, extract in manifest.extracts.items():
        defects = sum(extract.defects.values())
        out.print(
            f"{source}: {extract.rows} rows ({defects} defective) in {extract.path}",
            highlight=False,
        )
    connections.save(settings.connections_file(), manifest.connections)
    out.print(
        f"connections {', '.join(manifest.connections)} saved in {settings.connections_file()}",
        highlight=False,
    )
    if out_dir.resolve() != incoming.resolve():
        out.print(
            f"note: the registered sources are read from GDX_INCOMING_DIR ({incoming}); "
            f"for `gdx collect` to read these files, set GDX_INCOMING_DIR={out_dir.resolve()}",
            highlight=False,
        )
    if not serve_api:
        out.print(
            f"transport.licences is read from the demo licence API on port {api_port}: "
            "`gdx demo-data --serve` (same options) also serves it; leave that running while "
            "`gdx collect` runs",
            highlight=False,
        )
    if serve_api:
        import time

        from gdx.demo.data import DEMO_API_TOKEN
        from gdx.demo.data.api import serve_licences

        document = Path(manifest.extracts["transport.licences"].path)
        serve_licences(document, DEMO_API_TOKEN, port=api_port)
        out.print(
            f"serving the licence API on http://127.0.0.1:{api_port}/licences (Ctrl-C to stop)",
            highlight=False,
        )
        while True:
            time.sleep(3600)


@app.command()
def demo(
    people: Annotated[int, typer.Option(help="People in the demo population.")] = 10_000,
    port: Annotated[int, typer.Option(help="Port of the API.")] = 8000,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API at the end.")
    ] = True,
) -> None:
    """The main job on the embedded default: demo data, every collection DAG, the API."""
    from gdx.demo.job import run_demo

    run_demo(out, people=people, port=port, serve_api=serve_api)


def main() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # SIGTERM unwinds like Ctrl-C: a batch rolls back and its ledger row says `interrupted`
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    from catalog_schema import CatalogError
    from runtime.clock import ClockError

    try:
        app()
    except (GdxError, CatalogError, ClockError) as exc:  # the message names file, field, setting
        print_error(str(exc))
        sys.exit(1)
    except Exception as exc:  # a bug or an unreachable service: one line, not a traceback
        if os.environ.get("GDX_DEBUG"):
            raise
        name = type(exc).__name__
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if any(hint in detail for hint in ("no such table", "no such column", "does not exist")):
            detail += " — the warehouse schema is out of date: run `gdx init`"
        print_error(f"{name}: {detail} (GDX_DEBUG=1 shows the traceback)")
        sys.exit(1)
