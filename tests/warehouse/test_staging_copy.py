"""Binary COPY (warehouse/binary_copy.py) against CSV COPY: the same staged rows, a fallback
for what binary cannot take, and a failure that rolls back with the batch."""

from __future__ import annotations

import datetime as dt
import decimal

import psycopg2
import pyarrow as pa
import pytest
import sqlalchemy as sa

from catalog_schema import load_catalog
from warehouse import binary_copy, staging
from warehouse.engine import is_postgres, writing
from warehouse.tables import staging_table


def _postgres(engine: sa.Engine) -> None:
    if not is_postgres(engine):
        pytest.skip("COPY is PostgreSQL's")


def _both(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> tuple[list, list]:
    """The rows staged by CSV COPY and by binary COPY, each into a fresh `table`."""
    staged = []
    for binary in (False, True):
        staging.temporary(conn, table)
        with conn.connection.cursor() as cursor:
            if binary:
                assert binary_copy.copy(cursor, table, rows)
            else:
                staging.copy_csv(cursor, table, rows)
        staged.append(conn.execute(sa.select(table).order_by(table.c._line)).all())
    return staged[0], staged[1]


def _sample(spec, n: int) -> list[str | None]:
    """Normalised values of a field's type (as quality.normalize leaves them: strings)."""
    if spec.type == "date":
        return ["2024-02-29", "1899-12-30", None, "0001-01-01", "9999-12-31"][:n]
    if spec.type == "decimal":
        return ["1234.5", "-0.0001", None, "9999999999999999.9999", "0"][:n]
    return ["张三丰", "", None, '路 883 号\t"引号",逗号\n换行\\', "𠀀 ASCII é"][:n]


def test_every_resources_columns_stage_the_same_by_binary_and_csv(engine, catalog):
    _postgres(engine)
    every = load_catalog().resources.values()
    assert {spec.type for resource in every for spec in resource.fields} <= {
        "text", "date", "decimal"
    }  # fmt: skip
    with writing(engine) as conn:
        for resource in every:
            table = staging_table(resource)
            rows = {spec.name: pa.array(_sample(spec, 5), pa.string()) for spec in resource.fields}
            rows |= {
                "_line": pa.array([2, 3, 4, 5, 6], pa.int64()),
                "_row_hash": pa.array([-(2**63), 2**63 - 1, 0, -1, 7], pa.int64()),
                "_raw_hash": pa.array([1, None, 2, None, 3], pa.int64()),
            }
            rows = pa.table(rows)
            assert binary_copy.encodable(rows, table) is not None, resource.name
            text, binary = _both(conn, table, rows)
            assert binary == text, resource.name
            assert len(binary) == 5
        # one of them, read back: dates, decimals, nulls and Chinese text as given
        person = dict(binary[0]._mapping)
        assert person["_row_hash"] == -(2**63)


def test_the_column_types_binary_copy_covers():
    types = {
        "d": sa.Date(),
        "n": sa.Numeric(20, 4),
        "b": sa.BigInteger(),
        "i": sa.Integer(),
        "s": sa.SmallInteger(),
        "f": sa.Boolean(),
        "tz": sa.DateTime(timezone=True),
        "ts": sa.DateTime(),
        "t": sa.Text(),
        "v": sa.String(40),
    }
    for name, column_type in types.items():
        assert binary_copy.arrow_type(column_type) is not None, name
    assert binary_copy.arrow_type(sa.JSON()) is None
    assert binary_copy.arrow_type(sa.Float()) is None
    assert binary_copy.arrow_type(sa.Numeric()) is None  # no scale to encode to


def test_other_column_types_stage_the_same(engine):
    _postgres(engine)
    table = sa.Table(
        "stg_kinds",
        sa.MetaData(),
        sa.Column("_line", sa.BigInteger),
        sa.Column("n", sa.Integer),
        sa.Column("s", sa.SmallInteger),
        sa.Column("f", sa.Boolean),
        sa.Column("tz", sa.DateTime(timezone=True)),
        sa.Column("ts", sa.DateTime()),
        sa.Column("d", sa.Date()),
        sa.Column("m", sa.Numeric(20, 4)),
        sa.Column("v", sa.String(10)),
        prefixes=["TEMPORARY"],
    )
    shanghai = dt.timezone(dt.timedelta(hours=8))
    rows = pa.table(
        {
            "_line": pa.array([1, 2, 3], pa.int32()),  # cast to bigint's int64
            "n": pa.array([-(2**31), None, 2**31 - 1], pa.int64()),
            "s": pa.array([-128, 0, None], pa.int8()),
            "f": pa.array([True, None, False]),
            "tz": pa.array(
                [
                    dt.datetime(2026, 3, 29, 1, 30, tzinfo=shanghai),
                    None,
                    dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                ],
                pa.timestamp("ns", "Asia/Shanghai"),
            ),  # fmt: skip
            "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6), None, dt.datetime(2000, 1, 1)]),
            "d": pa.array([dt.date(2024, 2, 29), None, dt.date(1, 1, 1)], pa.date32()),
            "m": pa.array(
                [decimal.Decimal("1.25"), None, decimal.Decimal("-3")], pa.decimal128(10, 2)
            ),
            "v": pa.array(["十个字以内的文字", None, "x"], pa.large_string()),
        }
    )
    with writing(engine) as conn:
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'Asia/Shanghai'")  # CSV's naive times: local
        text, binary = _both(conn, table, rows)
    assert binary == text
    assert binary[0].tz == dt.datetime(2026, 3, 29, 1, 30, tzinfo=shanghai)
    assert binary[0].m == decimal.Decimal("1.2500") and binary[2].d == dt.date(1, 1, 1)


@pytest.mark.parametrize(
    ("column_type", "values"),
    [
        (sa.Date(), ["2024/01/02", "2024-01-03"]),  # PostgreSQL's text input reads both
        (sa.Date(), ["0000-01-01", None]),  # Arrow reads year 0; PostgreSQL refuses it
        (sa.Numeric(20, 4), ["1.23456", "2"]),  # PostgreSQL rounds a fifth decimal
        (sa.Numeric(20, 4), [" 12", "NaN"]),
        (sa.JSON(), ['{"a": 1}', None]),  # a type binary_copy does not cover
        (sa.Float(), [1.5, None]),
    ],
)
def test_what_binary_cannot_take_goes_by_csv(engine, column_type, values):
    _postgres(engine)
    table = sa.Table(
        "stg_fallback",
        sa.MetaData(),
        sa.Column("_line", sa.BigInteger),
        sa.Column("v", column_type),
        prefixes=["TEMPORARY"],
    )
    rows = pa.table({"_line": pa.array(range(len(values)), pa.int64()), "v": pa.array(values)})
    assert binary_copy.encodable(rows, table) is None
    with writing(engine) as conn:
        staging.temporary(conn, table)
        with conn.connection.cursor() as cursor:
            assert not binary_copy.copy(cursor, table, rows)  # nothing sent
        if values[0] == "0000-01-01":
            with pytest.raises(psycopg2.DataError), conn.begin_nested():
                staging.append(conn, table, rows)  # refused, as it always was
            return
        staging.append(conn, table, rows)  # by CSV
        staged = conn.execute(sa.select(table.c.v).order_by(table.c._line)).scalars().all()
    expected = {
        "2024/01/02": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "1.23456": [decimal.Decimal("1.2346"), decimal.Decimal("2.0000")],
        " 12": [decimal.Decimal("12.0000"), decimal.Decimal("NaN")],
    }
    if values[0] in expected:
        got = expected[values[0]]
        assert [str(v) for v in staged] == [str(v) for v in got]
    else:
        assert len(staged) == 2 and staged[1] is None


def test_append_stages_by_binary_copy(engine, catalog, monkeypatch):
    _postgres(engine)
    resource = catalog.resource("population.person")
    table = staging_table(resource)
    rows = pa.table(
        {
            "id_number": pa.array(["11010519491231002X"]),
            "birth_date": pa.array(["1949-12-31"]),
            "_line": pa.array([2]),
            "_row_hash": pa.array([5]),
        }
    )
    used = []
    real = binary_copy.copy
    monkeypatch.setattr(binary_copy, "copy", lambda *a: used.append(real(*a)) or used[-1])
    with writing(engine) as conn:
        staging.create(conn, resource)
        staging.append(conn, table, rows)
        row = conn.execute(sa.select(table)).one()
    assert used == [True]
    assert row.birth_date == dt.date(1949, 12, 31) and row.id_number == "11010519491231002X"


def test_a_failure_mid_copy_rolls_back_with_the_batch(engine, catalog):
    """A block refused mid-COPY (a value its column refuses) fails the transaction: the rows of
    the blocks before it and everything else the batch wrote are gone."""
    _postgres(engine)
    resource = catalog.resource("population.person")
    table = sa.Table("kept_rows", sa.MetaData(), sa.Column("_line", sa.BigInteger, nullable=False))
    table.create(engine)
    good = pa.table({"id_number": pa.array(["A"]), "_line": pa.array([2]), "_row_hash": [1]})
    bad = pa.table(  # _line is NOT NULL in staging: refused on the second row, mid-stream
        {"id_number": pa.array(["B", "C"]), "_line": pa.array([3, None]), "_row_hash": [2, 3]}
    )
    assert binary_copy.encodable(bad, staging_table(resource)) is not None
    with pytest.raises(psycopg2.errors.NotNullViolation), writing(engine) as conn:
        conn.execute(table.insert().values(_line=1))
        stg = staging.create(conn, resource)
        staging.append(conn, stg, good)
        staging.append(conn, stg, bad)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
