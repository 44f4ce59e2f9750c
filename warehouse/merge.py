"""Merge a staged batch into the golden table, set-based, with a history row per change.

New keys are inserted, records whose contributed fields differ are updated, identical records
are left alone. The batch only writes the fields it contributes: other departments' fields of
an existing record stay as they are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from warehouse.tables import ResourceTables


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int


def merge(
    conn: sa.Connection,
    tables: ResourceTables,
    stg: sa.Table,
    contributed: list[str],
    batch_id: str,
    department: str,
    at: dt.datetime,
) -> MergeCounts:
    resource = tables.resource
    golden, history = tables.golden, tables.history
    key = resource.key
    fields = [spec.name for spec in resource.fields]
    values = [name for name in contributed if name != key]
    same_key = stg.c[key] == golden.c[key]
    differs = sa.or_(*[golden.c[name].is_distinct_from(stg.c[name]) for name in values])
    if not values:
        differs = sa.false()

    meta = [
        sa.literal(batch_id, sa.String).label("_batch_id"),
        sa.literal(department, sa.String).label("_department"),
        sa.literal(at, sa.DateTime(timezone=True)).label("_valid_from"),
    ]
    hist_columns = [*fields, "_op", "_changed", "_batch_id", "_department", "_valid_from"]

    changed = sa.literal("", sa.Text)
    for name in values:
        changed = changed + sa.case(
            (golden.c[name].is_distinct_from(stg.c[name]), name + " "), else_=""
        )
    new_version = [
        (stg.c[name] if name in contributed else golden.c[name]).label(name) for name in fields
    ]
    updates = (
        sa.select(*new_version, sa.literal("update").label("_op"), sa.func.trim(changed), *meta)
        .select_from(stg.join(golden, same_key))
        .where(differs)
    )
    conn.execute(history.insert().from_select(hist_columns, updates))

    absent = ~sa.exists().where(golden.c[key] == stg.c[key])
    first_version = [
        (stg.c[name] if name in contributed else sa.null()).label(name) for name in fields
    ]
    inserts = sa.select(
        *first_version,
        sa.literal("insert").label("_op"),
        sa.literal(" ".join(contributed)).label("_changed"),
        *meta,
    ).where(absent)
    conn.execute(history.insert().from_select(hist_columns, inserts))

    updated = conn.execute(
        golden.update()
        .where(same_key, differs)
        .values({name: stg.c[name] for name in values} | {"_batch_id": batch_id, "_updated_at": at})
    ).rowcount
    insert_columns = [*contributed, "_batch_id", "_created_at", "_updated_at"]
    inserted = conn.execute(
        golden.insert().from_select(
            insert_columns,
            sa.select(
                *[stg.c[name] for name in contributed],
                sa.literal(batch_id, sa.String),
                sa.literal(at, sa.DateTime(timezone=True)),
                sa.literal(at, sa.DateTime(timezone=True)),
            ).where(absent),
        )
    ).rowcount
    return MergeCounts(inserted=inserted, updated=updated)
