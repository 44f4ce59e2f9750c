"""Arrow rows into PostgreSQL: CSV COPY against binary COPY, and the golden table's index builds
(issue 19, item 3). About two minutes; writes bench/copy-formats.txt.

    python bench/copy_formats.py [PEOPLE]   (default 1,000,000)

The rows are the population file of bench/ingest.py (its generator, kept in var/bench/data),
read, normalised and hashed as a batch stages them (quality.normalize, batch_work.staged_rows).
Timed, each the median of ROUNDS, in one run so that the ratios compare like with like:
  1. into the batch's temporary staging table, on one psycopg2 connection: staging.copy_csv
     (Arrow's CSV writer, COPY ... FORMAT csv) and binary_copy.copy (the cast, pgpq's encoding,
     COPY ... FORMAT binary), each from the Arrow table to the rows in;
  2. into an UNLOGGED table of the same columns, the same two and, when adbc-driver-postgresql is
     installed (the bench extra: its connection cannot share the batch's transaction), ADBC's
     ingest of the cast table as a peer;
  3. a first load's indexes and primary keys (golden, contribution and history tables, one row
     per key) built again, as staging.indexes_deferred does, INDEX_ROUNDS times round-robin:
     maintenance_work_mem 64 MB (the server's default) and 256 MB (SET LOCAL),
     without parallel workers and with the server's max_parallel_maintenance_workers;
     trace_sort's messages tell how many index sorts were parallel.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import ingest
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from catalog_schema import load_catalog
from catalog_schema.models import header_key
from quality.normalize import normalize_table
from warehouse import binary_copy, staging, tables, unchanged
from warehouse.batch_work import staged_rows

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "copy-formats.txt"
DB = "gdx_bench_copy"
ROUNDS = 3
INDEX_ROUNDS = 5
RESOURCE = "population.person"


def staged(path: Path, resource) -> pa.Table:
    """The file's rows as a batch stages them (every row, passed or not)."""
    raw = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding="gbk"),
        convert_options=pacsv.ConvertOptions(
            column_types={}, strings_can_be_null=False, auto_dict_encode=False
        ),
    )
    fields = {header_key(h): spec.name for spec in resource.fields for h in spec.headers()}
    names = {c: fields[header_key(c)] for c in raw.column_names if header_key(c) in fields}
    rows = raw.select(list(names)).rename_columns(list(names.values()))
    rows = pa.table({n: rows.column(n).cast(pa.string()) for n in rows.column_names})
    normal = normalize_table(resource, rows)
    lines = np.arange(2, rows.num_rows + 2, dtype=np.int64)
    return staged_rows(normal, lines, unchanged.row_hashes(rows))


def median_of(run, reset) -> float:
    times = []
    for _ in range(ROUNDS):
        reset()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    people = int(numbers[0]) if numbers else 1_000_000
    pg = ingest.Postgres()
    dataset = ingest.make_dataset(people)
    resource = load_catalog().resource(RESOURCE)
    started = time.perf_counter()
    rows = staged(dataset.path, resource)
    prepared = time.perf_counter() - started
    cast = binary_copy.encodable(rows, staging.staging_table(resource))
    assert cast is not None, "the staged people rows should all be encodable in binary"
    out = [
        f"Arrow rows into PostgreSQL {pg.server_version()}: {rows.num_rows:,} staged people rows "
        f"({people:,} people, {rows.nbytes / 1e6:.0f} MB in Arrow, {len(rows.column_names)} "
        f"columns: text, date, bigint), median of {ROUNDS}; written by bench/copy_formats.py",
        f"{dt.date.today()}, {platform.machine()}, {platform.python_version()}, "
        f"rows prepared in {prepared:.1f} s",
        "",
    ]
    pg.recreate(DB)
    url = pg.url_of(DB)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as conn:
            out += _copies(conn, url, rows, cast, resource)
            out += [""] + _index_builds(conn, rows, resource)
    finally:
        engine.dispose()
        pg.drop(DB)
    OUT.write_text("\n".join(out) + "\n")
    print("\n".join(out))


def _copies(conn: sa.Connection, url: str, rows: pa.Table, cast: pa.Table, resource) -> list[str]:
    stg = staging.create(conn, resource)
    cursor = conn.connection.cursor()
    truncate = lambda name: lambda: cursor.execute(f'TRUNCATE "{name}"')  # noqa: E731
    text = median_of(lambda: staging.copy_csv(cursor, stg, rows), truncate(stg.name))
    binary = median_of(lambda: binary_copy.copy(cursor, stg, rows), truncate(stg.name))
    encode_only = median_of(lambda: binary_copy.encode(binary_copy.encodable(rows, stg)), lambda: 0)
    csv_only = median_of(lambda: pacsv.write_csv(rows, io.BytesIO()), lambda: 0)
    lines = [
        "1. into the batch's temporary staging table (one psycopg2 connection)",
        f"   CSV COPY      {text:6.2f} s   (Arrow's CSV writer alone {csv_only:.2f} s)",
        f"   binary COPY   {binary:6.2f} s   (cast and pgpq encoding alone {encode_only:.2f} s)"
        f"   {text / binary:.2f}x faster than CSV",
    ]
    cursor.execute(f'CREATE UNLOGGED TABLE plain (LIKE "{stg.name}")')
    conn.connection.commit()  # the staging table goes (ON COMMIT DROP)
    plain = sa.Table("plain", sa.MetaData(), *[c._copy() for c in stg.columns])
    text_u = median_of(lambda: staging.copy_csv(cursor, plain, rows), truncate("plain"))
    binary_u = median_of(lambda: binary_copy.copy(cursor, plain, rows), truncate("plain"))
    conn.connection.commit()
    lines += [
        "2. into an UNLOGGED table of the same columns (committed each time)",
        f"   CSV COPY      {text_u:6.2f} s",
        f"   binary COPY   {binary_u:6.2f} s   {text_u / binary_u:.2f}x faster than CSV",
    ]
    try:
        from adbc_driver_postgresql import dbapi
    except ImportError:
        lines.append("   ADBC          not installed (pip install adbc-driver-postgresql)")
        return lines
    with dbapi.connect(url) as adbc:
        with adbc.cursor() as acur:

            def ingest_adbc() -> None:
                acur.adbc_ingest("plain", binary_copy.encodable(rows, plain), mode="append")
                adbc.commit()

            def empty() -> None:
                acur.execute("TRUNCATE plain")
                adbc.commit()

            seconds = median_of(ingest_adbc, empty)
            acur.execute("SELECT count(*) FROM plain")
            assert acur.fetchone()[0] == rows.num_rows
    lines.append(
        f"   ADBC ingest   {seconds:6.2f} s   {text_u / seconds:.2f}x faster than CSV "
        "(its own connection: a peer, not usable inside the batch's transaction)"
    )
    return lines


def _index_builds(conn: sa.Connection, rows: pa.Table, resource) -> list[str]:
    """The three tables a first load fills (merge._first_load), filled from `plain`."""
    made = tables.for_resource(resource)
    filled = (made.contribution, made.golden, made.history)
    for table in filled:
        table.create(conn)
    fields = ", ".join(f'"{spec.name}"' for spec in resource.fields)
    first = (  # one row per key, as the tables hold them
        f"SELECT DISTINCT ON (id_number) {fields} FROM plain WHERE id_number IS NOT NULL "
        "ORDER BY id_number, _line"
    )
    into = {
        made.contribution: ("_department, _batch_id, _changed_at", "'公安', 'b', now()"),
        made.golden: ("_batch_id, _created_at, _updated_at", "'b', now(), now()"),
        made.history: (
            "_op, _changed, _batch_id, _department, _valid_from",
            "'insert', '', 'b', '公安', now()",
        ),
    }
    for table, (names, values) in into.items():
        conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({fields}, {names}) SELECT *, {values} FROM ({first}) f'
        )
    conn.exec_driver_sql("DROP TABLE plain")
    conn.commit()
    raw = conn.connection.dbapi_connection
    raw.autocommit = True
    with raw.cursor() as cursor:
        names = ", ".join(f'"{t.name}"' for t in filled)
        cursor.execute(f"VACUUM ANALYZE {names}")
        cursor.execute(
            "SELECT sum(pg_table_size(c.oid)) FROM pg_class c WHERE c.relname = ANY(%s)",
            ([t.name for t in filled],),
        )
        size = int(cursor.fetchone()[0])
        cursor.execute(f'SELECT count(*) FROM "{made.golden.name}"')
        count = cursor.fetchone()[0]
        cursor.execute("SHOW max_parallel_maintenance_workers")
        most = int(cursor.fetchone()[0])
    raw.autocommit = False
    # SQLAlchemy hands the server's messages (trace_sort's) to this logger, then forgets them
    notices: list[str] = []
    logger = logging.getLogger("sqlalchemy.dialects.postgresql")
    handler = logging.Handler()
    handler.emit = lambda record: notices.append(record.getMessage())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    built = [f"{t.name} ({1 + len(t.indexes)})" for t in filled]
    lines = [
        f"3. a first load's indexes and keys built again, as indexes_deferred does: {count:,} "
        f"records in each of {', '.join(built)}: {size / 1e6:.0f} MB of tables",
    ]
    # 64 MB gives one worker at most (PostgreSQL wants 32 MB a participant), 256 MB up to
    # `most`: one worker with 256 MB too, to tell the memory from the workers
    settings = [("64MB", 0), ("64MB", most), ("256MB", 0), ("256MB", most)]
    settings += [("256MB", 1)] if most > 1 else []
    times: dict[tuple, list[float]] = {setting: [] for setting in settings}
    parallel: dict[tuple, int] = {}
    try:
        for _ in range(INDEX_ROUNDS):  # round-robin: a neighbour's load spreads over all four
            for memory, workers in settings:
                conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{memory}'")
                conn.exec_driver_sql(f"SET LOCAL max_parallel_maintenance_workers = {workers}")
                conn.exec_driver_sql("SET LOCAL trace_sort = on")
                conn.exec_driver_sql("SET LOCAL client_min_messages = log")
                del notices[:]
                started = time.perf_counter()
                with staging.indexes_deferred(conn, *filled):
                    pass
                times[memory, workers].append(time.perf_counter() - started)
                conn.rollback()
                # a parallel build's leader merges its participants' runs ("... worker -1")
                parallel[memory, workers] = sum(
                    "parallel" in n and "worker -1" in n for n in notices
                )
    finally:
        logger.removeHandler(handler)
    for (memory, workers), seconds in times.items():
        lines.append(
            f"   maintenance_work_mem {memory:>5}, max_parallel_maintenance_workers {workers}: "
            f"{statistics.median(seconds):5.2f} s (median of {INDEX_ROUNDS}; "
            f"{min(seconds):.2f}-{max(seconds):.2f}), {parallel[memory, workers]} parallel sorts"
        )
    return lines


if __name__ == "__main__":
    main()
