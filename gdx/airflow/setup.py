"""Airflow for a deployment: its home (default GDX_HOME/airflow), its settings, its metadata DB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gdx.airflow import home as airflow_home
from gdx.errors import GdxError
from runtime import settings


def environment() -> dict[str, str]:
    """The environment for Airflow commands: GDX_HOME and AIRFLOW_HOME (default
    GDX_HOME/airflow) made absolute, so that every component of one deployment agrees."""
    env = dict(os.environ)
    home = settings.home()
    env["GDX_HOME"] = str(home)
    env["AIRFLOW_HOME"] = str(airflow_home.home(home, env))
    env.setdefault("GX_ANALYTICS_ENABLED", "False")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return env


def prepare() -> airflow_home.Prepared:
    """Write the hub's settings into the Airflow home's airflow.cfg (see gdx.airflow.home)."""
    return airflow_home.prepare(environment(), settings.home())


def airflow_args(*args: str) -> list[str]:
    """An `airflow` command line run by this interpreter (no `airflow` script on PATH needed)."""
    return [sys.executable, "-m", "airflow", *args]


def airflow(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """Run an `airflow` command of this environment; output is captured."""
    return subprocess.run(
        airflow_args(*args),
        env=environment() | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def migrate() -> str:
    """Prepare the Airflow home, create or upgrade Airflow's metadata database and set the base
    libraries' pools (idempotent); says what it did."""
    from gdx.airflow.assets import pools

    prepared = prepare()
    Path(settings.home(), "airflow").mkdir(parents=True, exist_ok=True)
    result = airflow("db", "migrate")
    if result.returncode != 0:
        raise GdxError(f"airflow db migrate failed: {_last_line(result)}")
    with tempfile.TemporaryDirectory(prefix="gdx-pools-") as folder:
        definition = Path(folder, "pools.json")
        definition.write_text(json.dumps(pools(), indent=2), encoding="utf-8")
        result = airflow("pools", "import", str(definition))
    if result.returncode != 0:
        raise GdxError(f"airflow pools import failed: {_last_line(result)}")
    return f"{prepared.describe()}; metadata DB up to date, pools {', '.join(pools())}"


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1].strip()[:300]
