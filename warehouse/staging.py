"""Staging: a temporary table per batch, filled by (binary) COPY on PostgreSQL, executemany on
SQLite."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from catalog_schema import Resource
from catalog_schema import scope as scope_words
from warehouse import binary_copy
from warehouse.engine import is_postgres
from warehouse.tables import staging_table


def create(conn: sa.Connection, resource: Resource) -> sa.Table:
    """A fresh temporary staging table, private to this connection's transaction."""
    return temporary(conn, staging_table(resource))


def temporary(conn: sa.Connection, table: sa.Table) -> sa.Table:
    """Create a TEMPORARY table afresh; on PostgreSQL it is dropped when the transaction ends."""
    conn.execute(sa.schema.DropTable(table, if_exists=True))
    if is_postgres(conn):
        table.dialect_options["postgresql"]["on_commit"] = "DROP"
    table.create(conn)
    return table


def append(conn: sa.Connection, table: sa.Table, rows: pa.Table | None) -> None:
    """Append rows whose columns are a subset of the staging table's, by name: on PostgreSQL by
    binary COPY where every column can be encoded so (warehouse/binary_copy.py), else by CSV
    COPY, in the connection's transaction either way."""
    if rows is None or rows.num_rows == 0:
        return
    names = rows.column_names
    if is_postgres(conn):
        with conn.connection.cursor() as cursor:
            if not binary_copy.copy(cursor, table, rows):
                copy_csv(cursor, table, rows)
        return
    quoted = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    columns = [rows.column(name).to_pylist() for name in names]
    conn.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', list(zip(*columns, strict=True))
    )


def copy_csv(cursor, table: sa.Table, rows: pa.Table) -> None:
    """COPY `rows` into `table` as CSV through a psycopg2 cursor: PostgreSQL parses each value
    by its column's type (what binary COPY falls back to)."""
    buffer = io.BytesIO()
    pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
    size = max(buffer.tell(), 8192)
    buffer.seek(0)
    quoted = ", ".join(f'"{name}"' for name in rows.column_names)
    # read whole: psycopg2 takes the GIL back for every read, and a batch judges its next block
    # in another thread meanwhile
    copy = f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)'
    cursor.copy_expert(copy, buffer, size=size)


def analyze(conn: sa.Connection, table: sa.Table) -> None:
    """Give PostgreSQL's planner statistics of a filled table (autovacuum never analyses
    temporary tables, so it would guess their size, and reaches a filled table only later)."""
    if is_postgres(conn):
        conn.exec_driver_sql(f'ANALYZE "{table.name}"')


@contextmanager
def indexes_deferred(conn: sa.Connection, *tables: sa.Table) -> Iterator[None]:
    """Bulk inserts into empty tables without maintaining their indexes row by row: on
    PostgreSQL the indexes (and primary keys) are dropped and built again once the rows are in,
    which is about twice as fast for a million rows. All of it is in the caller's transaction:
    a failure rolls the indexes back with the rows. The tables are held exclusively until the
    transaction ends: their readers wait for it (worth it for a big load only).

    The builds keep the server's maintenance_work_mem and max_parallel_maintenance_workers: at
    its defaults (64 MB, 2) a first load's indexes of 1,000,000 people build in 1.8 s, with one
    parallel worker (PostgreSQL gives a participant 32 MB at least), 2.5 s without; 256 MB
    gains 7-18% without workers, nothing with one, and lets PostgreSQL take a second worker: 8%
    slower on 2 cores (bench/copy-formats.txt)."""
    if not is_postgres(conn):
        yield
        return
    rebuild: list[str] = []
    for table in tables:
        name = conn.dialect.identifier_preparer.format_table(table)
        oid = {"table": name}
        constraints = conn.exec_driver_sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(%(table)s) AND contype IN ('p', 'u')",
            oid,
        ).all()
        indexes = conn.exec_driver_sql(  # pg_get_indexdef names the schema; DROP must too
            "SELECT n.nspname, ci.relname, pg_get_indexdef(ix.indexrelid) FROM pg_index ix "
            "JOIN pg_class ci ON ci.oid = ix.indexrelid "
            "JOIN pg_namespace n ON n.oid = ci.relnamespace "
            "WHERE ix.indrelid = to_regclass(%(table)s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)",
            oid,
        ).all()
        for constraint, definition in constraints:
            conn.exec_driver_sql(f'ALTER TABLE {name} DROP CONSTRAINT "{constraint}"')
            rebuild.append(f'ALTER TABLE {name} ADD CONSTRAINT "{constraint}" {definition}')
        for schema, index, definition in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{schema}"."{index}"')
            rebuild.append(definition)
    yield
    for statement in rebuild:
        conn.exec_driver_sql(statement)


def drop(conn: sa.Connection, table: sa.Table) -> None:
    conn.execute(sa.schema.DropTable(table, if_exists=True))


def duplicates(
    conn: sa.Connection, table: sa.Table, key: str, suspects: np.ndarray
) -> tuple[list[dict], list[int | None]]:
    """Settle repeated keys: identical repeats are dropped (counted), conflicting ones removed.

    `suspects`: the lines of the only rows whose key may repeat (`repeated_lines`); the rest of
    the table is not looked at. Returns the rows of conflicting keys (for quarantine) and the
    raw hashes of the identical repeats dropped (one per repeat).
    """
    if len(suspects) == 0:
        return [], []
    k = table.c[key]
    lines = temporary(conn, _lines_table(table))
    append(conn, lines, pa.table({"_line": pa.array(suspects, pa.int64())}))
    analyze(conn, lines)

    def scope(t: sa.Table) -> sa.ColumnElement[bool]:
        return t.c._line.in_(sa.select(lines.c._line))

    distinct_rows = sa.func.count(table.c._row_hash.distinct())
    conflicting = sa.select(k).where(scope(table)).group_by(k).having(distinct_rows > 1)
    conflict_rows = [
        dict(row._mapping)
        for row in conn.execute(
            sa.select(table)
            .where(scope(table), k.in_(conflicting.scalar_subquery()))
            .order_by(table.c._line)
        )
    ]
    if conflict_rows:
        keys = [row[key] for row in conflict_rows]
        conn.execute(table.delete().where(scope(table), k.in_(keys)))
    earlier = table.alias("earlier")  # an anti-join, not NOT IN: it stays linear at any size
    repeat = sa.exists().where(earlier.c[key] == k, earlier.c._line < table.c._line, scope(earlier))
    dropped = table.delete().where(scope(table), repeat).returning(table.c._raw_hash)
    removed = list(conn.execute(dropped).scalars())
    drop(conn, lines)
    return conflict_rows, removed


def _lines_table(table: sa.Table) -> sa.Table:
    return sa.Table(
        f"sus_{table.name}",
        sa.MetaData(),
        sa.Column("_line", sa.BigInteger, primary_key=True),
        prefixes=["TEMPORARY"],
    )


def repeated_lines(keys: list[np.ndarray], lines: list[np.ndarray]) -> np.ndarray:
    """The lines whose key hash (`keys`, per block, with their `lines`) occurs more than once:
    the only rows that may repeat a key (a hash collision only adds a suspect)."""
    if not keys:
        return np.zeros(0, dtype=np.int64)
    hashes, at = np.concatenate(keys), np.concatenate(lines)
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = ordered[1:] == ordered[:-1]
    repeated = np.zeros(len(ordered), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    return np.sort(at[order[repeated]])


def key_hashes(values: pa.Array) -> np.ndarray:
    """A 64-bit hash per key, for `repeated_lines`."""
    return pd.util.hash_pandas_object(values.to_pandas(), index=False).to_numpy()


def take_foreign(
    conn: sa.Connection, tables, stg: sa.Table, scope: dict[str, frozenset[str]]
) -> list[tuple[dict, list[str]]]:
    """Remove the staged rows whose key is a record of another source's scope (its golden
    value of a scoped field matches none of `scope`'s values) and return them with the rules
    they broke.

    A row's own values were checked against the scope when it was judged; this is the record
    it would change: a bureau's delivery must not revoke another bureau's licence by its id.
    A scope on the key itself needs no look-up (the row's key is the record's).
    """
    golden, key = tables.golden, tables.resource.key
    broke = []
    for field, values in scope.items():
        if field == key:
            continue
        exact, prefixes = scope_words.split(values)
        column = golden.c[field]
        inside = sa.or_(
            column.in_(exact), *(column.startswith(p, autoescape=True) for p in prefixes)
        )
        broke.append((scope_words.rule_id(field), sa.and_(column.is_not(None), ~inside)))
    if not broke:
        return []
    flags = [sa.case((test, True), else_=False).label(f"_scope_{i}") for i, (_, test) in
             enumerate(broke)]  # fmt: skip
    foreign = (
        sa.select(stg.c[key])
        .join(golden, golden.c[key] == stg.c[key])
        .where(sa.or_(*(test for _, test in broke)))
    )
    query = (
        sa.select(stg, *flags)
        .join(golden, golden.c[key] == stg.c[key])
        .where(stg.c[key].in_(foreign.scalar_subquery()))
        .order_by(stg.c._line)
    )
    found = []
    for row in conn.execute(query):
        values = dict(row._mapping)
        rules = [rule for i, (rule, _) in enumerate(broke) if values.pop(f"_scope_{i}")]
        found.append((values, rules))
    if found:  # by the same look-up, not a list of keys (SQLite's limit on parameters)
        conn.execute(stg.delete().where(stg.c[key].in_(foreign.scalar_subquery())))
    return found
