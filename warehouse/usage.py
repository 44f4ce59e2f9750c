"""How the API is used: data calls per local day, from the audit log.

Portal actions share the log (they carry a person) and are not calls. A call is denied when its
answer was an error (status 400 and above: no key, no grant, over the rate, bad input).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from runtime.clock import zone
from warehouse.engine import is_postgres
from warehouse.tables import api_consumer, audit_log


def calls_per_day(
    conn: sa.Connection,
    since: dt.date,
    consumer_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """API calls from the local day `since` (GDX_TIMEZONE) on, of one consumer or of all: one
    dict per day, consumer, resource and purpose with `calls` and `denied`, oldest day first.

    Keys: day (date), consumer_id, consumer (name), consumer_department, resource, purpose,
    calls, denied. A call with no resource (a directory search, a verification) has
    resource None."""
    moment = now or dt.datetime.now(dt.UTC)
    start = dt.datetime.combine(since, dt.time(), tzinfo=zone()).astimezone(dt.UTC)
    day = _local_day(conn, moment).label("day")
    denied = sa.func.sum(sa.case((audit_log.c.status >= 400, 1), else_=0))
    select = (
        sa.select(
            day,
            audit_log.c.consumer_id,
            sa.func.max(audit_log.c.consumer).label("consumer"),
            sa.func.max(api_consumer.c.department).label("consumer_department"),
            audit_log.c.resource,
            audit_log.c.purpose,
            sa.func.count().label("calls"),
            denied.label("denied"),
        )
        .select_from(
            audit_log.outerjoin(api_consumer, api_consumer.c.id == audit_log.c.consumer_id)
        )
        .where(audit_log.c.at >= start, audit_log.c.person.is_(None))
        .group_by(day, audit_log.c.consumer_id, audit_log.c.resource, audit_log.c.purpose)
        .order_by(day, audit_log.c.consumer_id, audit_log.c.resource, audit_log.c.purpose)
    )
    if consumer_id is not None:
        select = select.where(audit_log.c.consumer_id == consumer_id)
    return [
        {
            "day": _date(row.day),
            "consumer_id": row.consumer_id,
            "consumer": row.consumer,
            "consumer_department": row.consumer_department,
            "resource": row.resource,
            "purpose": row.purpose,
            "calls": int(row.calls),
            "denied": int(row.denied or 0),
        }
        for row in conn.execute(select)
    ]


def _local_day(conn: sa.Connection, moment: dt.datetime) -> sa.ColumnElement:
    if is_postgres(conn):
        return sa.func.date(sa.func.timezone(zone().key, audit_log.c.at))
    # SQLite keeps UTC text: shift by the zone's offset (that of now; the province's zone keeps
    # one offset all year)
    offset = moment.astimezone(zone()).utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    return sa.func.date(audit_log.c.at, f"{minutes:+d} minutes")


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
