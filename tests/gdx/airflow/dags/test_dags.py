"""DAG integrity (DagBag) and a real `airflow dags test` run of the collection DAG."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from gdx.airflow.assets import asset_uri
from gdx.airflow.home import DAGS_FOLDER as DAGS


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAGS), safe_mode=False)


def test_no_import_errors_and_one_dag_per_source(dagbag, catalog):
    assert dagbag.import_errors == {}
    expected = {f"collect_{code.replace('.', '_')}" for code in catalog.sources}
    assert set(dagbag.dag_ids) == expected | {"publish_directory"}
    assert dagbag.dags["collect_human_resources_insured"].schedule == "@hourly"
    assert dagbag.dags["collect_public_security_population"].schedule == "@daily"


def test_every_dag_has_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert not dag.catchup, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id}"


def test_collections_run_in_their_library_pool_and_update_its_asset(dagbag, catalog):
    for code, source in catalog.sources.items():
        group = catalog.resource(source.resource).group
        (task,) = dagbag.dags[f"collect_{code.replace('.', '_')}"].tasks
        assert task.pool == f"gdx_{group}"
        assert [outlet.uri for outlet in task.outlets] == [asset_uri(group)]
    payments = dagbag.dags["collect_human_resources_payments"].tasks[0]
    assert payments.pool == "gdx_departments"  # a department's own resource
    assert payments.outlets[0].uri == "gdx://departments/resources"


def test_the_publish_dag_runs_when_a_library_changes_and_daily(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.dags["publish_directory"]
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "30 0 * * *"
    uris = {asset.uri for asset in dag.timetable.asset_condition.objects}
    assert uris == {
        f"gdx://base-library/{library}"
        for library in ["population", "legal_entity", "e_licence", "credit"]
    } | {"gdx://departments/resources"}
    assert [t.task_id for t in dag.topological_sort()] == ["refresh_derived", "publish_figures"]


def test_dag_files_only_wire():
    """No SQL and no reading at parse time in DAG files; logic lives in the packages."""
    for path in DAGS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "sqlalchemy" not in text and "SELECT" not in text.upper().replace("SELECTED", "")
        assert "open(" not in text and "read_csv" not in text and "create_engine" not in text


def test_airflow_dags_test_collects_the_registered_source(tmp_path):
    """`airflow dags test` runs the DAG end to end on a fresh SQLite metadata DB."""
    env_home = tmp_path / "var"
    bin_dir = Path(sys.executable).parent
    env = _env(tmp_path, env_home)
    run = [
        str(bin_dir / "gdx"),
        "demo-data",
        "--out",
        str(env_home / "incoming"),
        "--people",
        "500",
    ]
    subprocess.run(run, env=env, check=True, capture_output=True)
    subprocess.run([str(bin_dir / "gdx"), "init"], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [str(bin_dir / "airflow"), "dags", "test", "collect_public_security_population"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "state=success" in output
    engine = sa.create_engine(f"sqlite:///{env_home / 'gdx.db'}")
    with engine.connect() as conn:
        status, loaded = conn.execute(
            sa.text("SELECT status, rows_loaded FROM batch_ledger WHERE source = :s"),
            {"s": "public_security.population"},
        ).one()
        people = conn.execute(sa.text("SELECT COUNT(*) FROM population_person")).scalar_one()
    engine.dispose()
    assert status == "loaded" and loaded == people > 450
    airflow_db = sa.create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    with airflow_db.connect() as conn:
        pools = dict(conn.execute(sa.text("SELECT pool, slots FROM slot_pool")).all())
    airflow_db.dispose()
    assert {name: pools.get(name) for name in ["gdx_population", "gdx_credit"]} == {
        "gdx_population": 1,
        "gdx_credit": 1,
    }

    # the same task run again changes nothing: the file it already loaded is skipped
    again = subprocess.run(
        [str(bin_dir / "airflow"), "dags", "test", "collect_public_security_population"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "state=success" in again.stdout + again.stderr
    engine = sa.create_engine(f"sqlite:///{env_home / 'gdx.db'}")
    with engine.connect() as conn:
        statuses = (
            conn.execute(
                sa.text("SELECT status FROM batch_ledger WHERE source = :s ORDER BY started_at"),
                {"s": "public_security.population"},
            )
            .scalars()
            .all()
        )
        after = conn.execute(sa.text("SELECT COUNT(*) FROM hist_population_person")).scalar_one()
    engine.dispose()
    assert statuses == ["loaded", "skipped"] and after == people


def _env(tmp_path: Path, home: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["GDX_HOME"] = str(home)
    env.pop("GDX_DATABASE_URL", None)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmp_path / 'airflow.db'}"
    env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(tmp_path / "logs")
    return env


def test_a_failing_collection_fails_fast(tmp_path, monkeypatch):
    """No incoming file: the task fails, retries after a second (not five minutes), and the
    demo's runner reports the DAG failed."""
    import time

    from gdx.airflow.run import run_dags

    home = tmp_path / "var"
    monkeypatch.setenv("GDX_HOME", str(home))
    monkeypatch.delenv("GDX_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path / 'af.db'}")
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "gdx"), "init"], check=True, capture_output=True)
    finished = []
    started = time.monotonic()
    states = run_dags(["collect_public_security_population"], lambda *done: finished.append(done))
    assert states == {"collect_public_security_population": "failed"}
    assert [dag for dag, *_ in finished] == ["collect_public_security_population"]
    assert time.monotonic() - started < 240  # a five-minute retry delay would exceed it
