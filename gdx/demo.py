"""`gdx demo`: demo data -> the collection DAG in Airflow -> the API, on the embedded default."""

from __future__ import annotations

import sqlalchemy as sa
from rich.console import Console

from catalog_schema import load_catalog
from gdx import airflow_setup
from gdx.demo_data import write_demo_data
from warehouse import consumers, settings, tables
from warehouse import engine as engines
from warehouse.tables import batch_ledger, for_resource

DAG_ID = "collect_public_security_population"
SOURCE = "public_security.population"
DEMO_CONSUMER = "demo-approval-system"


def run_demo(console: Console, people: int, port: int, serve_api: bool) -> None:
    catalog = load_catalog(settings.catalog_dir())
    incoming = settings.incoming_dir()
    manifest = write_demo_data(incoming, people=people)
    console.print(f"1/4 demo data: {manifest.rows} rows in {manifest.files[0]}", highlight=False)

    engine = engines.create()
    tables.init_schema(engine, catalog)
    airflow_setup.migrate()
    console.print(f"2/4 warehouse {engines.describe(engine)} and Airflow metadata ready")

    airflow_setup.test_dag(DAG_ID)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(batch_ledger)
            .where(batch_ledger.c.source == SOURCE)
            .order_by(batch_ledger.c.started_at.desc())
        ).first()
    batch = row._mapping
    console.print(
        f"3/4 DAG {DAG_ID} ran: batch {batch['batch_id']} read {batch['rows_read']}, "
        f"loaded {batch['rows_loaded']}, unchanged {batch['rows_unchanged']}, "
        f"duplicate {batch['rows_duplicate']}, quarantined {batch['rows_quarantined']}",
        highlight=False,
    )

    resource = catalog.resource("population.person")
    golden = for_resource(resource).golden
    with engine.begin() as conn:
        consumers.revoke_named(conn, DEMO_CONSUMER)
        _, key = consumers.add(conn, DEMO_CONSUMER, "government_services")
        example = conn.execute(
            sa.select(golden.c.id_number).order_by(golden.c.id_number).limit(1)
        ).scalar_one()
    base = f"http://127.0.0.1:{port}"
    console.print(f"4/4 demo consumer {DEMO_CONSUMER} (government_services), API key: {key}")
    console.print("example calls:", highlight=False)
    console.print(
        f"  curl -H 'X-API-Key: {key}' {base}/api/v1/resources/population.person/records/{example}",
        highlight=False,
    )
    console.print(f"  curl {base}/healthz", highlight=False)
    console.print(f"  open {base}/docs", highlight=False)
    if serve_api:
        import uvicorn

        from services.app import create_app

        console.print(f"serving the API on {base} (Ctrl-C to stop)", highlight=False)
        uvicorn.run(create_app(engine, catalog), host="127.0.0.1", port=port, log_level="warning")
