"""A non-editable install runs the demo from any folder, and writes only into GDX_HOME.

The checkout's wheel (built from a copy, so that the build writes nothing here) is installed
without its dependencies into a fresh venv; the dependencies come from the dev venv through a
.pth file, which puts that site-packages after the venv's own (its editable-install hooks are
not run from there). Only the venv's `gdx` is on PATH; no Airflow or gdx setting is in the
environment. About two minutes, each step bounded.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from tests.conftest import ROOT

#: The top-level packages the wheel holds, as pyproject.toml declares them (new ones included).
PACKAGES = tuple(
    pattern.rstrip("*")
    for pattern in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["packages"]["find"]["include"]
)
SKIPPED = {".venv", ".git", ".pytest_cache", ".ruff_cache", "__pycache__"}


def _run(args: list, env: dict[str, str], cwd: Path, timeout: float) -> str:
    result = subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args}: {(result.stderr or result.stdout)[-3000:]}"
    return result.stdout


def _snapshot(root: Path) -> dict[str, int]:
    """Every file of the checkout (the dev venv, git and caches aside) with its mtime."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in names:
            path = Path(folder, name)
            files[str(path.relative_to(root))] = path.lstat().st_mtime_ns
    return files


def _wheel(tmp_path: Path, env: dict[str, str]) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source], env,
         tmp_path, 300)  # fmt: skip
    (wheel,) = wheels.glob("gdx-*.whl")
    return wheel


def _venv(tmp_path: Path, wheel: Path, env: dict[str, str]) -> Path:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], env, tmp_path, 120)
    python = venv / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                env, tmp_path, 60).strip()  # fmt: skip
    Path(site, "gdx-dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "-q", wheel], env, tmp_path, 300)  # fmt: skip
    return venv


def test_an_installed_gdx_keeps_a_whole_deployment_in_gdx_home(tmp_path):
    before = _snapshot(ROOT)
    dev_bin = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != dev_bin]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "GDX_"))}
    env["GX_ANALYTICS_ENABLED"] = "False"
    venv = _venv(tmp_path, _wheel(tmp_path, env), env)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    work = tmp_path / "work"
    work.mkdir()

    # the project's own packages come from the wheel, Airflow from the dev venv
    where = _run(["python", "-c", "import gdx, airflow; print(gdx.__file__)"], env, work, 120)
    assert Path(where.strip()).is_relative_to(venv) and not Path(where).is_relative_to(ROOT)
    assert shutil.which("gdx", path=env["PATH"]) == str(venv / "bin" / "gdx")

    env["GDX_HOME"] = "deploy"  # relative to the folder it runs from
    init = _run(["gdx", "init"], env, work, 300)
    airflow = work / "deploy" / "airflow"
    assert f"airflow: {airflow / 'airflow.cfg'} written" in init
    demo = _run(["gdx", "demo", "--no-serve", "--people", "500"], env, work, 900)
    assert "3/4 running 15 collection DAGs, then publish_directory" in demo, demo
    assert "16/16 publish_directory: success in " in demo, demo
    assert f"(Airflow home {airflow})" in demo

    deploy = work / "deploy"
    config = (airflow / "airflow.cfg").read_text()
    dags = Path(
        next(line for line in config.splitlines() if line.startswith("dags_folder = "))[14:]
    )
    assert dags.is_relative_to(venv) and (dags / "collect_sources.py").is_file()
    assert (deploy / "gdx.db").is_file() and (airflow / "airflow.db").is_file()
    assert any((deploy / "incoming").iterdir()) and any((deploy / "data_docs").iterdir())
    assert (airflow / "logs").is_dir()
    # the portal's templates and style sheet are in the wheel
    portal = (
        "from fastapi.testclient import TestClient; from gdx.web import create_app; "
        "c = TestClient(create_app()); "
        "print(c.get('/portal/sign-in').status_code, "
        "c.get('/portal/static/portal.css').status_code)"
    )
    assert _run(["python", "-c", portal], env, work, 120).split()[-2:] == ["200", "200"]
    assert sorted(p.name for p in work.iterdir()) == ["deploy"]  # nothing beside GDX_HOME
    with sqlite3.connect(airflow / "airflow.db") as db:
        runs = db.execute("SELECT COUNT(*) FROM dag_run").fetchone()[0]
    assert runs == 16

    # a second deployment from the same install has an Airflow metadata DB of its own
    env["GDX_HOME"] = "second"
    _run(["gdx", "init"], env, work, 300)
    second = work / "second" / "airflow" / "airflow.db"
    with sqlite3.connect(second) as db:
        assert db.execute("SELECT COUNT(*) FROM dag_run").fetchone()[0] == 0
    with sqlite3.connect(airflow / "airflow.db") as db:
        assert db.execute("SELECT COUNT(*) FROM dag_run").fetchone()[0] == runs

    assert _snapshot(ROOT) == before, "the installed gdx wrote into the checkout"
