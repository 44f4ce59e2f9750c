"""gdx/batch.py: a delivery's blocks judged a thread ahead of the warehouse on PostgreSQL (in
turn on SQLite), and the batch still all or nothing."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

import gdx.batch
from gdx.errors import GdxError
from gdx.pipeline import load_file
from tests.warehouse.test_running import people_csv, statuses
from warehouse.engine import is_postgres
from warehouse.tables import for_resource

PERSON = "population.person"


def counts(engine, catalog) -> tuple[int, int, int]:
    tables = for_resource(catalog.resource(PERSON))
    with engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (tables.golden, tables.history, tables.quarantine)
        )


def test_blocks_are_judged_ahead_on_postgresql_and_in_turn_on_sqlite(
    engine, catalog, tmp_path, monkeypatch
):
    path = people_csv(tmp_path / "p.csv", 3000)
    text = path.read_text(encoding="utf-8").replace("-01-01,", "-13-45,", 7)  # 7 no dates
    (tmp_path / "bad.csv").write_text(text, encoding="utf-8")
    judge, where = gdx.batch.judge_block, []

    def noted(*args):
        where.append(threading.current_thread() is threading.main_thread())
        return judge(*args)

    monkeypatch.setattr(gdx.batch, "judge_block", noted)
    summary = load_file(tmp_path / "bad.csv", PERSON, "public_security", engine=engine,
                        catalog=catalog, block_bytes=20_000)  # fmt: skip
    assert len(where) > 5  # many blocks
    assert set(where) == ({False} if is_postgres(engine) else {True})
    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (3000, 2993, 7)
    assert counts(engine, catalog) == (2993, 2993, 7)
    assert engine.pool.checkedout() == 0  # the reader's connection went back too


def test_a_block_failing_after_others_were_stored_leaves_nothing(
    engine, catalog, tmp_path, monkeypatch
):
    path = people_csv(tmp_path / "p.csv", 3000)
    judge, calls = gdx.batch.judge_block, []

    def fails_at_the_fourth(*args):
        calls.append(1)
        if len(calls) == 4:
            raise GdxError(f"{path}: block 4 is unreadable")
        return judge(*args)

    monkeypatch.setattr(gdx.batch, "judge_block", fails_at_the_fourth)
    with pytest.raises(GdxError, match="block 4 is unreadable"):
        load_file(path, PERSON, "public_security", engine=engine, catalog=catalog,
                  block_bytes=20_000)  # fmt: skip
    assert statuses(engine) == [("failed", f"{path}: block 4 is unreadable")]
    assert counts(engine, catalog) == (0, 0, 0)
    assert engine.pool.checkedout() == 0
    monkeypatch.undo()
    again = load_file(path, PERSON, "public_security", engine=engine, catalog=catalog,
                      block_bytes=20_000)  # fmt: skip
    assert again.status == "loaded" and counts(engine, catalog) == (3000, 3000, 0)


def test_a_failure_while_storing_stops_the_judging(engine, catalog, tmp_path, monkeypatch):
    """The warehouse fails at a block (a full disk): the thread judging ahead stops too."""
    import warehouse.batch_work

    path = people_csv(tmp_path / "p.csv", 3000)
    add, judge, stored, judged = warehouse.batch_work.BatchWork.add, gdx.batch.judge_block, [], []

    def disk_full(self, block):
        stored.append(1)
        if len(stored) == 2:
            raise OSError(28, "No space left on device")
        return add(self, block)

    monkeypatch.setattr(warehouse.batch_work.BatchWork, "add", disk_full)
    monkeypatch.setattr(gdx.batch, "judge_block", lambda *a: (judged.append(1), judge(*a))[1])
    with pytest.raises(OSError, match="No space left"):
        load_file(path, PERSON, "public_security", engine=engine, catalog=catalog,
                  block_bytes=20_000)  # fmt: skip
    assert len(judged) <= 2 + 2 + 1  # stored, queued, in hand: not the whole file
    assert counts(engine, catalog) == (0, 0, 0)
    assert engine.pool.checkedout() == 0
