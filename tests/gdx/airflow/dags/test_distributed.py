"""A real distributed Airflow run: CeleryExecutor, Redis broker, PostgreSQL everywhere.

The scheduler, the DAG processor, the API server and a Celery worker run as separate processes
(gdx.airflow.services) on a freshly created PostgreSQL metadata DB, which is also Celery's
result backend; the warehouse is another fresh PostgreSQL DB. A triggered collection DAG
must run on the worker and land the demo population in the warehouse.

Redis comes from GDX_TEST_REDIS_URL (default: db 13 of the local server), PostgreSQL from
GDX_TEST_POSTGRES_URL (tests/conftest.py); either unreachable skips, or fails when CI=true.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa

from gdx.airflow import services as airflow_services
from tests.conftest import POSTGRES_URL, _postgres_or_skip

REDIS_URL = os.environ.get("GDX_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
DAG_ID = "collect_public_security_population"
BIN = Path(sys.executable).parent


def _redis_or_skip() -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.exceptions.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """The environment of one distributed run on fresh databases and a queue of its own;
    the databases and the run's Redis keys are removed afterwards."""
    _postgres_or_skip()
    _redis_or_skip()
    run = uuid.uuid4().hex[:10]
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    names = {"airflow": f"gdx_airflow_{run}", "warehouse": f"gdx_warehouse_{run}"}
    urls = {
        key: sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        for key, name in names.items()
    }
    queue = f"gdx-test-{run}"
    home = tmp_path / "var"
    env = {
        "GDX_HOME": str(home),
        "GDX_DATABASE_URL": urls["warehouse"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": urls["airflow"],
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
        # with the URL's driver: a bare postgresql:// means psycopg 3 to SQLAlchemy 2.1
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + urls["airflow"],
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        # only the triggered DAG runs (the hub's settings make every DAG active at creation)
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # the anonymous admin, so that the test's REST calls need no login
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # pick the DAG file up at once; a failing task retries after a second, not five minutes
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1",
    }
    try:
        with admin.connect() as conn:
            for name in names.values():
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield {"env": env, "home": home, "queue": queue, "run": run, "urls": urls}
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
        _delete_redis_keys(f"*{run}*")


def _delete_redis_keys(pattern: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=pattern))
    if keys:
        client.delete(*keys)
    client.close()


def _run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(args)}: {(result.stderr or result.stdout)[-2000:]}"
    return result.stdout


def test_a_celery_worker_collects_the_source_into_the_postgresql_warehouse(cluster):
    port = _free_port()
    url = airflow_services.client_url("127.0.0.1", port)
    env = airflow_services.environment("127.0.0.1", port, cluster["env"])
    home = cluster["home"]
    _run([str(BIN / "gdx"), "demo-data", "--out", str(home / "incoming"), "--people", "300"], env)
    _run([str(BIN / "gdx"), "init"], env)  # the warehouse schema, Airflow's DB and its pools

    components = [
        airflow_services.api_server("127.0.0.1", port),
        airflow_services.scheduler(),
        airflow_services.dag_processor(),
        airflow_services.celery_worker(
            [cluster["queue"]], hostname=f"gdx-test-{cluster['run']}@%h"
        ),
    ]
    services = airflow_services.Services(components, env, home / "airflow")
    sessions: set[int] = set()
    try:
        services.start()
        sessions = {process.pid for process in services.processes.values()}
        services.wait_until_healthy(url + airflow_services.HEALTH_PATH, timeout=180)

        def parsed() -> bool:
            return httpx.get(f"{url}/api/v2/dags/{DAG_ID}").status_code == 200

        _wait(services, parsed, 120)

        _run([str(BIN / "airflow"), "dags", "unpause", DAG_ID], env)
        output = _run([str(BIN / "airflow"), "dags", "trigger", DAG_ID, "-o", "json"], env)
        # the JSON is the last line; log warnings may come before it
        run_id = json.loads(output.strip().splitlines()[-1])[0]["dag_run_id"]
        run_url = f"{url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"

        def finished() -> bool:
            return httpx.get(run_url).json()["state"] in ("success", "failed")

        _wait(services, finished, 300)
        state = httpx.get(run_url).json()["state"]
        assert state == "success", _diagnosis(services, url, run_id)
        task = httpx.get(f"{run_url}/taskInstances").json()["task_instances"][0]
        assert task["state"] == "success" and task["queue"] == cluster["queue"]
        assert "succeeded in" in services.log("celery-worker").read_text(encoding="utf-8")
    finally:
        services.stop()
    left = [p.pid for p in psutil.process_iter() if _session(p) in sessions]
    assert not left, f"processes left behind: {left}"

    airflow_db = sa.create_engine(cluster["urls"]["airflow"])
    with airflow_db.connect() as conn:  # the result backend on PostgreSQL saw the task
        results = conn.execute(sa.text("SELECT status FROM celery_taskmeta")).scalars().all()
    airflow_db.dispose()
    assert "SUCCESS" in results

    warehouse = sa.create_engine(cluster["urls"]["warehouse"])
    with warehouse.connect() as conn:
        people = conn.execute(sa.text("SELECT COUNT(*) FROM population_person")).scalar_one()
        loaded = (
            conn.execute(
                sa.text(
                    "SELECT rows_loaded FROM batch_ledger WHERE source = :s AND status = 'loaded'"
                ),
                {"s": "public_security.population"},
            )
            .scalars()
            .all()
        )
    warehouse.dispose()
    assert people > 250 and loaded == [people]


def _wait(services: airflow_services.Services, condition, timeout: float) -> None:
    """Poll `condition` until true; a component dying or the timeout fails the test."""
    deadline = time.monotonic() + timeout
    while not condition():
        services.check()
        assert time.monotonic() < deadline, f"not within {timeout}s: {condition.__name__}"
        time.sleep(1)


def _session(process: psutil.Process) -> int | None:
    """The session of a live process (None for a zombie or one gone)."""
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return os.getsid(process.pid)
    except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
        return None


def _diagnosis(services: airflow_services.Services, url: str, run_id: str) -> str:
    tasks = httpx.get(f"{url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").text
    tails = {
        name: services.log(name).read_text(encoding="utf-8", errors="replace")[-1500:]
        for name in services.processes
    }
    return f"tasks: {tasks[:1500]}\n" + "\n".join(f"--- {n}:\n{t}" for n, t in tails.items())
