"""
### Publish the directory

Runs whenever a base library changes (any collection task updates its library's Asset) and
daily at 00:30 (time alone changes derived data): brings derived data up to date (licence
expiry, credit status per subject), then recomputes the directory's figures per resource
(records, last update, freshness against the update cycle, quality pass rate, open conflicts).
Both tasks are idempotent.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from catalog_schema.models import DEPARTMENT_GROUP, LIBRARIES
from gdx.airflow.assets import library_asset


@dag(
    dag_id="publish_directory",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 0 * * *", timezone="Asia/Shanghai"),
        assets=AssetAny(*[library_asset(group) for group in (*LIBRARIES, DEPARTMENT_GROUP)]),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["gdx", "publish"],
    default_args={"retries": 2},
)
def publish_directory():
    @task
    def refresh_derived() -> list[dict]:
        from gdx.refresh import refresh

        return refresh()

    @task
    def publish_figures() -> list[dict]:
        from gdx.publish import publish

        return publish()

    refresh_derived() >> publish_figures()


publish_directory()
