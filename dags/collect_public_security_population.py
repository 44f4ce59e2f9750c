"""
### Collect the public-security household extract into the population library

Daily, the file registered as source `public_security.population` (catalog_schema/sources.yaml)
goes through the hub's pipeline — read, normalise, validate, quarantine, merge with history —
as one all-or-nothing batch. The task returns the batch summaries (counts only).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

SOURCE = "public_security.population"


@dag(
    dag_id="collect_public_security_population",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["gdx", "collect", "population", "public_security"],
    default_args={"retries": 2},
)
def collect_public_security_population():
    @task
    def collect() -> list[dict]:
        from gdx.pipeline import collect as collect_source

        return [summary.as_dict() for summary in collect_source(SOURCE)]

    collect()


collect_public_security_population()
