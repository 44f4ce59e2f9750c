"""Live figures of the directory's resources for the portal: the figures `gdx publish` computes
(warehouse.directory.figures), read now rather than at the last publication, and the quality of
a resource's recent batches."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Catalog
from warehouse.directory import figures
from warehouse.tables import batch_ledger

RECENT = 12  # batches shown on a resource's page


def live(conn: sa.Connection, catalog: Catalog, now: dt.datetime) -> dict[str, dict]:
    """{resource code: its figures now} (records, last update, last collection, fresh against
    its update cycle, pass rate over every committed batch, open conflicts); times as datetimes."""
    found = {}
    for row in figures(conn, catalog, now):
        for name in ("last_update", "last_collected"):
            row[name] = dt.datetime.fromisoformat(row[name]) if row[name] else None
        found[row["resource"]] = row
    return found


def recent_batches(conn: sa.Connection, resource: str, limit: int = RECENT) -> list[dict]:
    """The resource's last `limit` committed deliveries, oldest first: when, which department,
    rows checked, rows rejected and the pass rate (counted as quality_report.pass_rates counts
    its "(all rules)" line: retries left out, rows delivered again unchanged not counted)."""
    ledger = batch_ledger.c
    rows = conn.execute(
        sa.select(
            ledger.batch_id,
            ledger.department,
            ledger.started_at,
            sa.func.coalesce(ledger.rows_validated, ledger.rows_read).label("checked"),
            ledger.rows_quarantined,
        )
        .where(
            ledger.resource == resource,
            ledger.status == "loaded",
            ledger.retry_of.is_(None),
        )
        .order_by(ledger.started_at.desc(), ledger.batch_id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "batch_id": row.batch_id,
            "department": row.department,
            "started_at": _utc(row.started_at),
            "rows_checked": row.checked,
            "rejected": row.rows_quarantined,
            "pass_rate": (round(1 - row.rows_quarantined / row.checked, 6) if row.checked else 1.0),
        }
        for row in reversed(rows)
    ]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite keeps UTC naive
