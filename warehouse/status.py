"""Freshness of the hub (`gdx status`): per resource its records (ended, removed), last
update, open conflicts and waiting quarantine; per source its last success, whether it is late
against its update cycle, the records its department holds, its open conflicts and quarantine."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Catalog
from warehouse import quarantine
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
            .where(batch_ledger.c.status.in_(["failed", "rejected", "refused"]))
            .group_by(batch_ledger.c.source)
        ).all()
    )
    held, disputed, waiting = _per_department(conn, catalog)
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
                "records": held.get((source.resource, source.department), 0),
                "conflicts": disputed.get((source.resource, source.department), 0),
                "quarantined": waiting.get(code, 0),
            }
        )
    return report


def _per_department(conn: sa.Connection, catalog: Catalog) -> tuple[dict, dict, dict]:
    """Per (resource, department): records it holds and open conflicts it lost or won; per
    source: quarantined rows not yet retried."""
    held: dict[tuple[str, str], int] = {}
    disputed: dict[tuple[str, str], int] = {}
    waiting: dict[str, int] = {}
    for code, resource in catalog.resources.items():
        tables = for_resource(resource)
        c = tables.contribution.c
        for department, count in conn.execute(
            sa.select(c._department, sa.func.count())
            .where(c._withdrawn_at.is_(None))
            .group_by(c._department)
        ):
            held[(code, department)] = count
        k = tables.conflict.c
        for column in (k.winner_department, k.other_department):
            for department, count in conn.execute(
                sa.select(column, sa.func.count()).where(k.resolved_at.is_(None)).group_by(column)
            ):
                disputed[(code, department)] = disputed.get((code, department), 0) + count
        q = tables.quarantine.c
        for source, count in conn.execute(
            sa.select(batch_ledger.c.source, sa.func.count())
            .select_from(
                tables.quarantine.join(batch_ledger, q.batch_id == batch_ledger.c.batch_id)
            )
            .where(quarantine.waiting(tables.quarantine))
            .group_by(batch_ledger.c.source)
        ):
            waiting[source] = waiting.get(source, 0) + count
    return held, disputed, waiting


def resource_status(conn: sa.Connection, catalog: Catalog) -> list[dict]:
    report = []
    for code, resource in catalog.resources.items():
        tables = for_resource(resource)
        golden = tables.golden
        states = dict(
            conn.execute(
                sa.select(golden.c._state, sa.func.count()).group_by(golden.c._state)
            ).all()
        )
        conflicts = conn.execute(
            sa.select(sa.func.count())
            .select_from(tables.conflict)
            .where(tables.conflict.c.resolved_at.is_(None))
        ).scalar_one()
        q = tables.quarantine
        waiting = conn.execute(
            sa.select(sa.func.count()).select_from(q).where(quarantine.waiting(q))
        ).scalar_one()
        updated = conn.execute(sa.select(sa.func.max(tables.golden.c._updated_at))).scalar()
        report.append(
            {
                "resource": code,
                "records": states.get("active", 0) + states.get("ended", 0),
                "ended": states.get("ended", 0),
                "removed": states.get("removed", 0),
                "last_update": _aware(updated).isoformat() if updated else None,
                "conflicts": conflicts,
                "quarantined": waiting,
            }
        )
    return report


def batch_activity(conn: sa.Connection, now: dt.datetime, within: dt.timedelta) -> dict:
    """The batches running now, and those found interrupted (killed) within `within`."""

    def rows(query) -> list[dict]:
        return [
            {
                "batch_id": row.batch_id,
                "resource": row.resource,
                "department": row.department,
                "source": row.source,
                "started_at": _aware(row.started_at).isoformat(),
            }
            for row in conn.execute(query.order_by(batch_ledger.c.started_at))
        ]

    ledger = batch_ledger
    columns = (ledger.c.batch_id, ledger.c.resource, ledger.c.department, ledger.c.source,
               ledger.c.started_at)  # fmt: skip
    return {
        "running": rows(sa.select(*columns).where(ledger.c.status == "running")),
        "interrupted": rows(
            sa.select(*columns).where(
                ledger.c.status == "failed",
                ledger.c.error == "interrupted",
                # in UTC, as the ledger writes it (SQLite compares the digits)
                ledger.c.started_at >= (now - within).astimezone(dt.UTC),
            )
        ),
    }
