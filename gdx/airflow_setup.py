"""Airflow on the embedded default: its home is the project root (where airflow.cfg lives)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gdx.errors import GdxError
from warehouse import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict[str, str]:
    """The environment for Airflow commands: AIRFLOW_HOME and GDX_HOME made absolute."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(PROJECT_ROOT))
    env["GDX_HOME"] = str(settings.home())
    env.setdefault("GX_ANALYTICS_ENABLED", "False")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if not Path(env["AIRFLOW_HOME"], "airflow.cfg").is_file():
        raise GdxError(f"{env['AIRFLOW_HOME']}: no airflow.cfg (set AIRFLOW_HOME to the project)")
    Path(env["AIRFLOW_HOME"], "var").mkdir(parents=True, exist_ok=True)
    return env


def airflow(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """Run an `airflow` command of this environment; output is captured."""
    exe = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    return subprocess.run(
        [exe, *args],
        env=environment() | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def migrate() -> str:
    """Create or upgrade Airflow's metadata database and set the base libraries' pools
    (idempotent)."""
    from gdx.airflow_assets import pools

    result = airflow("db", "migrate")
    if result.returncode != 0:
        raise GdxError(f"airflow db migrate failed: {_last_line(result)}")
    with tempfile.TemporaryDirectory(prefix="gdx-pools-") as folder:
        definition = Path(folder, "pools.json")
        definition.write_text(json.dumps(pools(), indent=2), encoding="utf-8")
        result = airflow("pools", "import", str(definition))
    if result.returncode != 0:
        raise GdxError(f"airflow pools import failed: {_last_line(result)}")
    return f"up to date, pools {', '.join(pools())}"


def test_dag(dag_id: str) -> None:
    """Run one DAG once, in-process in a single `airflow dags test` (no scheduler needed).

    Retries wait one second here instead of the scheduled five minutes: a failing task fails
    the demo quickly instead of sleeping through its retries.
    """
    result = airflow("dags", "test", dag_id, AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY="1")
    if result.returncode != 0 or "state=failed" in result.stdout + result.stderr:
        raise GdxError(f"DAG {dag_id} failed: {_last_line(result)}")


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1].strip()[:300]
