"""`gdx demo`: demo data -> every collection DAG in Airflow -> the API, on the embedded default."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shlex
import shutil
import socket
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from catalog_schema import Catalog, configured_catalog
from gdx import connections, serving
from gdx.airflow import setup as airflow_setup
from gdx.airflow.run import run_dags
from gdx.demo.data import DEMO_API_TOKEN, write_demo_data
from gdx.demo.data.api import serve_licences
from gdx.errors import GdxError
from runtime import settings
from warehouse import consumers, directory, grants, people, tables
from warehouse import engine as engines
from warehouse.tables import batch_ledger, for_resource

DEMO_CONSUMER = "demo-approval-system"
DEMO_ADMIN = "demo-hr-administrator"
DEMO_PEOPLE = (  # the portal's demo accounts: user name, name, department, role
    ("demo-hub", "平台管理员（演示）", "government_services", "hub_admin"),
    ("demo-hr", "人社局数据管理员（演示）", "human_resources", "department_admin"),
    ("demo-integrator", "审批系统对接员（演示）", "government_services", "integrator"),
)
DEMO_PURPOSE = "000212017000"  # 基本医疗保险关系转移接续
CONDITIONAL = "human_resources.insurance_payment"
PUBLISH_DAG = "publish_directory"


def dag_id(source: str) -> str:
    return f"collect_{source.replace('.', '_')}"


def run_demo(console: Console, people: int, port: int, serve_api: bool) -> None:
    port = serving.port_number(port, "--port")
    if serve_api:  # a busy port is said now, not after a minute of work
        port = serving.claim("127.0.0.1", port)
    catalog = configured_catalog()
    licence_api = _demo_data(console, catalog, people)
    try:
        engine = _ready(console, catalog)
        _run_dags(console, engine, catalog)
    finally:
        licence_api.shutdown()
    _libraries(console, engine, catalog)
    _examples(console, engine, catalog, port)
    if serve_api:
        import uvicorn

        from gdx.web import create_app

        serving.announce(console, "127.0.0.1", port, 1)
        uvicorn.run(create_app(engine, catalog), host="127.0.0.1", port=port, log_level="warning")


def _demo_data(console: Console, catalog: Catalog, people: int) -> ThreadingHTTPServer:
    """Step 1: the extracts, their connections and the licence API (returned, serving)."""
    api_port = _free_port()
    manifest = write_demo_data(settings.incoming_dir(), catalog, people=people, api_port=api_port)
    connections.save(settings.connections_file(), manifest.connections)
    licence_api = serve_licences(
        Path(manifest.extracts["transport.licences"].path), DEMO_API_TOKEN, port=api_port
    )
    console.print(
        f"1/4 demo data: {manifest.rows} rows from {len(manifest.extracts)} department sources "
        f"in {settings.incoming_dir()} (licence API on port {api_port})",
        highlight=False,
    )
    return licence_api


def _ready(console: Console, catalog: Catalog) -> sa.Engine:
    """Step 2: the warehouse schema, Airflow's home and metadata DB."""
    engine = engines.create()
    tables.init_schema(engine, catalog)
    airflow_setup.migrate()
    airflow_home = airflow_setup.environment()["AIRFLOW_HOME"]
    console.print(
        f"2/4 warehouse {engines.describe(engine)} and Airflow metadata ready (Airflow home "
        f"{airflow_home})",
        highlight=False,
    )
    return engine


def _run_dags(console: Console, engine: sa.Engine, catalog: Catalog) -> None:
    """Step 3: every collection DAG, then the publish DAG, a line as each one finishes."""
    collections = {dag_id(code): code for code in catalog.sources}
    console.print(
        f"3/4 running {len(collections)} collection DAGs, then {PUBLISH_DAG} (dag.test(), "
        "one process; Airflow starts up first):",
        highlight=False,
    )
    with engine.connect() as conn:
        earlier = set(conn.execute(sa.select(batch_ledger.c.batch_id)).scalars())
    done = iter(range(1, len(collections) + 2))

    def progress(dag: str, state: str, seconds: float) -> None:
        line = f"   {next(done):>2}/{len(collections) + 1} {dag}: {state} in {seconds:.1f}s"
        if dag in collections:
            with engine.connect() as conn:
                line += f" — {_batches(conn, collections[dag], earlier)}"
        console.print(line, highlight=False)

    states = run_dags([*collections, PUBLISH_DAG], progress)
    failed = sorted(d for d, state in states.items() if state != "success")
    if failed:
        raise GdxError(f"DAGs failed: {', '.join(failed)} (see `gdx collect`, `gdx publish`)")


def _libraries(console: Console, engine: sa.Engine, catalog: Catalog) -> None:
    """What each base library holds after the DAGs ran."""
    console.print("    the libraries now:", highlight=False)
    with engine.connect() as conn:
        figures = directory.published(conn)
    with engine.connect() as conn:
        for code, resource in catalog.resources.items():
            batches = conn.execute(
                sa.select(
                    sa.func.count(), sa.func.sum(batch_ledger.c.rows_read),
                    sa.func.sum(batch_ledger.c.rows_loaded),
                    sa.func.sum(batch_ledger.c.rows_quarantined),
                ).where(batch_ledger.c.resource == code, batch_ledger.c.status == "loaded")
            ).one()  # fmt: skip
            contrib = for_resource(resource).contribution
            shared = conn.execute(
                sa.select(sa.func.count()).select_from(
                    sa.select(contrib.c[resource.key])
                    .group_by(contrib.c[resource.key])
                    .having(sa.func.count() > 1)
                    .subquery()
                )
            ).scalar_one()
            figure = figures[code]
            console.print(
                f"    {code}: {figure['records']} records ({shared} combining several "
                f"departments, {figure['open_conflicts']} open conflicts) from {batches[0]} "
                f"batch{'' if batches[0] == 1 else 'es'} (read {batches[1] or 0}, "
                f"loaded {batches[2] or 0}, quarantined {batches[3] or 0})",
                highlight=False,
            )


def _examples(console: Console, engine: sa.Engine, catalog: Catalog, port: int) -> None:
    """Step 4: the demo consumer, its approved access request and the example calls."""
    person = for_resource(catalog.resource("population.person")).golden
    disputes = for_resource(catalog.resource("population.person")).conflict
    payment = for_resource(catalog.resource(CONDITIONAL)).golden
    item = catalog.service_item(DEMO_PURPOSE)
    with engine.begin() as conn:
        consumers.revoke_named(conn, DEMO_CONSUMER)
        consumers.revoke_named(conn, DEMO_ADMIN)
        consumer, key = consumers.add(conn, DEMO_CONSUMER, "government_services")
        _, admin_key = consumers.add(conn, DEMO_ADMIN, "human_resources", "admin")
        example, name, disputed = _example_person(conn, person, payment, disputes)
        request = grants.file(
            conn,
            catalog,
            consumer,
            CONDITIONAL,
            ["insured_region", "insurance_types", "first_paid_on", "months_paid"],
            "核验参保缴费情况，办理基本医疗保险关系转移接续",
            DEMO_PURPOSE,
            dt.date.today() + dt.timedelta(days=90),
        )
        grants.approve(conn, request["id"], "human_resources", DEMO_ADMIN)
        password = _portal_people(conn, catalog)
    base = serving.base_url("127.0.0.1", port)
    console.print(f"4/4 demo consumer {DEMO_CONSUMER} (government_services), API key: {key}")
    console.print(
        f"    its access request {request['id']} to {CONDITIONAL} (shared on conditions) for "
        f"{item.code} {item.name_zh} was approved by {DEMO_ADMIN}, API key: {admin_key}",
        highlight=False,
    )
    _calls(console, base, key, item.code, (example, name, disputed))
    console.print(
        f"  open {base}/portal/   (the portal: sign in as "
        + ", ".join(username for username, *_ in DEMO_PEOPLE)
        + f", password {password})",
        highlight=False,
    )


def _portal_people(conn: sa.Connection, catalog: Catalog) -> str:
    """The portal's demo accounts, with a new password (returned) at every run; the
    integrator acts for the demo consumer just registered."""
    password = secrets.token_urlsafe(9)
    for username, name, department, role in DEMO_PEOPLE:
        consumer = DEMO_CONSUMER if role == "integrator" else None
        if people.exists(conn, username):
            people.set_password(conn, username, password)
            if consumer:
                people.act_for(conn, username, consumer)
        else:
            people.add(
                conn, username, name, department, role, password, catalog.departments, consumer
            )
    return password


def _calls(
    console: Console, base: str, key: str, purpose: str, person: tuple[str, str, str | None]
) -> None:
    """The example calls, each working as printed: curl lines and `gdx` lines."""
    example, name, disputed = person
    head = f"curl -H 'X-API-Key: {key}' -H 'X-Purpose: {purpose}'"
    console.print(
        "example calls (every data call names its purpose, a service item code):",
        highlight=False,
    )
    for line in (
        f"{head} {base}/api/v1/resources/population.person/records/{example}",
        # the name is warehouse data: JSON-encoded, then quoted for the shell
        f"{head} -H 'Content-Type: application/json' -d {_shell_json(example, name)} "
        f"{base}/api/v1/verify/citizen",
        f"{head} '{base}/api/v1/service-items/{purpose}/materials?applicant={example}'",
        # curl sends a URL as typed, and a raw 社 in it is an invalid request: encoded here
        f"curl -G -H 'X-API-Key: {key}' --data-urlencode 'q=社会保险' {base}/api/v1/catalog",
        f"curl {base}/healthz",
    ):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    shown = "with provenance" + (f" and the open conflict on {disputed}" if disputed else "")
    gdx = _gdx_command()
    console.print(
        f"  {gdx} records show population.person {example}   (fields from three departments, "
        f"{shown})",
        highlight=False,
    )
    console.print(
        f"  {gdx} audit verify   (every call above is in the hash-chained audit log)",
        highlight=False,
    )
    console.print(f"  open {base}/docs", highlight=False)


def _batches(conn: sa.Connection, source: str, earlier: set[str]) -> str:
    """What a collection DAG's run did: its new batches of the source, in one phrase."""
    rows = conn.execute(
        sa.select(
            batch_ledger.c.batch_id, batch_ledger.c.status, batch_ledger.c.rows_read,
            batch_ledger.c.rows_loaded, batch_ledger.c.rows_quarantined,
        ).where(batch_ledger.c.source == source)
    ).all()  # fmt: skip
    rows = [row for row in rows if row.batch_id not in earlier]
    loaded = [row for row in rows if row.status == "loaded"]
    if not loaded:
        statuses = ", ".join(sorted({row.status for row in rows})) or "no batch"
        return f"nothing loaded ({statuses})"
    count = f"{len(loaded)} batch" + ("es" if len(loaded) > 1 else "")
    return (
        f"{count}, read {sum(r.rows_read for r in loaded)}, loaded "
        f"{sum(r.rows_loaded for r in loaded)}, quarantined "
        f"{sum(r.rows_quarantined for r in loaded)}"
    )


def _example_person(conn: sa.Connection, person: sa.Table, payment: sa.Table, disputes: sa.Table):
    """The person the example calls name: (id number, name, field of an open conflict or None).

    Active, with a name and a marital status, a phone from human resources and insurance
    payments: fields from three departments and the conditional resource. One whose phone
    civil affairs disputes is preferred, so that `gdx records show` has a conflict to show.
    """
    phone_from = batch_ledger.alias("phone_from")
    query = (
        sa.select(person.c.id_number, person.c.name)
        .join(phone_from, phone_from.c.batch_id == person.c._src_phone)
        .join(payment, payment.c.id_number == person.c.id_number)
        .where(
            person.c.name.is_not(None),
            person.c.marital_status.is_not(None),
            person.c._state == "active",
            phone_from.c.department == "human_resources",
        )
        .order_by(person.c.id_number)
        .limit(1)
    )
    open_conflict = sa.and_(
        disputes.c.record_key == person.c.id_number, disputes.c.resolved_at.is_(None)
    )
    disputed = conn.execute(
        query.add_columns(disputes.c.field).join(disputes, open_conflict)
    ).first()
    if disputed is not None:
        return tuple(disputed)
    example, name = conn.execute(query).one()
    return example, name, None


def _shell_json(id_number: str, name: str) -> str:
    """The verification body as one shell word: `'{"id_number": "…", "name": "…"}'`."""
    return shlex.quote(json.dumps({"id_number": id_number, "name": name}, ensure_ascii=False))


def _gdx_command() -> str:
    """`gdx` when the PATH finds this one, else its full path: the advice works as printed."""
    own = Path(sys.executable).parent / "gdx"
    found = shutil.which("gdx")
    if not own.is_file() or (found and Path(found).resolve() == own.resolve()):
        return "gdx"
    return shlex.quote(str(own))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
