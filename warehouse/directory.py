"""The published figures of each resource in the shared-resource directory: records, last
update, freshness against the update cycle, quality pass rate and open conflicts.

`publish` recomputes them (the publish DAG runs it whenever a base library changes, and daily)
and stores them in `directory_figures`, where the directory reads them.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Catalog
from warehouse.quality_report import pass_rates
from warehouse.status import CYCLES, GRACE, resource_status, source_status
from warehouse.tables import directory_figures


def figures(conn: sa.Connection, catalog: Catalog, now: dt.datetime) -> list[dict]:
    sources = source_status(conn, catalog, now)
    rates = {
        row["resource"]: row["pass_rate"]
        for row in pass_rates(conn)
        if row["rule"] == "(all rules)"
    }
    report = []
    for row in resource_status(conn, catalog):
        code = row["resource"]
        resource = catalog.resource(code)
        successes = [s["last_success"] for s in sources if s["resource"] == code]
        collected = max((s for s in successes if s), default=None)
        age = now - dt.datetime.fromisoformat(collected) if collected else None
        report.append(
            {
                "resource": code,
                "records": row["records"],
                "last_update": row["last_update"],
                "last_collected": collected,
                "update_cycle": resource.update_cycle,
                "fresh": age is not None and age <= CYCLES[resource.update_cycle] * GRACE,
                "pass_rate": rates.get(code),
                "open_conflicts": row["conflicts"],
                "computed_at": now.isoformat(),
            }
        )
    return report


def publish(conn: sa.Connection, catalog: Catalog, now: dt.datetime) -> list[dict]:
    """Recompute and store the figures of every resource (replacing the previous ones)."""
    report = figures(conn, catalog, now)
    conn.execute(directory_figures.delete())
    if report:
        conn.execute(
            directory_figures.insert(),
            [
                {
                    **row,
                    "last_update": _time(row["last_update"]),
                    "last_collected": _time(row["last_collected"]),
                    "computed_at": now,
                }
                for row in report
            ],
        )
    return report


def published(conn: sa.Connection) -> dict[str, dict]:
    rows = conn.execute(sa.select(directory_figures))
    return {row.resource: dict(row._mapping) for row in rows}


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
