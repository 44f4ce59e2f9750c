"""Quarantined rows explained for people: every failed rule in Chinese and English, under the
department's own column names, so that the department can fix the rows and send them again."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

import sqlalchemy as sa

from catalog_schema import Resource
from catalog_schema.rule_words import explain  # (zh, en) reason for a rule id
from gdx import output_file
from warehouse.quarantine import waiting
from warehouse.tables import batch_ledger, for_resource


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
    columns: list[str] = []
    for row in quarantined:
        columns.extend(name for name in row["raw"] if name not in columns)
    header = ["行号 line", *columns, "问题说明", "problems"]
    codecs.lookup(encoding)  # an unknown encoding fails before anything is written
    with output_file.replacing(path, force, encoding) as handle:
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
    return len(quarantined)
