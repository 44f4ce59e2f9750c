"""Derived data, declared per resource: statuses that follow from dates, and a status per
subject from its live records (a person's or legal entity's credit status).

Both are kept up to date as records arrive (inside the batch's transaction) and daily by
`gdx refresh`, since time alone changes them: a licence expires, a penalty ages out of the
last year, a record's validity ends.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Resource
from warehouse import staging
from warehouse.tables import ResourceTables, column_type, subject_status_table

#: The `_department` of history rows written by a derivation rather than a delivery.
DERIVED = "derived"


def expire(
    conn: sa.Connection, tables: ResourceTables, today: dt.date, batch_id: str, at: dt.datetime
) -> int:
    """Records whose expiry date has passed take the expired value, with a history row."""
    resource, golden, history = tables.resource, tables.golden, tables.history
    rule = resource.expiry
    if rule is None:
        return 0
    due = sa.and_(
        golden.c[rule.field].in_(rule.replaces),
        golden.c[rule.date] < today,
        golden.c._state != "removed",
    )
    names = [spec.name for spec in resource.fields]
    versions = sa.select(
        *[sa.literal(rule.value).label(n) if n == rule.field else golden.c[n] for n in names],
        golden.c._state,
        sa.literal("expire"),
        sa.literal(rule.field),
        sa.literal(batch_id),
        sa.literal(DERIVED),
        sa.literal(at, sa.DateTime(timezone=True)),
    ).where(due)
    columns = [*names, "_state", "_op", "_changed", "_batch_id", "_department", "_valid_from"]
    conn.execute(history.insert().from_select(columns, versions))
    return conn.execute(
        golden.update()
        .where(due)
        .values({rule.field: rule.value, "_batch_id": batch_id, "_updated_at": at})
    ).rowcount


def expired_value(resource: Resource, value: sa.ColumnElement, date: sa.ColumnElement, today):
    """`value` as the expiry shows it on `today` (for the merge's winners)."""
    rule = resource.expiry
    return sa.case(
        (sa.and_(value.in_(rule.replaces), date < today), rule.value),
        else_=value,
    )


def changed_subjects(tables: ResourceTables, batch_id: str) -> sa.Select:
    """Subjects, old and new, of the records a batch changed."""
    history, key = tables.history, tables.resource.key
    subject = tables.resource.subject_status.subject
    changed = sa.select(history.c[key]).where(history.c._batch_id == batch_id)
    return (
        sa.select(history.c[subject])
        .where(history.c[key].in_(changed), history.c[subject].is_not(None))
        .distinct()
    )


def refresh_subjects(
    conn: sa.Connection,
    tables: ResourceTables,
    today: dt.date,
    batch_id: str,
    at: dt.datetime,
    subjects: sa.Select | None = None,
) -> int:
    """Recompute the status of the given subjects (all when None). Returns how many changed
    status."""
    resource, golden = tables.resource, tables.golden
    rule = resource.subject_status
    if rule is None:
        return 0
    target = subject_status_table(resource)
    subject = golden.c[rule.subject]
    live = golden.c._state == "active"
    if rule.live_until:
        until = golden.c[rule.live_until]
        live = sa.and_(live, sa.or_(until.is_(None), until >= today))
    status = sa.case(
        *[
            (
                sa.func.max(sa.case((sa.and_(live, _matches(golden, level, today)), 1), else_=0))
                == 1,
                level.level,
            )
            for level in rule.levels
        ],
        else_=rule.otherwise,
    )
    kind = golden.c[rule.subject_type] if rule.subject_type else sa.null()
    name = golden.c[rule.subject_name] if rule.subject_name else sa.null()
    query = (
        sa.select(
            subject.label("subject"),
            sa.func.max(kind).label("subject_type"),
            sa.func.max(name).label("subject_name"),
            status.label("status"),
            sa.func.sum(sa.case((live, 1), else_=0)).label("live_records"),
        )
        .where(subject.is_not(None), golden.c._state != "removed")
        .group_by(subject)
    )
    if subjects is not None:
        query = query.where(subject.in_(subjects))
    fresh = staging.temporary(conn, _fresh_table(resource))
    conn.execute(fresh.insert().from_select(list(fresh.c.keys()), query))
    if subjects is None:
        conn.execute(target.delete().where(~sa.exists().where(fresh.c.subject == target.c.subject)))
    else:  # subjects with no record left
        conn.execute(
            target.delete().where(
                target.c.subject.in_(subjects),
                ~sa.exists().where(fresh.c.subject == target.c.subject),
            )
        )
    same = fresh.c.subject == target.c.subject
    changed = conn.execute(
        target.update()
        .where(same, target.c.status != fresh.c.status)
        .values(
            status=fresh.c.status,
            since=at,
            live_records=fresh.c.live_records,
            batch_id=batch_id,
            updated_at=at,
        )
    ).rowcount
    conn.execute(
        target.update()
        .where(same, target.c.status == fresh.c.status)
        .values(
            live_records=fresh.c.live_records,
            subject_type=fresh.c.subject_type,
            subject_name=fresh.c.subject_name,
            updated_at=at,
        )
    )
    absent = ~sa.exists().where(target.c.subject == fresh.c.subject)
    inserted = conn.execute(
        target.insert().from_select(
            ["subject", "subject_type", "subject_name", "status", "live_records"]
            + ["since", "batch_id", "updated_at"],
            sa.select(
                fresh.c.subject,
                fresh.c.subject_type,
                fresh.c.subject_name,
                fresh.c.status,
                fresh.c.live_records,
                sa.literal(at, sa.DateTime(timezone=True)),
                sa.literal(batch_id),
                sa.literal(at, sa.DateTime(timezone=True)),
            ).where(absent),
        )
    ).rowcount
    staging.drop(conn, fresh)
    return changed + inserted


def _matches(golden: sa.Table, level, today: dt.date) -> sa.ColumnElement[bool]:
    condition = golden.c[level.field].in_(level.values)
    if level.date and level.within_days:
        since = today - dt.timedelta(days=level.within_days)
        condition = sa.and_(condition, golden.c[level.date] >= since)
    return condition


def _fresh_table(resource: Resource) -> sa.Table:
    spec = resource.field(resource.subject_status.subject)
    return sa.Table(
        f"fresh_{resource.table_name}",
        sa.MetaData(),
        sa.Column("subject", column_type(spec), primary_key=True),
        sa.Column("subject_type", sa.Text),
        sa.Column("subject_name", sa.Text),
        sa.Column("status", sa.String(20)),
        sa.Column("live_records", sa.Integer),
        prefixes=["TEMPORARY"],
    )


def subject_status(conn: sa.Connection, resource: Resource, subject: str) -> dict | None:
    table = subject_status_table(resource)
    row = conn.execute(sa.select(table).where(table.c.subject == subject)).first()
    return dict(row._mapping) if row else None
