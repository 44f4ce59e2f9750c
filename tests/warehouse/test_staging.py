"""Staging helpers, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from warehouse import staging
from warehouse.engine import writing
from warehouse.tables import for_resource


def _indexes(conn: sa.Connection, table: sa.Table) -> tuple:
    inspector = sa.inspect(conn)
    named = sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table.name))
    primary = inspector.get_pk_constraint(table.name)
    return tuple(named), tuple(primary["constrained_columns"]), primary["name"]


def test_indexes_deferred_rebuilds_every_index_and_key(engine, catalog):
    tables = for_resource(catalog.resource("e_licence.licence"))
    golden, history = tables.golden, tables.history
    every = (golden, history, tables.contribution)  # the contributions' key has two columns
    with engine.connect() as conn:
        before = [_indexes(conn, t) for t in every]
    row = {"licence_id": "L1", "licence_no": "N1", "holder_id": "H", "_state": "active"}
    row |= {"_batch_id": "b", "_created_at": sa.func.now(), "_updated_at": sa.func.now()}
    with writing(engine) as conn:
        with staging.indexes_deferred(conn, *every):
            conn.execute(golden.insert().values(row))
    with engine.connect() as conn:
        assert [_indexes(conn, t) for t in every] == before
        assert before[0][0]  # licence_no and holder_id are indexed
        # the primary key is back: a second L1 is refused
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(golden.insert().values(row))


def test_a_failure_inside_keeps_the_indexes(engine, catalog):
    tables = for_resource(catalog.resource("e_licence.licence"))
    with engine.connect() as conn:
        before = _indexes(conn, tables.golden)
    with pytest.raises(RuntimeError), writing(engine) as conn:
        with staging.indexes_deferred(conn, tables.golden):
            raise RuntimeError("the batch failed")
    with engine.connect() as conn:
        assert _indexes(conn, tables.golden) == before


def test_repeated_lines_are_the_rows_whose_key_hash_repeats_across_blocks():
    import numpy as np

    keys = [np.array([5, 1, 9], dtype=np.uint64), np.array([7, 9, 5, 5], dtype=np.uint64)]
    lines = [np.array([2, 3, 4]), np.array([10, 11, 12, 13])]
    assert staging.repeated_lines(keys, lines).tolist() == [2, 4, 11, 12, 13]
    assert staging.repeated_lines([], []).tolist() == []
    assert staging.repeated_lines([keys[0]], [lines[0]]).tolist() == []
