"""Quarantine: rejected rows, kept with the raw row as delivered and every rule they failed."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa

from warehouse.engine import is_postgres
from warehouse.staging import analyze
from warehouse.tables import ResourceTables


class Rejected(NamedTuple):
    """A row of a delivery that goes to quarantine."""

    line: int | None  # its line in the delivery (None: not from a file)
    key: str | None  # the record's key, normalised (None: unreadable)
    rules: list[str]  # every rule it broke
    raw: dict  # the row as delivered, under the department's headers
    day_hash: int | None = None  # its raw hash salted with the day it was judged


def add(
    conn: sa.Connection,
    tables: ResourceTables,
    batch_id: str,
    department: str,
    at: dt.datetime,
    rows: Sequence[Rejected],
) -> None:
    """Store rejected rows; by COPY on PostgreSQL."""
    if not rows:
        return
    q = tables.quarantine
    if is_postgres(conn):
        fixed = "\t".join(map(_copy_text, (batch_id, department, at.isoformat())))
        rule_texts: dict[tuple, str] = {}  # a few combinations of rules, over and over
        lines = []
        for line, key, rules, raw, raw_hash in rows:
            listed = rule_texts.get(tuple(rules))
            if listed is None:
                listed = rule_texts[tuple(rules)] = _copy_text(rules)
            values = (fixed, _copy_text(line), _copy_text(key), listed, _copy_text(raw))
            lines.append("\t".join(values) + f"\t{_copy_text(raw_hash)}\n")
        data = "".join(lines).encode()
        columns = "batch_id, department, created_at, line, record_key, rules, raw, raw_hash"
        with conn.connection.cursor() as cursor:
            copy = f'COPY "{q.name}" ({columns}) FROM STDIN'
            cursor.copy_expert(copy, io.BytesIO(data), size=max(len(data), 8192))
        return
    conn.execute(
        q.insert(),
        [
            {
                "batch_id": batch_id,
                "department": department,
                "line": line,
                "record_key": key,
                "rules": rules,
                "raw": raw,
                "created_at": at,
                "raw_hash": raw_hash,
            }
            for line, key, rules, raw, raw_hash in rows
        ],
    )


def _copy_text(value: object) -> str:
    """A value in COPY's text format: NULL as \\N, JSON for lists and dicts, escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    if "\\" in text:  # JSON escapes control characters: only its backslashes need doubling
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def for_batch(conn: sa.Connection, tables: ResourceTables, batch_id: str) -> list[dict]:
    q = tables.quarantine
    query = sa.select(q).where(q.c.batch_id == batch_id).order_by(q.c.line, q.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]


def waiting(quarantine: sa.Table) -> sa.ColumnElement[bool]:
    """Rows still waiting for a fix: not retried, and not superseded by a later delivery."""
    return sa.and_(quarantine.c.retried_in.is_(None), quarantine.c.superseded_by.is_(None))


def supersede(
    conn: sa.Connection,
    tables: ResourceTables,
    department: str,
    batch_id: str,
    delivered: list[sa.Select],
    everything: bool,
) -> int:
    """A delivery supersedes the department's older quarantined rows of the keys it delivered
    (`delivered`: selects of keys), or all of them for a full snapshot: retrying them would
    put an old row over a newer delivery, or bring back a key the snapshot no longer holds."""
    q = tables.quarantine
    # fresh statistics: the rows this batch just quarantined would otherwise leave the planner
    # guessing "one waiting row" and looping over the whole delivery for each one
    analyze(conn, q)
    condition = sa.and_(waiting(q), q.c.department == department, q.c.batch_id != batch_id)
    if everything:
        return conn.execute(q.update().where(condition).values(superseded_by=batch_id)).rowcount
    # one statement per kind of later delivery, each a plain semi-join (an OR of two subqueries
    # would be re-run per quarantined row)
    keys = [select.subquery(f"delivered{i}") for i, select in enumerate(delivered)]
    again = q.alias("again")
    later = [sa.exists().where(k.c[0] == q.c.record_key) for k in keys]
    later.append(
        sa.exists().where(again.c.batch_id == batch_id, again.c.record_key == q.c.record_key)
    )
    return sum(
        conn.execute(q.update().where(condition, exists).values(superseded_by=batch_id)).rowcount
        for exists in later
    )
