"""Quarantined rows explained for people: every failed rule in Chinese and English, under the
department's own column names, so that the department can fix the rows and send them again."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from catalog_schema import Resource
from catalog_schema.rule_words import explain  # (zh, en) reason for a rule id
from gdx import output_file
from warehouse.quarantine import waiting
from warehouse.tables import batch_ledger, for_resource

LINE_COLUMN = "行号 line"  # the fix file's first column: the row's line in its delivery


def rows(
    conn: sa.Connection,
    resource: Resource,
    *,
    batch: str | None = None,
    department: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Quarantined rows, newest batch first, then by line."""
    q = for_resource(resource).quarantine
    query = sa.select(q).order_by(q.c.batch_id.desc(), q.c.line, q.c.id)
    if batch:
        query = query.where(q.c.batch_id == batch)
    if department:
        query = query.where(q.c.department == department)
    if limit:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def counts(conn: sa.Connection, resource: Resource, *, batch: str | None = None) -> tuple[int, int]:
    """(quarantined, waiting) rows of the resource (of one batch): waiting rows are neither
    retried nor superseded by a later delivery."""
    q = for_resource(resource).quarantine
    query = sa.select(sa.func.count(), sa.func.count().filter(waiting(q))).select_from(q)
    if batch:
        query = query.where(q.c.batch_id == batch)
    total, held = conn.execute(query).one()
    return total, held


def latest_batch(conn: sa.Connection, resource: Resource, department: str) -> str | None:
    """The department's most recent batch of the resource that committed."""
    return conn.execute(
        sa.select(batch_ledger.c.batch_id)
        .where(
            batch_ledger.c.resource == resource.code,
            batch_ledger.c.department == department,
            batch_ledger.c.status == "loaded",
        )
        .order_by(batch_ledger.c.started_at.desc())
        .limit(1)
    ).scalar()


def export(
    resource: Resource, quarantined: list[dict], path: Path, encoding: str, force: bool = False
) -> int:
    """Write the rows as delivered plus `问题说明` (zh) and `problems` (en); returns the count.

    Only to a new path, or with `force` over a regular file one may write (gdx/output_file.py);
    an earlier export at `path` survives a failed one."""
    codecs.lookup(encoding)  # an unknown encoding fails before anything is written
    with output_file.replacing(path, force, encoding) as handle:
        write(handle, resource, quarantined)
    return len(quarantined)


def write(handle: IO[str], resource: Resource, quarantined: list[dict]) -> None:
    """The fix file's CSV: the rows as delivered, under the department's own column names,
    after `行号 line`, then `问题说明` (zh) and `problems` (en)."""
    columns: list[str] = []
    for row in quarantined:
        columns.extend(name for name in row["raw"] if name not in columns)
    header = [LINE_COLUMN, *columns, "问题说明", "problems"]
    writer = csv.writer(handle)
    writer.writerow(header)
    for row in quarantined:
        reasons = [explain(resource, rule) for rule in row["rules"]]
        writer.writerow(
            [
                row["line"],
                *[row["raw"].get(name, "") for name in columns],
                "；".join(zh for zh, _ in reasons),
                "; ".join(en for _, en in reasons),
            ]
        )


def fix_file(resource: Resource, quarantined: list[dict], encoding: str = "utf-8-sig") -> bytes:
    """The same file as `export`, as bytes (a download)."""
    text = io.StringIO(newline="")
    write(text, resource, quarantined)
    return text.getvalue().encode(encoding)


def waiting_rows(
    conn: sa.Connection, resource: Resource, department: str, limit: int | None = None
) -> tuple[list[dict], int]:
    """The department's rows still waiting for a fix (neither retried nor superseded), newest
    batch first, at most `limit` of them, and how many wait in all."""
    q = for_resource(resource).quarantine
    mine = sa.and_(waiting(q), q.c.department == department)
    query = sa.select(q).where(mine).order_by(q.c.batch_id.desc(), q.c.line, q.c.id)
    if limit:
        query = query.limit(limit)
    found = [dict(row._mapping) for row in conn.execute(query)]
    total = conn.execute(sa.select(sa.func.count()).select_from(q).where(mine)).scalar_one()
    return found, total


def supersede_fixed(
    conn: sa.Connection,
    resource: Resource,
    department: str,
    batch_id: str,
    lines: set[int],
    through: str,
) -> int:
    """A fix file loaded as batch `batch_id` stands for the waiting rows it was made from: the
    department's rows of batches up to `through` (the newest shown when it was downloaded) at
    the lines the file names in its `行号 line` column. They are superseded by the batch (a
    fixed citizen ID is another key: the delivery's own supersession by key misses them)."""
    q = for_resource(resource).quarantine
    mine = sa.and_(
        waiting(q),
        q.c.department == department,
        q.c.batch_id <= through,
        q.c.batch_id != batch_id,
    )
    ordered = sorted(lines)
    changed = 0
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        update = q.update().where(mine, q.c.line.in_(chunk)).values(superseded_by=batch_id)
        changed += conn.execute(update).rowcount
    return changed
