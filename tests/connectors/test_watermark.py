"""Watermarks keep their type; text from typed values reads as the rules expect."""

from __future__ import annotations

import datetime as dt
import decimal

from connectors import watermark as marks
from connectors.base import text


def test_newest_compares_in_the_value_type():
    assert marks.newest([9, 10, 2]) == 10  # not "9" > "10"
    assert marks.newest(["2026-11-10 07:54:29", "2026-11-09 23:00:00"]) == "2026-11-10 07:54:29"
    assert (
        marks.newest(["2026-11-10T07:54:29.5"], "2026-11-01 00:00:00")
        == "2026-11-10 07:54:29.500000"
    )
    assert marks.newest(["2999-01-01", "2026-11-01"]) == "2026-11-01"  # the future is ignored
    assert marks.newest([], "2026-11-01") == "2026-11-01"
    assert marks.newest([None, ""]) is None


def test_rewind():
    assert marks.rewind("2026-11-10 08:00:00", 60) == dt.datetime(2026, 11, 10, 7, 0)
    assert marks.rewind("2026-11-10", 60) == dt.date(2026, 11, 9)
    assert marks.rewind(500, 60) == 500


def test_typed_values_as_text():
    assert text(decimal.Decimal("0E-8")) == "0.00000000"
    assert text(dt.datetime(2001, 5, 6)) == "2001-05-06"
    assert text(dt.datetime(2001, 5, 6, 7, 8, 9)) == "2001-05-06 07:08:09"
    assert text(dt.time(7, 8)) == "07:08:00"
    assert text(3.0) == "3" and text(2.5) == "2.5"


def test_an_integer_watermark_reads_only_new_rows(tmp_path):
    import sqlalchemy as sa

    from connectors.sql_table import SqlTable

    url = f"sqlite:///{tmp_path / 'd.db'}"
    db = sa.create_engine(url)
    with db.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id TEXT, version INTEGER)")
        conn.execute(
            sa.text("INSERT INTO t VALUES (:i, :v)"),
            [{"i": f"k{n}", "v": n} for n in range(1, 5001)],
        )

    def read(state):
        reader = SqlTable(url, table="t", watermark="version", lookback_minutes=60, state=state)
        rows = [row for batch in reader.batches() for row in batch.table.to_pylist()]
        return rows, reader.next_state(state)

    rows, state = read({})
    assert len(rows) == 5000 and state == {"watermark": 5000}
    with db.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES ('new', 5001)"))
    db.dispose()
    rows, state = read(state)
    assert [row["id"] for row in rows] == ["new"] and state == {"watermark": 5001}


def test_time_zones_and_mixed_dates():
    aware = dt.datetime(2024, 5, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert marks.newest([aware], "2024-05-01 10:00:00+08:00") == "2024-05-02 10:00:00+08:00"
    assert (
        marks.newest(["2024-05-02T10:00:00Z"], "2024-05-01 00:00:00") == "2024-05-02 10:00:00+00:00"
    )
    assert marks.newest([dt.datetime(2024, 6, 1, 9)], "2024-05-01") == "2024-06-01 09:00:00"
    assert marks.rewind("2024-05-02 10:00:00+08:00", 60) == aware - dt.timedelta(hours=1)


def test_a_timestamptz_watermark_moves_on_postgresql():
    import sqlalchemy as sa

    from connectors.sql_table import SqlTable
    from tests.conftest import POSTGRES_URL, _postgres_or_skip

    _postgres_or_skip()
    import uuid

    name = f"wm_tz_{uuid.uuid4().hex[:10]}"
    db = sa.create_engine(POSTGRES_URL)
    with db.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE TABLE {name} (id TEXT, at TIMESTAMPTZ)")
        conn.exec_driver_sql(f"INSERT INTO {name} VALUES ('a', '2024-05-01 10:00+08')")
    try:

        def read(state):
            reader = SqlTable(
                POSTGRES_URL, table=name, watermark="at", lookback_minutes=0, state=state
            )
            rows = [row["id"] for batch in reader.batches() for row in batch.table.to_pylist()]
            return rows, reader.next_state(state)

        rows, state = read({})
        assert rows == ["a"]
        with db.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {name} VALUES ('b', '2024-05-02 10:00+08')")
        rows, state = read(state)
        assert rows == ["b"]
        assert read(state)[0] == []
    finally:
        with db.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        db.dispose()
