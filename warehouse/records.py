"""Reading golden records: now or as they were at a point in time, with field provenance."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from catalog_schema import Resource
from warehouse.tables import batch_ledger, for_resource, source_column


def by_key(conn: sa.Connection, resource: Resource, key: str) -> dict | None:
    """The golden record (any state: active, ended or removed), or None."""
    row = conn.execute(_statement("by_key", resource), {"key": key}).first()
    return dict(row._mapping) if row else None


def with_provenance(
    conn: sa.Connection, resource: Resource, key: str
) -> tuple[dict | None, dict[str, dict]]:
    """The golden record (as `by_key`) and its provenance (as `provenance`) in one read: the
    record joined to the ledger rows of the batches its fields name (a row per batch)."""
    golden = for_resource(resource).golden
    rows = conn.execute(_statement("with_provenance", resource), {"key": key}).all()
    if not rows:
        return None, {}
    width = len(golden.columns)
    record = dict(zip(golden.columns.keys(), rows[0][:width], strict=True))
    # as `provenance`: only the batches a field names (an empty name names none)
    ledger = {row[width]: _LedgerRow(*row[width:]) for row in rows if row[width]}
    return record, _origin(resource, record, ledger)


class _LedgerRow(NamedTuple):
    batch_id: str
    department: str
    source: str | None
    finished_at: dt.datetime | None


def _statement(kind: str, resource: Resource) -> sa.Select:
    """The statement of a read by key, built once per resource table (a call runs it with
    :key or :keys, instead of building and caching it again)."""
    golden = for_resource(resource).golden
    statement = _STATEMENTS.get((kind, golden))
    if statement is None:
        statement = _STATEMENTS[(kind, golden)] = _build_statement(kind, resource, golden)
    return statement


def _build_statement(kind: str, resource: Resource, golden: sa.Table) -> sa.Select:
    key = golden.c[resource.key]
    if kind == "by_key":
        return sa.select(golden).where(key == sa.bindparam("key"))
    if kind == "by_keys":  # what a record is served with: no provenance columns
        served = [golden.c[spec.name] for spec in resource.fields]
        served += [golden.c[name] for name in ("_state", "_batch_id", "_updated_at", "_removed_at")]
        return sa.select(*served).where(key.in_(sa.bindparam("keys", expanding=True)))
    sources = [
        golden.c[source_column(spec.name)] for spec in resource.fields if spec.name != resource.key
    ]
    return (
        sa.select(
            golden,
            batch_ledger.c.batch_id.label("_ledger_batch_id"),
            batch_ledger.c.department.label("_ledger_department"),
            batch_ledger.c.source.label("_ledger_source"),
            batch_ledger.c.finished_at.label("_ledger_finished_at"),
        )
        .select_from(golden.outerjoin(batch_ledger, batch_ledger.c.batch_id.in_(sources)))
        .where(key == sa.bindparam("key"))
    )


_STATEMENTS: dict[tuple[str, sa.Table], sa.Select] = {}


def as_of(conn: sa.Connection, resource: Resource, key: str, at: dt.datetime) -> dict | None:
    """The record as it was at `at` (from the history, which is never rewritten): its fields,
    `_state` (`removed` once no department held it), `_batch_id` and `_valid_from`; None when it
    did not exist yet."""
    history = for_resource(resource).history
    instant = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    row = conn.execute(
        sa.select(history)
        .where(history.c[resource.key] == key, history.c._valid_from <= instant)
        .order_by(history.c._valid_from.desc(), history.c._version_id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None


def by_keys(conn: sa.Connection, resource: Resource, keys: list[str]) -> dict[str, dict]:
    """The golden records of `keys` that exist (any state), by key: one query. Each holds
    the record's fields, `_state`, `_batch_id`, `_updated_at` and `_removed_at` (the rest of a
    golden row, its provenance, is `by_key`'s)."""
    result = conn.execute(_statement("by_keys", resource), {"keys": sorted(set(keys))})
    names = list(result.keys())  # once, not per row as dict(row._mapping) would
    at = names.index(resource.key)
    return {row[at]: dict(zip(names, row, strict=True)) for row in result}


def by_keys_as_of(
    conn: sa.Connection, resource: Resource, keys: list[str], at: dt.datetime
) -> dict[str, dict]:
    """The records of `keys` as they were at `at`, by key (see `as_of`): one query."""
    history = for_resource(resource).history
    instant = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    column = history.c[resource.key]
    rank = (
        sa.func.row_number()
        .over(
            partition_by=column,
            order_by=(history.c._valid_from.desc(), history.c._version_id.desc()),
        )
        .label("_rank")
    )
    ranked = (
        sa.select(history, rank)
        .where(column.in_(sorted(set(keys))), history.c._valid_from <= instant)
        .subquery()
    )
    rows = conn.execute(sa.select(ranked).where(ranked.c._rank == 1))
    return {row._mapping[resource.key]: dict(row._mapping) for row in rows}


def query(
    conn: sa.Connection,
    resource: Resource,
    equals: dict[str, object],
    ranges: dict[str, tuple[object, object]],
    after: str | None,
    limit: int,
) -> list[dict]:
    """Records not removed whose fields equal `equals` and fall in `ranges` (inclusive, either
    end open), in key order after `after` (keyset paging): at most `limit`."""
    golden = for_resource(resource).golden
    key = golden.c[resource.key]
    where = [golden.c._state != "removed"]
    where += [golden.c[name] == value for name, value in equals.items()]
    for name, (low, high) in ranges.items():
        if low is not None:
            where.append(golden.c[name] >= low)
        if high is not None:
            where.append(golden.c[name] <= high)
    if after is not None:
        where.append(key > after)
    rows = conn.execute(sa.select(golden).where(*where).order_by(key).limit(limit))
    return [dict(row._mapping) for row in rows]


def matching(
    conn: sa.Connection,
    resource: Resource,
    field: str,
    value: str,
    limit: int = 1000,
    after: str | None = None,
    active: bool = False,
    until: tuple[str, dt.date] | None = None,
) -> list[dict]:
    """Records not removed whose `field` holds `value` (a holder's licences), in key order after
    `after` (keyset paging); only the active ones with `active`, and with `until` (a date field,
    a day) only those whose date is empty or not before that day (a subject's live credit
    records)."""
    golden = for_resource(resource).golden
    key = golden.c[resource.key]
    where = [golden.c[field] == value, golden.c._state != "removed"]
    if after is not None:
        where.append(key > after)
    if active:
        where.append(golden.c._state == "active")
    if until is not None:
        name, day = until
        where.append(sa.or_(golden.c[name].is_(None), golden.c[name] >= day))
    rows = conn.execute(sa.select(golden).where(*where).order_by(key).limit(limit))
    return [dict(row._mapping) for row in rows]


def history(conn: sa.Connection, resource: Resource, key: str) -> list[dict]:
    """Every version of a record, oldest first."""
    table = for_resource(resource).history
    query = sa.select(table).where(table.c[resource.key] == key)
    rows = conn.execute(query.order_by(table.c._valid_from, table.c._version_id))
    return [dict(row._mapping) for row in rows]


def provenance(conn: sa.Connection, resource: Resource, record: dict) -> dict[str, dict]:
    """For each non-empty field of a golden record: the department that supplied the value,
    its batch and when that batch committed."""
    batches = {
        record[source_column(spec.name)]
        for spec in resource.fields
        if spec.name != resource.key and record.get(source_column(spec.name))
    }
    if not batches:
        return {}
    ledger = {
        row.batch_id: row
        for row in conn.execute(
            sa.select(
                batch_ledger.c.batch_id,
                batch_ledger.c.department,
                batch_ledger.c.source,
                batch_ledger.c.finished_at,
            ).where(batch_ledger.c.batch_id.in_(batches))
        )
    }
    return _origin(resource, record, ledger)


def _origin(resource: Resource, record: dict, ledger: dict) -> dict[str, dict]:
    """Per field of `record` whose batch is in `ledger` (batch id -> ledger row): its origin."""
    result = {}
    for spec in resource.fields:
        batch = record.get(source_column(spec.name)) if spec.name != resource.key else None
        if batch in ledger:
            row = ledger[batch]
            result[spec.name] = {
                "department": row.department,
                "source": row.source,
                "batch_id": batch,
                "supplied_at": row.finished_at,
            }
    return result


def conflicts(conn: sa.Connection, resource: Resource, key: str, *, open_only: bool = True):
    """The recorded disagreements between departments about one record."""
    table = for_resource(resource).conflict
    query = sa.select(table).where(table.c.record_key == key).order_by(table.c.id)
    if open_only:
        query = query.where(table.c.resolved_at.is_(None))
    return [dict(row._mapping) for row in conn.execute(query)]


def count(conn: sa.Connection, resource: Resource) -> int:
    golden = for_resource(resource).golden
    return conn.execute(sa.select(sa.func.count()).select_from(golden)).scalar_one()
