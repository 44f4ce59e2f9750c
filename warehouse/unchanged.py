"""Rows a department delivers again unchanged cost almost nothing.

Each contribution keeps a 64-bit hash of the row as the department delivered it (its raw
values by field, `_raw_hash`). A batch hashes every row it reads, before normalising and
validating; a row whose hash is among the department's active contributions is unchanged: it
is neither validated nor staged nor merged. Only its key goes into a `kept` table, so that a
full snapshot still holds it and a repeat of the key with other values is still a conflict.

The hash is seeded with the resource's declaration: when a rule or a field changes, every row
is validated again.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from catalog_schema import Resource
from warehouse import staging
from warehouse.engine import is_postgres
from warehouse.tables import ResourceTables, column_type

_MIX = np.uint64(0x9E3779B97F4A7C15)  # an odd constant: each column's hash is multiplied in


def seed(resource: Resource) -> int:
    """A number that changes whenever the resource's declaration does."""
    declaration = resource.model_dump_json().encode()
    return int.from_bytes(hashlib.sha256(declaration).digest()[:8], "big")


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


def known(conn: sa.Connection, tables: ResourceTables, department: str) -> np.ndarray:
    """The raw hashes of the department's active contributions, sorted."""
    contrib = tables.contribution
    rows = sa.select(contrib.c._raw_hash).where(
        contrib.c._department == department,
        contrib.c._withdrawn_at.is_(None),
        contrib.c._raw_hash.is_not(None),
    )
    if is_postgres(conn):  # a million hashes as one text stream, parsed by Arrow
        sql = str(rows.compile(conn, compile_kwargs={"literal_binds": True}))
        buffer = io.BytesIO()
        with conn.connection.cursor() as cursor:
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


def among(hashes: np.ndarray, known_hashes: np.ndarray) -> np.ndarray:
    """Which of `hashes` are in the sorted `known_hashes`."""
    if len(known_hashes) == 0:
        return np.zeros(len(hashes), dtype=bool)
    at = np.searchsorted(known_hashes, hashes).clip(max=len(known_hashes) - 1)
    return known_hashes[at] == hashes


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
) -> tuple[list[dict], int]:
    """Repeated keys among the unchanged rows and against the staged ones.

    A key both kept and staged was delivered twice, the staged row spelt differently. With the
    same values once normalised, the staged row is an identical repeat (dropped, counted);
    with other values both leave: the staged row, and the kept ones as the contribution holds
    them, are returned for quarantine. Identical repeats among the kept rows are counted too.
    Returns (conflicting rows, identical repeats).
    """
    key = tables.resource.key
    staging.analyze(conn, kept)
    clash = sa.select(stg.c[key]).where(sa.exists().where(kept.c[key] == stg.c[key]))
    keys = [k for (k,) in conn.execute(clash.distinct())]
    if not keys:
        return [], 0
    contrib = tables.contribution
    staged = conn.execute(sa.select(stg).where(stg.c[key].in_(keys))).mappings().all()
    held = conn.execute(
        sa.select(contrib, kept.c._line)
        .join(kept, kept.c[key] == contrib.c[key])
        .where(contrib.c._department == department, kept.c[key].in_(keys))
    ).mappings()
    holds = {row[key]: row for row in held}
    conflicting, repeats, differing = [], 0, []
    for row in staged:  # at most one per key: repeats within staging are settled already
        had = holds[row[key]]
        if all(row[name] == had[name] for name in fields):
            repeats += 1
            continue
        differing.append(row[key])
        conflicting.append(dict(row))
    conn.execute(stg.delete().where(stg.c[key].in_(keys)))
    kept_rows = []
    if differing:
        lines = sa.select(kept).where(kept.c[key].in_(differing))
        kept_rows = [
            dict(holds[row[key]]) | {"_line": row["_line"]}
            for row in conn.execute(lines).mappings()
        ]
        conn.execute(kept.delete().where(kept.c[key].in_(differing)))
    conflicting = sorted(conflicting + kept_rows, key=lambda row: row["_line"])
    return conflicting, repeats - (len(kept_rows) - len(differing))


def repeats(kept_hashes: list[np.ndarray]) -> int:
    """Identical repeats among the kept rows: a department's key has one known hash, so the
    kept rows of a key all have it."""
    hashes = np.concatenate(kept_hashes) if kept_hashes else np.zeros(0, dtype=np.int64)
    return len(hashes) - len(np.unique(hashes))
