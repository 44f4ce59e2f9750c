"""Fault injection: `gdx load` SIGKILLed at each point of a batch on PostgreSQL (reading,
staging, merging, committing). The library is exactly as before or exactly as after an
uninterrupted load, the next batch finds no `running` row left, and a rerun gives the
reference counts.

The points are found from outside, as an operator would see them: the loader's statements in
pg_stat_activity (its connections carry an application_name of their own).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, _postgres_or_skip
from tests.warehouse.test_running import GDX, PERSON, people_csv
from warehouse import engine as engines
from warehouse import tables
from warehouse.tables import batch_ledger, for_resource

#: statements that tell where the batch is (the first seen while it runs decides the kill)
POINTS = {
    "read": None,  # as soon as its running row is in the ledger
    "stage": re.compile(r"^\s*COPY\b.*stg_", re.S | re.I),
    "merge": re.compile(
        r"^\s*(INSERT INTO|UPDATE|DELETE FROM) (hist_|contrib_|conflict_)?population_person\b",
        re.I,
    ),
    "commit": re.compile(r"^\s*(UPDATE batch_ledger\b|COMMIT)", re.I),
}


class Warehouse:
    """A fresh PostgreSQL schema with the hub's tables, for one load sequence."""

    def __init__(self, catalog, tag: str):
        self.schema = f"t_fault_{uuid.uuid4().hex[:10]}"
        self.app = f"gdx-fault-{tag}-{uuid.uuid4().hex[:6]}"
        with self.admin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {self.schema}")
        url = sa.make_url(POSTGRES_URL).update_query_dict(
            {"options": f"-csearch_path={self.schema}", "application_name": self.app}
        )
        self.url = url.render_as_string(hide_password=False)
        self.engine = engines.create(self.url)
        tables.init_schema(self.engine, catalog)
        self.catalog = catalog

    @staticmethod
    def admin():
        return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT").connect()

    def drop(self) -> None:
        self.engine.dispose()
        with self.admin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {self.schema} CASCADE")

    def load(self, path, home) -> subprocess.Popen:
        env = dict(os.environ, GDX_HOME=str(home), GDX_DATABASE_URL=self.url)
        args = [GDX, "load", str(path), "--resource", PERSON, "--department", "public_security",
                "--json"]  # fmt: skip
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)  # fmt: skip

    def run(self, path, home) -> dict:
        process = self.load(path, home)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        return json.loads(out)

    def library(self) -> tuple:
        """What the library holds, without batch ids and times (which differ by run)."""
        person = self.catalog.resource(PERSON)
        t = for_resource(person)
        fields = [t.golden.c[spec.name] for spec in person.fields] + [t.golden.c._state]
        with self.engine.connect() as conn:
            golden = conn.execute(sa.select(*fields).order_by(t.golden.c.id_number)).all()
            counts = tuple(
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                for table in (t.history, t.contribution, t.quarantine, t.conflict)
            )
        return tuple(map(tuple, golden)), counts

    def ledger(self) -> list[tuple[str, str | None]]:
        with self.engine.connect() as conn:
            query = sa.select(batch_ledger.c.status, batch_ledger.c.error).order_by(
                batch_ledger.c.started_at
            )
            return [tuple(row) for row in conn.execute(query)]


def kill_at(warehouse: Warehouse, process: subprocess.Popen, point: str) -> str:
    """SIGKILL the load when it reaches `point`; what was seen last (or `done` if it ended)."""
    pattern = POINTS[point]
    watch = sa.text(
        "SELECT query FROM pg_stat_activity WHERE application_name = :app "
        "AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 120
    with Warehouse.admin() as conn:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return "done"
            if pattern is None:
                hit = conn.execute(
                    sa.text(
                        f"SELECT count(*) FROM {warehouse.schema}.batch_ledger "
                        "WHERE status = 'running'"
                    )
                ).scalar()
            else:
                queries = conn.execute(watch, {"app": warehouse.app}).scalars().all()
                hit = any(pattern.search(query) for query in queries)
            if hit:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                return point
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"the load never reached {point}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fault")
    first = people_csv(folder / "a.csv", 20_000)
    # half of the people moved, and as many new ones
    second = people_csv(folder / "b.csv", 20_000, start=10_000, address="吉林省吉林市")
    return first, second


@pytest.fixture(scope="module")
def reference(catalog, files, tmp_path_factory):
    """The library before and after an uninterrupted load of the second file."""
    _postgres_or_skip()
    home = tmp_path_factory.mktemp("reference")
    warehouse = Warehouse(catalog, "ref")
    try:
        warehouse.run(files[0], home)
        before = warehouse.library()
        summary = warehouse.run(files[1], home)
        return before, warehouse.library(), summary
    finally:
        warehouse.drop()


COUNTS = ("rows_read", "rows_inserted", "rows_updated", "rows_unchanged", "rows_quarantined",
          "records_changed")  # fmt: skip


@pytest.mark.parametrize("point", list(POINTS))
def test_a_load_killed_at_any_point_leaves_the_library_before_or_after(
    catalog, files, reference, point, tmp_path
):
    before, after, expected = reference
    assert before != after and expected["rows_inserted"] == expected["rows_updated"] == 10_000
    warehouse = Warehouse(catalog, point)
    try:
        warehouse.run(files[0], tmp_path)
        assert warehouse.library() == before
        seen = kill_at(warehouse, warehouse.load(files[1], tmp_path), point)
        if point != "commit":  # a commit is over in an instant: the kill may come after it
            assert seen == point
        state = warehouse.library()
        assert state in (before, after), f"killed at {seen}: the library is half-changed"
        rerun = warehouse.run(files[1], tmp_path)  # the next batch of the resource
        statuses = warehouse.ledger()
        assert ("running", None) not in statuses
        if state == before:
            assert statuses[1] == ("failed", "interrupted")
            assert {k: rerun[k] for k in COUNTS} == {k: expected[k] for k in COUNTS}
        else:
            assert rerun["status"] == "skipped"  # the killed load had committed
        assert warehouse.library() == after
    finally:
        warehouse.drop()
