"""Quarantine: rejected rows, kept with the raw row as delivered and every rule they failed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from warehouse.tables import ResourceTables


def add(
    conn: sa.Connection,
    tables: ResourceTables,
    batch_id: str,
    department: str,
    at: dt.datetime,
    rows: Sequence[tuple[int | None, str | None, list[str], dict]],
) -> None:
    """Store rows given as (line, record key, failed rule ids, raw row)."""
    if not rows:
        return
    conn.execute(
        tables.quarantine.insert(),
        [
            {
                "batch_id": batch_id,
                "department": department,
                "line": line,
                "record_key": key,
                "rules": rules,
                "raw": raw,
                "created_at": at,
            }
            for line, key, rules, raw in rows
        ],
    )


def for_batch(conn: sa.Connection, tables: ResourceTables, batch_id: str) -> list[dict]:
    q = tables.quarantine
    query = sa.select(q).where(q.c.batch_id == batch_id).order_by(q.c.line, q.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]
