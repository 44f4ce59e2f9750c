"""
### Collection DAGs, one per registered source

Generated from the source registry (`catalog_schema/sources.yaml`): each DAG runs its source
through the hub's pipeline (read, normalise, validate, quarantine, merge with history) on the
source's schedule, or its resource's update cycle. The task returns the batch summaries.

The task runs in its base library's pool (one load per library at a time) and updates the
library's Asset, which triggers `publish_directory`. Re-running it changes nothing more: a file
already loaded is skipped, and incremental reads start from the committed watermark.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from catalog_schema import Source, configured_catalog
from gdx.airflow.assets import library_asset, pool_name

SCHEDULES = {
    "realtime": "*/10 * * * *",
    "hourly": "@hourly",
    "daily": "@daily",
    "weekly": "@weekly",
    "monthly": "@monthly",
    "quarterly": "0 0 1 */3 *",
    "yearly": "@yearly",
}


def collection_dag(source: Source, library: str, cycle: str):
    @dag(
        dag_id=f"collect_{source.code.replace('.', '_')}",
        schedule=SCHEDULES.get(source.schedule or cycle, source.schedule or cycle),
        start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,
        doc_md=f"{__doc__}\n\n**{source.code}** ({source.department} → {source.resource}): "
        f"{source.description}",
        tags=["gdx", "collect", library, source.department, source.kind],
        default_args={"retries": 2},
    )
    def collect_source():
        @task(pool=pool_name(library), outlets=[library_asset(library)])
        def collect() -> list[dict]:
            from gdx.pipeline import collect as run

            return [summary.as_dict() for summary in run(source.code)]

        collect()

    return collect_source()


_catalog = configured_catalog()
for _source in _catalog.sources.values():
    _resource = _catalog.resource(_source.resource)
    globals()[f"collect_{_source.code.replace('.', '_')}"] = collection_dag(
        _source, _resource.group, _resource.update_cycle
    )
