"""Freshness of the hub: per source and resource, the last success and whether it is late
against its update cycle (`gdx status`)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Catalog
from warehouse.tables import batch_ledger, for_resource

CYCLES = {
    "realtime": dt.timedelta(minutes=10),
    "hourly": dt.timedelta(hours=1),
    "daily": dt.timedelta(days=1),
    "weekly": dt.timedelta(days=7),
    "monthly": dt.timedelta(days=31),
    "quarterly": dt.timedelta(days=92),
    "yearly": dt.timedelta(days=366),
}
GRACE = 1.5  # a source is late when its last success is older than 1.5 cycles


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite keeps UTC naive


def source_status(conn: sa.Connection, catalog: Catalog, now: dt.datetime) -> list[dict]:
    last = dict(
        conn.execute(
            sa.select(batch_ledger.c.source, sa.func.max(batch_ledger.c.finished_at))
            .where(
                batch_ledger.c.status.in_(["loaded", "skipped"]),
                batch_ledger.c.retry_of.is_(None),
            )
            .group_by(batch_ledger.c.source)
        ).all()
    )
    failed = dict(
        conn.execute(
            sa.select(batch_ledger.c.source, sa.func.max(batch_ledger.c.started_at))
            .where(batch_ledger.c.status.in_(["failed", "rejected"]))
            .group_by(batch_ledger.c.source)
        ).all()
    )
    report = []
    for code, source in catalog.sources.items():
        cycle_name = source.schedule or catalog.resource(source.resource).update_cycle
        cycle = CYCLES.get(cycle_name, CYCLES["daily"])
        success = _aware(last.get(code))
        age = now - success if success else None
        report.append(
            {
                "source": code,
                "resource": source.resource,
                "cycle": cycle_name,
                "last_success": success.isoformat() if success else None,
                "age_hours": round(age.total_seconds() / 3600, 1) if age else None,
                "late": age is None or age > cycle * GRACE,
                "failed_since": bool(
                    failed.get(code) and (not success or _aware(failed[code]) > success)
                ),
            }
        )
    return report


def resource_status(conn: sa.Connection, catalog: Catalog) -> list[dict]:
    report = []
    for code, resource in catalog.resources.items():
        tables = for_resource(resource)
        records = conn.execute(sa.select(sa.func.count()).select_from(tables.golden)).scalar_one()
        q = tables.quarantine
        waiting = conn.execute(
            sa.select(sa.func.count()).select_from(q).where(q.c.retried_in.is_(None))
        ).scalar_one()
        updated = conn.execute(sa.select(sa.func.max(tables.golden.c._updated_at))).scalar()
        report.append(
            {
                "resource": code,
                "records": records,
                "last_update": _aware(updated).isoformat() if updated else None,
                "quarantined": waiting,
            }
        )
    return report
