"""`run_dags`: the DAGs run in a child process, each reported as it finishes; failures in a line."""

from __future__ import annotations

import time

import pytest

from gdx.airflow.home import DAGS_FOLDER
from gdx.airflow.run import run_dags
from gdx.errors import GdxError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_HOME", str(tmp_path))  # a DAG that runs after all runs here
    monkeypatch.delenv("GDX_DATABASE_URL", raising=False)
    # the hub's DAGs, whether or not a `gdx init` of this session wrote the tests' airflow.cfg
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))


def test_an_unknown_dag_is_named():
    with pytest.raises(GdxError, match=r"^no such DAG: collect_nobody$"):
        run_dags(["publish_directory", "collect_nobody"], lambda *finished: None)


def test_a_child_past_its_time_is_stopped():
    started = time.monotonic()
    with pytest.raises(GdxError, match=r"^running the DAGs took over 1s$"):
        run_dags(["publish_directory"], lambda *finished: None, timeout=1)
    assert time.monotonic() - started < 10
