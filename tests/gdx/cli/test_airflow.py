"""`gdx airflow`: the whole of Airflow starts, its DAGs are active on their schedules, its
admin login works, and it stops cleanly.

The command runs as a real process on a free port and a temporary GDX_HOME, with no Airflow
setting of the environment: Airflow's home, settings and metadata DB are the defaults, under
GDX_HOME. The tests watch its process tree so that no component outlives it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from gdx.airflow.home import DAGS_FOLDER
from gdx.cli.airflow import admin_login
from gdx.errors import GdxError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_", "GDX_"))  # the tests' own Airflow home and DB too
    }
    env["GDX_HOME"] = str(tmp_path / "var")
    env["AIRFLOW__CORE__PARALLELISM"] = "2"  # a lean LocalExecutor on a small machine
    return env


def _gdx_airflow() -> list[str]:
    return [str(Path(sys.executable).parent / "gdx"), "airflow"]


class GdxAirflow:
    """`gdx airflow --port PORT` as a child process, its output in files."""

    def __init__(self, tmp_path: Path, port: int):
        self.out = tmp_path / "stdout.txt"
        self.err = tmp_path / "stderr.txt"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [*_gdx_airflow(), "--port", str(port)],
                env=_env(tmp_path),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        self.tree: list[psutil.Process] = []
        self.sessions: set[int] = set()

    def output(self) -> tuple[str, str]:
        return self.out.read_text(encoding="utf-8"), self.err.read_text(encoding="utf-8")

    def wait_until_up(self, timeout: float = 240) -> tuple[str, str, str]:
        """The printed UI address, user and password, once `gdx airflow` printed them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stdout, stderr = self.output()
            url = re.search(r"Airflow is up: (\S+)", stdout)
            login = re.search(r"login: (\S+) / (\S+)", stdout)
            if url and login:
                me = psutil.Process(self.process.pid)
                self.tree = me.children(recursive=True)
                self.sessions = {child.pid for child in me.children()}
                return url.group(1), login.group(1), login.group(2)
            if self.process.poll() is not None:
                pytest.fail(f"gdx airflow exited {self.process.returncode}: {stderr[-2000:]}")
            time.sleep(0.2)
        pytest.fail(f"gdx airflow printed no address and login in {timeout}s: {stdout}")

    def component(self, name: str) -> psutil.Process:
        children = psutil.Process(self.process.pid).children()
        found = [p for p in children if name in " ".join(p.cmdline())]
        assert len(found) == 1, [p.cmdline() for p in children]
        return found[0]

    def assert_all_gone(self) -> None:
        """No process it started is left: not its children nor anything in their sessions."""
        assert self.process.poll() is not None
        sessions = self.sessions
        assert len(sessions) == 4, "api-server, scheduler, dag-processor, triggerer: a session each"
        left = [p for p in self.tree if _alive(p)]
        for process in psutil.process_iter(["pid"]):
            try:
                if os.getsid(process.pid) in sessions and _alive(process):
                    left.append(process)
            except (ProcessLookupError, PermissionError):
                continue
        assert not left, [(p.pid, p.cmdline()) for p in left]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def gdx_airflow(tmp_path):
    running = GdxAirflow(tmp_path, _free_port())
    yield running
    running.kill()


def test_gdx_airflow_runs_every_dag_on_its_schedule_behind_an_admin_login(
    gdx_airflow, tmp_path, catalog
):
    url, user, password = gdx_airflow.wait_until_up()
    http = httpx.Client(timeout=30)  # the components share a busy machine with the tests
    # a deployment is one folder: Airflow's home, settings, metadata DB and logs in GDX_HOME
    home = tmp_path / "var" / "airflow"
    assert (home / "airflow.db").is_file() and (home / "scheduler.log").is_file()
    assert f"dags_folder = {DAGS_FOLDER}\n" in (home / "airflow.cfg").read_text()
    assert user == "admin" and len(password) >= 12
    health = http.get(f"{url}/api/v2/monitor/health").json()
    assert health["metadatabase"]["status"] == "healthy"
    page = http.get(url)
    assert page.status_code == 200 and "<title>Airflow</title>" in page.text

    # a real login: no anonymous access, a wrong password is refused, the printed one works
    assert http.get(f"{url}/api/v2/dags").status_code == 401
    wrong = http.post(f"{url}/auth/token", json={"username": user, "password": password + "x"})
    assert wrong.status_code == 401
    answer = http.post(f"{url}/auth/token", json={"username": user, "password": password})
    assert answer.status_code == 201, answer.text
    token = answer.json()["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == user and claims["role"].upper() == "ADMIN"
    auth = {"Authorization": f"Bearer {token}"}
    pool = http.post(f"{url}/api/v2/pools", headers=auth, json={"name": "probe", "slots": 1})
    assert pool.status_code == 201, pool.text

    # the DAG processor parsed the hub's DAGs, every one active with its next run planned
    # (the UI's "Active Dags" and "Next Run"), and every component of the health panel is up
    expected = {f"collect_{code.replace('.', '_')}" for code in catalog.sources}
    expected.add("publish_directory")
    deadline = time.monotonic() + 120
    while True:
        dags = http.get(f"{url}/api/v2/dags", headers=auth, params={"limit": 100})
        health = http.get(f"{url}/api/v2/monitor/health").json()
        found = {dag["dag_id"]: dag for dag in dags.json().get("dags", [])}
        scheduled = {
            dag_id
            for dag_id, dag in found.items()
            if not dag["is_paused"] and dag["next_dagrun_run_after"]
        }
        components = ("metadatabase", "scheduler", "dag_processor", "triggerer")
        healthy = all(health[name]["status"] == "healthy" for name in components)
        if scheduled == set(found) == expected and healthy:
            break
        assert time.monotonic() < deadline, (sorted(found), sorted(scheduled), health)
        time.sleep(0.5)
    active = http.get(f"{url}/api/v2/dags", headers=auth, params={"paused": "false"}).json()
    assert active["total_entries"] == len(expected) == 16
    assert any((home / "logs" / "dag_processor").rglob("collect_sources.py.log"))

    names = " ".join(" ".join(p.cmdline()) for p in gdx_airflow.tree if _alive(p))
    assert all(n in names for n in ("api", "scheduler", "dag-processor", "triggerer")), names
    gdx_airflow.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert gdx_airflow.process.wait(60) == 0
    stdout, stderr = gdx_airflow.output()
    assert stdout.rstrip().endswith("Airflow stopped")
    assert "Traceback" not in stderr
    gdx_airflow.assert_all_gone()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stderr.txt", "stdout.txt", "var"]


def test_a_dying_component_stops_all_with_one_line_naming_it(gdx_airflow):
    gdx_airflow.wait_until_up()
    gdx_airflow.component("scheduler").kill()  # as the OOM killer would
    assert gdx_airflow.process.wait(60) == 1
    stdout, stderr = gdx_airflow.output()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: Airflow's scheduler stopped (killed by signal 9)")
    assert "scheduler.log" in lines[0]
    assert "Traceback" not in stdout + stderr
    gdx_airflow.assert_all_gone()


def test_the_admin_password_is_generated_once_and_kept_private(tmp_path):
    passwords = tmp_path / "airflow" / "passwords.json"
    env, login = admin_login(passwords, "admin")
    assert env == {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    password = login.removeprefix("admin / ")
    assert json.loads(passwords.read_text()) == {"admin": password}
    assert passwords.stat().st_mode & 0o777 == 0o600
    assert admin_login(passwords, "admin")[1] == login  # the next start keeps it
    _, other = admin_login(passwords, "ops")
    assert set(json.loads(passwords.read_text())) == {"admin", "ops"} and other != login
    passwords.write_text("{not json")
    with pytest.raises(GdxError, match="not JSON"):
        admin_login(passwords, "admin")


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*_gdx_airflow(), "--port", str(port)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"error: port {port} on 127.0.0.1 is in use (--port picks another)"
    )
    assert not (tmp_path / "var" / "airflow" / "airflow.db").exists()
