"""The peers of `gdx load`, each run as its own process by bench/ingest.py.

    python bench/peers.py to_sql FILE DATABASE_URL
    python bench/peers.py dlt FILE DATABASE_URL PIPELINES_DIR

Each loads the public-security population file (GBK CSV) into PostgreSQL the way its users do,
and prints one JSON line: the rows it loaded and its own seconds (from after its imports).
Every column is text (the file's values as sent), under ASCII names: dlt's identifier
normalisation turns the file's Chinese headers into one name, `x`, and stops.
"""

from __future__ import annotations

import json
import sys
import time
from urllib.parse import urlsplit, urlunsplit

COLUMNS = ["id_number", "name", "gender", "birth_date", "ethnicity", "address", "updated_at"]
TABLE = "population"
CHUNK_ROWS = 10_000  # to_sql's chunksize
DLT_CHUNK_ROWS = 100_000  # DataFrames handed to dlt


def to_sql(path: str, url: str) -> int:
    """The naive peer: the whole file into a DataFrame, then `DataFrame.to_sql` (method=None)."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(_sqlalchemy_url(url))
    started = time.perf_counter()
    frame = pd.read_csv(
        path, encoding="gbk", names=COLUMNS, header=0, dtype=str, keep_default_na=False
    )
    rows = frame.to_sql(TABLE, engine, if_exists="append", index=False, chunksize=CHUNK_ROWS)
    engine.dispose()
    return _report(rows if rows is not None else len(frame), started)


def dlt_pipeline(path: str, url: str, pipelines_dir: str) -> int:
    """dlt with its defaults for postgres, fed pandas chunks (dlt's arrow path, not dicts)."""
    import dlt
    import pandas as pd

    started = time.perf_counter()

    @dlt.resource(name=TABLE, write_disposition="append")
    def population():
        yield from pd.read_csv(
            path,
            encoding="gbk",
            names=COLUMNS,
            header=0,
            dtype=str,
            keep_default_na=False,
            chunksize=DLT_CHUNK_ROWS,
        )

    pipeline = dlt.pipeline(
        pipeline_name="bench_population",
        destination=dlt.destinations.postgres(_with_password(url)),
        dataset_name="bench",
        pipelines_dir=pipelines_dir,
    )
    info = pipeline.run(population())
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get(TABLE, 0)
    return _report(rows, started)


def _report(rows: int, started: float) -> int:
    print(json.dumps({"rows": int(rows), "seconds": round(time.perf_counter() - started, 3)}))
    return 0


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _with_password(url: str) -> str:
    """dlt insists on a password; trust authentication ignores it."""
    parts = urlsplit(url)
    if parts.password is not None or "@" not in parts.netloc:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user}:unused@{host}"))


def main(argv: list[str]) -> int:
    peer, *args = argv
    if peer == "to_sql":
        return to_sql(*args)
    if peer == "dlt":
        return dlt_pipeline(*args)
    raise SystemExit(f"unknown peer {peer!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
