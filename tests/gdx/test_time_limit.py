"""A load that cannot finish in its source's declared time limit fails cleanly: nothing merged,
the ledger says why, the library's lock is free again."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

import gdx.batch
from gdx.batch import BatchRequest, run_batch
from gdx.errors import GdxError
from gdx.pipeline import CsvFile, load_file
from tests.conftest import edited_catalog
from tests.warehouse.test_running import people_csv, statuses
from warehouse.engine import is_postgres
from warehouse.tables import batch_ledger, for_resource

PERSON = "population.person"
SOURCE = "public_security.population"


@pytest.fixture
def hasty(tmp_path):
    """The catalog with public security's population source limited to one second."""

    def limit(data):
        for source in data["sources"]:
            if source["code"] == SOURCE:
                source["time_limit_seconds"] = 1

    return edited_catalog(tmp_path, "sources.yaml", limit)


def golden_count(engine, catalog) -> int:
    golden = for_resource(catalog.resource(PERSON)).golden
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(golden)).scalar()


def last_error(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(batch_ledger.c.error).order_by(batch_ledger.c.started_at.desc())
        ).scalar()


def test_a_slow_delivery_fails_between_blocks(engine, hasty, tmp_path, monkeypatch):
    path = people_csv(tmp_path / "p.csv", 3000)
    judge = gdx.batch.judge_block

    def slowly(*args, **kwargs):
        time.sleep(0.4)
        return judge(*args, **kwargs)

    monkeypatch.setattr(gdx.batch, "judge_block", slowly)
    expected = (
        f"{path}: the batch ran over its time limit of 1 s (time_limit_seconds of {SOURCE}); "
        "nothing of it was merged"
    )
    with pytest.raises(GdxError) as failed:
        load_file(path, PERSON, "public_security", engine=engine, catalog=hasty,
                  source=SOURCE, block_bytes=20_000)  # fmt: skip
    assert str(failed.value) == expected
    assert statuses(engine) == [("failed", expected)]
    assert golden_count(engine, hasty) == 0
    monkeypatch.undo()  # in time, the same file loads: the lock was given back
    summary = load_file(path, PERSON, "public_security", engine=engine, catalog=hasty)
    assert summary.status == "loaded" and golden_count(engine, hasty) == 3000


def test_a_statement_past_the_limit_is_cancelled_on_postgresql(engine, hasty, tmp_path):
    if not is_postgres(engine):
        pytest.skip("statement_timeout is PostgreSQL's")
    path = people_csv(tmp_path / "p.csv", 10)

    def stall(conn, _batch_id):
        conn.execute(sa.text("SELECT pg_sleep(5)"))

    started = time.monotonic()
    with pytest.raises(GdxError, match=r"ran over its time limit of 1 s \(time_limit_seconds"):
        run_batch(
            lambda: CsvFile(path, "auto", 1 << 20),
            BatchRequest(PERSON, "public_security", source=SOURCE, before_commit=stall),
            engine=engine, catalog=hasty,
        )  # fmt: skip
    assert time.monotonic() - started < 4.5  # cancelled, not slept out
    assert "time limit" in last_error(engine) and golden_count(engine, hasty) == 0


def test_the_setting_limits_a_batch_of_no_one_source(engine, tmp_path, monkeypatch):
    """Human resources with two sources for the population: its ad-hoc file speaks for
    neither, and GDX_BATCH_TIME_LIMIT_SECONDS limits it."""

    def second_source(data):
        data["sources"].append(
            {"code": "human_resources.phones", "department": "human_resources",
             "resource": PERSON, "options": {"kind": "csv", "path": "hr/phones.csv"},
             "fields": ["id_number", "phone"]}
        )  # fmt: skip

    catalog = edited_catalog(tmp_path, "sources.yaml", second_source)
    monkeypatch.setenv("GDX_BATCH_TIME_LIMIT_SECONDS", "1")
    judge = gdx.batch.judge_block
    monkeypatch.setattr(
        gdx.batch, "judge_block", lambda *a, **k: (time.sleep(0.4), judge(*a, **k))[1]
    )
    people = people_csv(tmp_path / "p.csv", 3000).read_text(encoding="utf-8").splitlines()
    path = tmp_path / "phones.csv"
    rows = [f"{line.split(',')[0]},1380000{n:04d}" for n, line in enumerate(people[1:])]
    path.write_text("公民身份号码,联系电话\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(GdxError, match=r"time limit of 1 s \(GDX_BATCH_TIME_LIMIT_SECONDS\)"):
        load_file(path, PERSON, "human_resources", engine=engine, catalog=catalog,
                  block_bytes=20_000)  # fmt: skip


def test_a_stalled_batch_gives_its_library_back_at_the_deadline(
    engine, catalog, hasty, tmp_path, monkeypatch
):
    """Stalled inside its transaction (a read that hangs), the batch holds the library's lock
    only until its deadline: PostgreSQL ends the idle transaction, the next load goes on."""
    if not is_postgres(engine):
        pytest.skip("idle_in_transaction_session_timeout is PostgreSQL's")
    import threading

    judge, calls = gdx.batch.judge_block, []

    def stall_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second block: hang well past the limit of 1 s
            time.sleep(4)
        return judge(*args, **kwargs)

    monkeypatch.setattr(gdx.batch, "judge_block", stall_once)
    stalled = people_csv(tmp_path / "stalled.csv", 3000)
    failure: list[BaseException] = []

    def slow_load():
        try:
            load_file(stalled, PERSON, "public_security", engine=engine, catalog=hasty,
                      source=SOURCE, block_bytes=20_000)  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - the thread reports what it raised
            failure.append(exc)

    thread = threading.Thread(target=slow_load)
    thread.start()
    while len(calls) < 2:
        time.sleep(0.05)
    monkeypatch.setattr(gdx.batch, "judge_block", judge)
    other = people_csv(tmp_path / "other.csv", 10, start=50_000)
    started = time.monotonic()
    summary = load_file(other, PERSON, "public_security", engine=engine, catalog=catalog)
    waited = time.monotonic() - started
    thread.join(timeout=30)
    assert summary.status == "loaded" and waited < 3.5  # not the stalled load's 4 s
    assert len(failure) == 1 and "ran over its time limit of 1 s" in str(failure[0])
