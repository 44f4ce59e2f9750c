"""`gdx demo`: demo data -> every collection DAG in Airflow -> the API, on the embedded default."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from gdx import airflow_setup, connections
from gdx.demodata import DEMO_API_TOKEN, write_demo_data
from gdx.demodata.api import serve_licences
from gdx.errors import GdxError
from warehouse import consumers, directory, grants, settings, tables
from warehouse import engine as engines
from warehouse.tables import batch_ledger, for_resource

DEMO_CONSUMER = "demo-approval-system"
DEMO_ADMIN = "demo-hr-administrator"
DEMO_PURPOSE = "000212017000"  # 基本医疗保险关系转移接续
CONDITIONAL = "human_resources.insurance_payment"
PUBLISH_DAG = "publish_directory"


def dag_id(source: str) -> str:
    return f"collect_{source.replace('.', '_')}"


def run_demo(console: Console, people: int, port: int, serve_api: bool) -> None:
    catalog = settings.catalog()
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

    engine = engines.create()
    tables.init_schema(engine, catalog)
    airflow_setup.migrate()
    airflow_home = airflow_setup.environment()["AIRFLOW_HOME"]
    console.print(
        f"2/4 warehouse {engines.describe(engine)} and Airflow metadata ready (Airflow home "
        f"{airflow_home})",
        highlight=False,
    )

    collections = [dag_id(code) for code in catalog.sources]
    states = airflow_setup.test_dags([*collections, PUBLISH_DAG])
    licence_api.shutdown()
    failed = sorted(d for d, state in states.items() if state != "success")
    if failed:
        raise GdxError(f"DAGs failed: {', '.join(failed)} (see `gdx collect`, `gdx publish`)")
    console.print(f"3/4 {len(collections)} collection DAGs and {PUBLISH_DAG} ran:", highlight=False)
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
                f"batches (read {batches[1] or 0}, loaded {batches[2] or 0}, quarantined "
                f"{batches[3] or 0})",
                highlight=False,
            )

    person = for_resource(catalog.resource("population.person")).golden
    payment = for_resource(catalog.resource(CONDITIONAL)).golden
    item = catalog.service_item(DEMO_PURPOSE)
    with engine.begin() as conn:
        consumers.revoke_named(conn, DEMO_CONSUMER)
        consumers.revoke_named(conn, DEMO_ADMIN)
        consumer, key = consumers.add(conn, DEMO_CONSUMER, "government_services")
        _, admin_key = consumers.add(conn, DEMO_ADMIN, "human_resources", "admin")
        phone_from = batch_ledger.alias("phone_from")
        example, name = conn.execute(
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
        ).one()
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
    base = f"http://127.0.0.1:{port}"
    console.print(f"4/4 demo consumer {DEMO_CONSUMER} (government_services), API key: {key}")
    console.print(
        f"    its access request {request['id']} to {CONDITIONAL} (shared on conditions) for "
        f"{item.code} {item.name_zh} was approved by {DEMO_ADMIN}, API key: {admin_key}",
        highlight=False,
    )
    head = f"curl -H 'X-API-Key: {key}' -H 'X-Purpose: {item.code}'"
    console.print(
        "example calls (every data call names its purpose, a service item code):",
        highlight=False,
    )
    for line in (
        f"{head} {base}/api/v1/resources/population.person/records/{example}",
        f"{head} -H 'Content-Type: application/json' -d "
        f'\'{{"id_number": "{example}", "name": "{name}"}}\' {base}/api/v1/verify/citizen',
        f"{head} '{base}/api/v1/service-items/{item.code}/materials?applicant={example}'",
        f"curl -H 'X-API-Key: {key}' '{base}/api/v1/catalog?q=社会保险'",
        f"curl {base}/healthz",
    ):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    console.print(
        f"  gdx records show population.person {example}   (fields from three departments, "
        "with provenance and conflicts)",
        highlight=False,
    )
    console.print("  gdx audit verify   (every call above is in the hash-chained audit log)")
    console.print(f"  open {base}/docs", highlight=False)
    if serve_api:
        import uvicorn

        from services.app import create_app

        console.print(f"serving the API on {base} (Ctrl-C to stop)", highlight=False)
        uvicorn.run(create_app(engine, catalog), host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
