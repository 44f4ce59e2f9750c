"""Supervision (效能监察) of the departments by the hub's administrators: per department and
resource, how fresh its data is against the update cycle, how well it passes the quality rules,
how fast it decides access requests, and how the API is called.

Freshness and quality are the state now (`warehouse.status`, `warehouse.quality_report`: pass
rates over every committed delivery); decisions and calls count over a period of local days
(GDX_TIMEZONE) ending today. Decision times are in working days (`grants.is_working_day`: the
public holidays off, the weekend days worked in lieu on), counted as the deadline is: the
working days after the filing day up to and including the day of the decision.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from catalog_schema import Catalog
from runtime.clock import zone
from warehouse import grants, quality_report, status, usage
from warehouse.tables import access_request

PERIODS = (7, 30, 90)  # days a page may look back


@dataclass(frozen=True)
class Period:
    """The local days `first`..`last` (today), `days` of them."""

    days: int
    first: dt.date
    last: dt.date

    @classmethod
    def ending(cls, now: dt.datetime, days: int) -> Period:
        if days not in PERIODS:
            raise ValueError(f"days: expected one of {PERIODS}, got {days}")
        today = _utc(now).astimezone(zone()).date()
        return cls(days, today - dt.timedelta(days=days - 1), today)

    @property
    def start(self) -> dt.datetime:
        """The period's first instant, in UTC."""
        return dt.datetime.combine(self.first, dt.time(), tzinfo=zone()).astimezone(dt.UTC)


def freshness(
    conn: sa.Connection, catalog: Catalog, now: dt.datetime, department: str | None = None
) -> list[dict[str, Any]]:
    """Per source (a department's delivery of a resource), by department and resource: its
    update cycle, last successful update, age, whether it is late (`status.GRACE` cycles) and
    its quarantined rows waiting."""
    rows = []
    for found in status.source_status(conn, catalog, _utc(now)):
        source = catalog.sources[found["source"]]
        if department and source.department != department:
            continue
        last = found["last_success"]
        rows.append(
            {
                "department": source.department,
                "resource": found["resource"],
                "source": found["source"],
                "cycle": found["cycle"],
                "last_success": dt.datetime.fromisoformat(last) if last else None,
                "age_hours": found["age_hours"],
                "late": found["late"],
                "quarantined": found["quarantined"],
            }
        )
    return sorted(rows, key=lambda row: (row["department"], row["resource"], row["source"]))


def quality(
    conn: sa.Connection, catalog: Catalog, department: str | None = None
) -> list[dict[str, Any]]:
    """Per resource, by its provider department: rows checked and rejected over every committed
    delivery, the pass rate (0..1) and the quarantined rows waiting to be fixed."""
    rates = {
        row["resource"]: row
        for row in quality_report.pass_rates(conn)
        if row["rule"] == "(all rules)"
    }
    rows = []
    for found in status.resource_status(conn, catalog):
        code = found["resource"]
        provider = catalog.resource(code).provider
        if department and provider != department:
            continue
        rate = rates.get(code)
        rows.append(
            {
                "department": provider,
                "resource": code,
                "rows_checked": rate["rows_checked"] if rate else 0,
                "rejected": rate["rejected"] if rate else 0,
                "pass_rate": rate["pass_rate"] if rate else None,  # None: nothing delivered
                "quarantined": found["quarantined"],
            }
        )
    return sorted(rows, key=lambda row: (row["department"], row["resource"]))


def requests(
    conn: sa.Connection,
    catalog: Catalog,
    period: Period,
    now: dt.datetime,
    department: str | None = None,
) -> list[dict[str, Any]]:
    """Per provider department and resource: access requests decided in the period (approved
    or refused, revoked since included), the median decision time in working days, those
    decided after their deadline (`decide_by`), and those pending now past it."""
    today = _utc(now).astimezone(zone()).date()
    query = sa.select(
        access_request.c.provider,
        access_request.c.resource,
        access_request.c.status,
        access_request.c.filed_at,
        access_request.c.decided_at,
        access_request.c.decide_by,
    ).where(
        sa.or_(
            access_request.c.decided_at >= period.start,
            access_request.c.status == "pending",
        )
    )
    if department:
        query = query.where(access_request.c.provider == department)
    waits: dict[tuple[str, str], list[int]] = defaultdict(list)
    late: dict[tuple[str, str], int] = defaultdict(int)
    overdue: dict[tuple[str, str], int] = defaultdict(int)
    for row in conn.execute(query):
        key = (row.provider, row.resource)
        if row.status == "pending":
            overdue[key] += today > row.decide_by
            waits.setdefault(key, [])
            continue
        if row.decided_at is None:
            continue
        decided = _utc(row.decided_at).astimezone(zone()).date()
        waits[key].append(working_days(_utc(row.filed_at).astimezone(zone()).date(), decided))
        late[key] += decided > row.decide_by
    rows = []
    for (provider, resource), days in sorted(waits.items()):
        rows.append(
            {
                "department": provider,
                "resource": resource,
                "decided": len(days),
                "median_working_days": statistics.median(days) if days else None,
                "decided_late": late[(provider, resource)],
                "pending_overdue": overdue[(provider, resource)],
            }
        )
    return rows


def working_days(filed: dt.date, decided: dt.date) -> int:
    """Working days after `filed` up to and including `decided` (0: decided the day filed)."""
    return sum(
        grants.is_working_day(filed + dt.timedelta(days=n))
        for n in range(1, (decided - filed).days + 1)
    )


def calls(
    conn: sa.Connection,
    catalog: Catalog,
    period: Period,
    now: dt.datetime,
    department: str | None = None,
) -> list[dict[str, Any]]:
    """API calls and denied calls per local day of the period, every day listed (0 when none).
    With `department`: the calls for its resources or by its consumers (approval systems)."""
    counted = {period.first + dt.timedelta(days=n): [0, 0] for n in range(period.days)}
    for row in usage.calls_per_day(conn, period.first, now=_utc(now)):
        if department and department not in (
            row["consumer_department"],
            _provider(catalog, row["resource"]),
        ):
            continue
        if row["day"] in counted:
            counted[row["day"]][0] += row["calls"]
            counted[row["day"]][1] += row["denied"]
    return [
        {"day": day, "calls": total, "denied": denied}
        for day, (total, denied) in sorted(counted.items())
    ]


def _provider(catalog: Catalog, resource: str | None) -> str | None:
    found = catalog.resources.get(resource or "")
    return found.provider if found else None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
