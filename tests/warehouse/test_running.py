"""A killed batch is not left `running`: its life lock goes with its process, and the next batch
of the resource (or `gdx status`) marks it failed, `interrupted`. Real signals, both backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from gdx.pipeline import load_file
from quality.citizen_id import make_ids
from warehouse import running
from warehouse.tables import batch_ledger

GDX = str(Path(sys.executable).parent / "gdx")
PERSON = "population.person"


def people_csv(path: Path, n: int, start: int = 0, address: str = "吉林省长春市") -> Path:
    """`n` valid people (public security's columns), numbered from `start`."""
    days = np.arange(start, start + n)
    births = 19500101 + (days // 900) % 40 * 10000
    ids = make_ids(np.full(n, 220104), births, days % 900 + 100)
    lines = [
        f"{key},某{k},{'男' if int(key[16]) % 2 else '女'},{str(b)[:4]}-01-01,汉族,{address}{k}号\n"
        for k, (key, b) in enumerate(zip(ids, births, strict=True), start=start)
    ]
    path.write_text(
        "公民身份号码,姓名,性别,出生日期,民族,户籍地址\n" + "".join(lines), encoding="utf-8"
    )
    return path


def env_for(engine, home: Path) -> dict:
    url = engine.url.render_as_string(hide_password=False)
    return dict(os.environ, GDX_HOME=str(home), GDX_DATABASE_URL=url)


def statuses(engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        query = sa.select(batch_ledger.c.status, batch_ledger.c.error).order_by(
            batch_ledger.c.started_at
        )
        return [tuple(row) for row in conn.execute(query)]


def start_load(engine, home: Path, path: Path) -> subprocess.Popen:
    args = [GDX, "load", str(path), "--resource", PERSON, "--department", "public_security"]
    return subprocess.Popen(
        args, env=env_for(engine, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_running(engine, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while ("running", None) not in statuses(engine):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the load never started"
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the batch: reading, validating, staging


@pytest.fixture
def big_file(tmp_path) -> Path:
    return people_csv(tmp_path / "people.csv", 60_000)


def test_a_killed_load_is_marked_interrupted_by_the_next_batch(engine, catalog, tmp_path, big_file):
    process = start_load(engine, tmp_path, big_file)
    wait_running(engine, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert statuses(engine) == [("running", None)]  # nothing of it committed, not even its end
    small = people_csv(tmp_path / "small.csv", 10)
    summary = load_file(small, PERSON, "public_security", engine=engine, catalog=catalog)
    assert summary.status == "loaded"
    assert statuses(engine) == [("failed", "interrupted"), ("loaded", None)]


def test_gdx_status_finds_a_killed_load(engine, tmp_path, big_file):
    process = start_load(engine, tmp_path, big_file)
    wait_running(engine, process)
    status = subprocess.run(
        [GDX, "status", "--json"], env=env_for(engine, tmp_path), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    alive = json.loads(status.stdout)
    assert [b["resource"] for b in alive["running"]] == [PERSON] and alive["interrupted"] == []
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    status = subprocess.run(
        [GDX, "status"], env=env_for(engine, tmp_path), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert (
        "interrupted batch " in status.stdout and "from public_security (gdx load)" in status.stdout
    )
    assert statuses(engine) == [("failed", "interrupted")]


def test_a_terminated_load_rolls_back_and_says_interrupted(engine, tmp_path, big_file):
    process = start_load(engine, tmp_path, big_file)
    wait_running(engine, process)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert statuses(engine) == [("failed", "interrupted")]


def test_a_live_batch_is_never_reaped(engine, catalog, tmp_path):
    """Its own lock, held from before its running row is written until its end."""
    seen = []

    def look(conn, batch_id):  # inside the batch: another reaper must leave it alone
        seen.append(running.reap(engine))
        seen.append(running.reap(engine, PERSON))

    from gdx.batch import BatchRequest, run_batch
    from gdx.pipeline import CsvFile

    path = people_csv(tmp_path / "p.csv", 5)
    summary = run_batch(
        lambda: CsvFile(path, "auto", 1 << 20),
        BatchRequest(PERSON, "public_security", before_commit=look),
        engine=engine, catalog=catalog,
    )  # fmt: skip
    assert seen == [[], []] and summary.status == "loaded"
    assert statuses(engine) == [("loaded", None)]


def test_a_failure_recorded_after_the_commit_keeps_the_committed_status(engine, catalog, tmp_path):
    """A SIGTERM just after a batch's COMMIT unwinds through its failure path: the ledger row
    its transaction committed stays `loaded`."""
    from gdx.batch import _failed

    path = people_csv(tmp_path / "p.csv", 5)
    summary = load_file(path, PERSON, "public_security", engine=engine, catalog=catalog)
    _failed(engine, summary, running.INTERRUPTED, time.perf_counter())
    assert statuses(engine) == [("loaded", None)]
