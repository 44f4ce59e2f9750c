"""Rows a department delivers again unchanged cost almost nothing.

Each contribution keeps a 64-bit hash of the row as the department delivered it (its raw
values by field, `_raw_hash`). A batch hashes every row it reads, before normalising and
validating; a row whose hash is among the department's active contributions is unchanged: it
is neither validated nor staged nor merged. Only its key goes into a `kept` table, so that a
full snapshot still holds it and a repeat of the key with other values is still a conflict.

The hash is seeded with the resource's declaration and the digest of the `quality` code: when a
rule, a field or a normaliser changes, every row is validated again. Two different rows of a
department share a 64-bit hash with a chance of about 2^-64 per row; a changed row would then
pass as unchanged.

A row that a batch of the department quarantined earlier the same day (`Judged`) is not
validated again: its quarantine row keeps the hash, salted with the day, because rules compare
dates with today (a birth date in the future passes once the day comes). A row that failed
rules is quarantined again with those rules. A row quarantined only because another row of its
key differed, or dropped as a repeat of its key (`passed_row`), passed every rule: it is staged
without validating, and whether it conflicts or repeats again is settled with the rest of its
batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from catalog_schema import Resource
from warehouse import staging
from warehouse.engine import is_postgres
from warehouse.tables import ResourceTables, batch_ledger, column_type, passed_row

_MIX = np.uint64(0x9E3779B97F4A7C15)  # an odd constant: each column's hash is multiplied in


def seed(resource: Resource, code: bytes = b"") -> int:
    """A number that changes whenever the resource's declaration or `code` (the digest of the
    code that normalises and checks values, `quality.judge.code_digest()`) does: a fix there
    reaches re-sent rows too."""
    digest = hashlib.sha256(resource.model_dump_json().encode())
    digest.update(code)
    return int.from_bytes(digest.digest()[:8], "big")


def row_hashes(table: pa.Table, start: int = 0) -> np.ndarray:
    """A 64-bit hash per row over its columns by name (their order does not matter)."""
    hashes = np.full(table.num_rows, np.uint64(start), dtype=np.uint64)
    if table.num_rows == 0:
        return hashes.view(np.int64)
    with np.errstate(over="ignore"):
        for name in sorted(table.column_names):
            label = np.uint64(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))
            values = pd.util.hash_pandas_object(table.column(name).to_pandas(), index=False)
            hashes = (hashes ^ (values.to_numpy() + label)) * _MIX
    return hashes.view(np.int64)


#: A block with fewer rows looks up its own keys' hashes (by primary key) instead of reading
#: all of the department's: a small incremental delivery into a big library stays cheap.
LOOK_UP_BELOW = 20_000
_CHUNK = 5_000  # keys per look-up (SQLite's bound-parameter limit)


class Known:
    """The raw hashes of a department's active contributions, as a batch's blocks need them:
    all of them, read once, for a big block; those of its own keys for a small one. `enabled`
    False (a retry of quarantined rows): nothing is known, nothing skipped."""

    def __init__(
        self,
        conn: sa.Connection,
        tables: ResourceTables,
        department: str,
        enabled: bool = True,
        code: bytes = b"",
    ):
        self.conn, self.tables, self.department, self.enabled = conn, tables, department, enabled
        self.seed = seed(tables.resource, code)
        self._all: np.ndarray | None = None

    def hashes(self, rows: int, keys: Callable[[], list]) -> np.ndarray:
        """Sorted known hashes covering a block of `rows` rows whose keys `keys()` gives."""
        if not self.enabled:
            return np.zeros(0, dtype=np.int64)
        if self._all is None and rows >= LOOK_UP_BELOW:
            self._all = known(self.conn, self.tables, self.department)
        if self._all is not None:
            return self._all
        wanted = [k for k in keys() if k is not None]
        found = [
            known(self.conn, self.tables, self.department, wanted[i : i + _CHUNK])
            for i in range(0, len(wanted), _CHUNK)
        ]
        return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def known(
    conn: sa.Connection, tables: ResourceTables, department: str, keys: list | None = None
) -> np.ndarray:
    """The raw hashes of the department's active contributions (of `keys` only, if given),
    sorted."""
    contrib = tables.contribution
    rows = sa.select(contrib.c._raw_hash).where(
        contrib.c._department == department,
        contrib.c._withdrawn_at.is_(None),
        contrib.c._raw_hash.is_not(None),
    )
    if keys is not None:
        rows = rows.where(contrib.c[tables.resource.key].in_(keys))
    if is_postgres(conn) and keys is None:  # a million hashes as one text stream, for Arrow
        compiled = rows.compile(conn)
        buffer = io.BytesIO()
        with conn.connection.cursor() as cursor:
            sql = cursor.mogrify(str(compiled), compiled.params).decode()
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT", buffer)
        if buffer.tell() == 0:
            return np.zeros(0, dtype=np.int64)
        buffer.seek(0)
        options = pacsv.ReadOptions(column_names=["h"])
        types = pacsv.ConvertOptions(column_types={"h": pa.int64()})
        found = pacsv.read_csv(buffer, options, convert_options=types).column("h").to_numpy()
    else:
        found = np.fromiter(conn.execute(rows).scalars(), dtype=np.int64)
    return np.sort(found)


def day_hashes(hashes: np.ndarray, day: dt.date) -> np.ndarray:
    """Row hashes salted with a day: verdicts that compared dates with that day."""
    salt = int.from_bytes(hashlib.sha256(day.isoformat().encode()).digest()[:8], "big")
    return hashes ^ np.array(salt, dtype=np.uint64).view(np.int64)


JUDGED_BATCHES = 3  # the department's latest batches of the day whose verdicts are read


class Judged:
    """The verdicts of the rows a department's latest batches of the last day quarantined or
    dropped as repeats: their day-salted hashes (sorted) and the rules each failed. Read once,
    when first asked."""

    def __init__(
        self,
        conn: sa.Connection,
        tables: ResourceTables,
        department: str,
        since: dt.datetime,
        enabled: bool = True,
    ):
        self.conn, self.tables, self.department = conn, tables, department
        # in UTC, as the ledger writes started_at: SQLite compares the digits, whatever the
        # zone (a Shanghai midnight would pass over the evening before, UTC, of that day)
        self.since = since.astimezone(dt.UTC) if since.tzinfo else since
        self.enabled = enabled
        self._hashes: np.ndarray | None = None
        self._rules: list[list[str]] = []

    def _read(self) -> np.ndarray:
        if self._hashes is not None:
            return self._hashes
        self._hashes = np.zeros(0, dtype=np.int64)
        if not self.enabled:
            return self._hashes
        ledger = batch_ledger
        batches = sa.select(ledger.c.batch_id).where(
            ledger.c.resource == self.tables.resource.code,
            ledger.c.department == self.department,
            ledger.c.status == "loaded",
            ledger.c.started_at >= self.since,
            sa.or_(ledger.c.rows_quarantined > 0, ledger.c.rows_duplicate > 0),
        )
        # the latest few: a batch judges every row it is sent again, so the newest of a
        # department's full deliveries holds the verdicts that matter, at one batch's cost
        newest = batches.order_by(ledger.c.started_at.desc()).limit(JUDGED_BATCHES)
        ids = list(self.conn.execute(newest).scalars())
        if not ids:
            return self._hashes
        q = self.tables.quarantine
        found = self.conn.execute(
            sa.select(q.c.raw_hash, sa.cast(q.c.rules, sa.Text)).where(
                q.c.batch_id.in_(ids), q.c.raw_hash.is_not(None)
            )
        ).all()
        found += self.conn.execute(  # repeats dropped: they broke no rule
            sa.select(passed_row.c.day_hash, sa.literal("[]")).where(
                passed_row.c.batch_id.in_(ids),
                passed_row.c.resource == self.tables.resource.code,
            )
        ).all()
        if not found:
            return self._hashes
        hashes = np.fromiter((h for h, _ in found), dtype=np.int64, count=len(found))
        hashes, first = np.unique(hashes, return_index=True)
        parsed: dict[str, list[str]] = {}
        self._rules = [parsed.setdefault(found[i][1], json.loads(found[i][1])) for i in first]
        self._hashes = hashes
        return hashes

    def look_up(self, hashes: np.ndarray) -> tuple[np.ndarray, list[list[str]]]:
        """Which of the day-salted `hashes` were judged, and the rules each broke: none for a
        repeat dropped, `duplicate_key_conflict` alone for a row that passed every rule."""
        known = self._read()
        if len(known) == 0 or len(hashes) == 0:
            return np.zeros(len(hashes), dtype=bool), []
        at = np.searchsorted(known, hashes).clip(max=len(known) - 1)
        found = known[at] == hashes
        return found, [self._rules[i] for i in at[found]]


def remember_passed(
    conn: sa.Connection,
    resource: str,
    department: str,
    batch_id: str,
    day_hashes: list[int],
    before: str,
) -> None:
    """Keep the day-salted hashes of repeats this batch dropped (they broke no rule); forget
    the department's older than batch id `before` (a day ago: batch ids sort by time)."""
    mine = sa.and_(passed_row.c.resource == resource, passed_row.c.department == department)
    conn.execute(passed_row.delete().where(mine, passed_row.c.batch_id < before))
    if day_hashes:
        rows = [
            {"batch_id": batch_id, "resource": resource, "department": department, "day_hash": h}
            for h in day_hashes
        ]
        conn.execute(passed_row.insert(), rows)


def among(hashes: np.ndarray, known_hashes: np.ndarray) -> np.ndarray:
    """Which of `hashes` are in the sorted `known_hashes`."""
    if len(known_hashes) == 0:
        return np.zeros(len(hashes), dtype=bool)
    order = np.argsort(hashes)  # probing in order reads the known hashes front to back
    ordered = hashes[order]
    at = np.searchsorted(known_hashes, ordered).clip(max=len(known_hashes) - 1)
    found = np.empty(len(hashes), dtype=bool)
    found[order] = known_hashes[at] == ordered
    return found


def kept_table(resource: Resource) -> sa.Table:
    """The keys (lines, raw hashes) a batch delivered unchanged."""
    key = resource.key_field
    return sa.Table(
        f"kept_{resource.table_name}",
        sa.MetaData(),
        sa.Column(key.name, column_type(key)),
        sa.Column("_line", sa.BigInteger, nullable=False),
        sa.Column("_raw_hash", sa.BigInteger, nullable=False),
        prefixes=["TEMPORARY"],
    )


def settle(
    conn: sa.Connection,
    tables: ResourceTables,
    stg: sa.Table,
    kept: sa.Table,
    department: str,
    fields: list[str],
) -> tuple[list[dict], int, list]:
    """Keys both kept and staged: delivered again in the same batch, spelt differently.

    Runs before the repeats within staging are settled, so that it sees every row of such a
    key. When every staged row has the contribution's values once normalised, they are
    identical repeats (dropped, counted); otherwise every row of the key leaves: the staged
    ones, and the kept ones as the contribution holds them, are returned for quarantine.
    Returns (conflicting rows, identical repeats to add to `repeats` of the kept rows, negative
    when kept rows counted there left, and the raw hashes of the staged rows so dropped).
    """
    key = tables.resource.key
    staging.analyze(conn, kept)
    clash = sa.select(stg.c[key]).where(sa.exists().where(kept.c[key] == stg.c[key]))
    keys = [k for (k,) in conn.execute(clash.distinct())]
    if not keys:
        return [], 0, []
    contrib = tables.contribution
    held = conn.execute(
        sa.select(contrib).where(contrib.c._department == department, contrib.c[key].in_(keys))
    ).mappings()
    holds = {row[key]: row for row in held}
    staged: dict[object, list[dict]] = {}
    for row in conn.execute(sa.select(stg).where(stg.c[key].in_(keys))).mappings():
        staged.setdefault(row[key], []).append(dict(row))
    conflicting, repeats, differing, dropped = [], 0, [], []
    for value, rows in staged.items():
        had = holds.get(value)  # None only if two rows' hashes collided
        if had is not None and all(row[n] == had[n] for row in rows for n in fields):
            repeats += len(rows)
            dropped += [row["_raw_hash"] for row in rows]
        else:
            differing.append(value)
            conflicting += rows
    conn.execute(stg.delete().where(stg.c[key].in_(keys)))
    kept_rows = _take_kept(conn, kept, key, differing, holds)
    conflicting = sorted(conflicting + kept_rows, key=lambda row: row["_line"])
    return conflicting, repeats - (len(kept_rows) - len(differing)), dropped


def _take_kept(
    conn: sa.Connection, kept: sa.Table, key: str, differing: list, holds: dict
) -> list[dict]:
    """The kept rows of keys that leave, as the contribution holds them, with their lines."""
    if not differing:
        return []
    lines = sa.select(kept).where(kept.c[key].in_(differing))
    rows = [
        dict(holds.get(row[key]) or {key: row[key]}) | {"_line": row["_line"]}
        for row in conn.execute(lines).mappings()
    ]
    conn.execute(kept.delete().where(kept.c[key].in_(differing)))
    return rows


def repeats(kept_hashes: list[np.ndarray]) -> int:
    """Identical repeats among the kept rows: a department's key has one known hash, so the
    kept rows of a key all have it."""
    hashes = np.sort(np.concatenate(kept_hashes)) if kept_hashes else np.zeros(0, np.int64)
    return int(np.count_nonzero(hashes[1:] == hashes[:-1]))  # np.unique: ten times slower
