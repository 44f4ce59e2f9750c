"""Any Airflow home becomes the hub's: its airflow.cfg gets the hub's settings, the rest stays.

The subprocess tests run `gdx` and `airflow` with no Airflow or gdx setting of the environment
(not even the tests' own Airflow home), as on a new machine.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from gdx.airflow import home as airflow_home
from gdx.airflow.home import DAGS_FOLDER, hub_settings, prepare, set_options
from gdx.errors import GdxError

BIN = Path(sys.executable).parent


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "GDX_"))}
    return env | extra


def _airflow_first_run(home: Path) -> None:
    """What a user's own Airflow home looks like: Airflow's first run writes its airflow.cfg."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "config", "get-value", "core", "executor"],
        env=_clean_env(AIRFLOW_HOME=str(home)),
        check=True,
        capture_output=True,
        timeout=120,
    )


def _value(text: str, section: str, key: str) -> str:
    """The value of `key` in `section` of an airflow.cfg text, as Airflow reads it."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    return parser.get(section, key)


def test_setting_options_keeps_every_other_line():
    text = (
        "# my Airflow\n"
        "[core]\n"
        "# where my DAGs are\n"
        "dags_folder = /home/me/dags\n"
        "parallelism = 7\n"
        "\n"
        "[database]\n"
        "SQL_ALCHEMY_CONN: sqlite:////old.db\n"
        "  ?continued\n"
        "\n"
        "[webserver]\n"
        "x = 1"
    )
    settings = [
        ("core", "dags_folder", "/hub/dags"),
        ("core", "load_examples", "False"),
        ("database", "sql_alchemy_conn", "sqlite:////hub.db"),
        ("logging", "base_log_folder", "/hub/logs"),
    ]
    new, changed = set_options(text, settings)
    assert changed == [
        "[core] dags_folder",
        "[core] load_examples",
        "[database] sql_alchemy_conn",
        "[logging] base_log_folder",
    ]
    assert new == (
        "# my Airflow\n"
        "[core]\n"
        "# where my DAGs are\n"
        "dags_folder = /hub/dags\n"
        "parallelism = 7\n"
        "load_examples = False\n"
        "\n"
        "[database]\n"
        "sql_alchemy_conn = sqlite:////hub.db\n"
        "\n"
        "[webserver]\n"
        "x = 1\n"
        "\n"
        "[logging]\n"
        "base_log_folder = /hub/logs\n"
    )
    assert set_options(new, settings) == (new, [])  # a second time changes nothing


def test_the_hub_settings_are_absolute_paths_airflow_reads_literally(tmp_path):
    settings = {(s, k): v for s, k, v in hub_settings(tmp_path / "50%")}
    assert settings[("core", "dags_folder")] == str(DAGS_FOLDER)
    assert settings[("core", "dags_are_paused_at_creation")] == "False"
    assert (DAGS_FOLDER / "collect_sources.py").is_file()
    db = settings[("database", "sql_alchemy_conn")]
    assert db == f"sqlite:///{tmp_path}/50%%25/airflow/airflow.db?timeout=30"  # % is doubled
    assert settings[("logging", "base_log_folder")] == f"{tmp_path}/50%%/airflow/logs"


@pytest.mark.parametrize("name", ["50%", "a b", "x%20y", "why?", "n#1"])
def test_the_metadata_db_url_names_the_gdx_home_as_it_is(tmp_path, name):
    """Read back as Airflow reads airflow.cfg (% interpolated), the URL opens GDX_HOME's own
    file: no %xx decoded, no ? or # taken for the URL's query or fragment."""
    home = tmp_path / name
    text, _ = set_options("", hub_settings(home))
    parser = configparser.ConfigParser()  # Airflow's parser interpolates %
    parser.read_string(text)
    url = make_url(parser.get("database", "sql_alchemy_conn"))
    assert url.database == f"{home}/airflow/airflow.db"
    assert url.query == {"timeout": "30"}
    assert parser.get("logging", "base_log_folder") == f"{home}/airflow/logs"


def test_a_path_airflow_would_expand_is_refused():
    with pytest.raises(GdxError, match=r"no \$ and no line break"):
        hub_settings(Path("/srv/$HOME"))


def test_gdx_init_prepares_a_users_own_airflow_home_keeping_its_settings(tmp_path):
    own = tmp_path / "my-airflow"
    _airflow_first_run(own)
    config = own / "airflow.cfg"
    original = config.read_text().replace("parallelism = 32\n", "# mine\nparallelism = 7\n")
    config.write_text(original)

    env = _clean_env(AIRFLOW_HOME=str(own), GDX_HOME=str(tmp_path / "deploy"))
    result = subprocess.run(
        [str(BIN / "gdx"), "init"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"airflow: {config}: set [core] dags_folder, [core] load_examples, "
        "[core] dags_are_paused_at_creation, "
        "[database] sql_alchemy_conn, [logging] base_log_folder, "
        "[logging] dag_processor_child_process_log_directory "
        "(the file as it was is kept in airflow.cfg.bak); metadata DB up to date"
    ) in result.stdout
    text = config.read_text()
    assert "# mine\nparallelism = 7\n" in text and _value(text, "core", "parallelism") == "7"
    assert _value(text, "core", "fernet_key") == _value(original, "core", "fernet_key")
    assert _value(text, "core", "dags_folder") == str(DAGS_FOLDER)
    deploy = tmp_path / "deploy" / "airflow"
    assert (
        _value(text, "database", "sql_alchemy_conn") == f"sqlite:///{deploy}/airflow.db?timeout=30"
    )
    assert (deploy / "airflow.db").is_file() and not (own / "airflow.db").exists()
    assert (own / "airflow.cfg.bak").read_text() == original
    assert config.stat().st_mode & 0o777 == 0o600  # it holds the Fernet key
    # only the hub's lines changed
    before, after = original.splitlines(), text.splitlines()
    assert len(before) == len(after)
    assert {b.split(" = ")[0] for b, a in zip(before, after, strict=True) if b != a} == {
        "dags_folder",
        "load_examples",
        "dags_are_paused_at_creation",
        "sql_alchemy_conn",
        "base_log_folder",
        "dag_processor_child_process_log_directory",
    }

    again = prepare(env | {"AIRFLOW_HOME": str(own)}, tmp_path / "deploy")
    assert again.describe() == f"{config} has the hub's settings"
    assert config.read_text() == text and (own / "airflow.cfg.bak").read_text() == original


def test_two_gdx_homes_have_an_airflow_home_and_metadata_db_each(tmp_path, monkeypatch):
    answers = []
    for name in ("east", "west"):
        monkeypatch.delenv("AIRFLOW_HOME", raising=False)
        monkeypatch.setenv("GDX_HOME", name)
        monkeypatch.chdir(tmp_path)
        from gdx.airflow import setup as airflow_setup

        env = airflow_setup.environment()
        assert env["AIRFLOW_HOME"] == str(tmp_path / name / "airflow")
        assert airflow_setup.prepare().created
        clean = _clean_env(AIRFLOW_HOME=env["AIRFLOW_HOME"])
        answer = subprocess.run(
            [
                sys.executable,
                "-m",
                "airflow",
                "config",
                "get-value",
                "database",
                "sql_alchemy_conn",
            ],
            env=clean,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        answers.append(answer.stdout.strip())
    assert answers == [
        f"sqlite:///{tmp_path}/east/airflow/airflow.db?timeout=30",
        f"sqlite:///{tmp_path}/west/airflow/airflow.db?timeout=30",
    ]


def test_an_unreadable_airflow_cfg_is_one_line(tmp_path):
    own = tmp_path / "my-airflow"
    own.mkdir()
    (own / "airflow.cfg").write_text("dags_folder = /x\n")  # no section
    env = _clean_env(AIRFLOW_HOME=str(own), GDX_HOME=str(tmp_path / "deploy"))
    result = subprocess.run(
        [str(BIN / "gdx"), "init"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: {own / 'airflow.cfg'}: not an Airflow settings file (File contains no section"
    ), result.stderr
    assert (own / "airflow.cfg").read_text() == "dags_folder = /x\n"


def test_airflow_config_names_the_settings_file(tmp_path):
    elsewhere = tmp_path / "etc" / "airflow.cfg"
    env = {"AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW_CONFIG": str(elsewhere)}
    assert airflow_home.config_file(env) == elsewhere
    assert airflow_home.config_file({"AIRFLOW_HOME": "/srv/af"}) == Path("/srv/af/airflow.cfg")
    assert airflow_home.home(tmp_path, {}) == tmp_path / "airflow"


def test_gdx_init_in_a_gdx_home_with_a_percent_and_a_space(tmp_path):
    """Airflow cannot fill its own default DB URL for such a home; gdx init still prepares it,
    and the metadata DB is the deployment's own file."""
    home = tmp_path / "data 50%"
    env = _clean_env(GDX_HOME=str(home))
    result = subprocess.run(
        [str(BIN / "gdx"), "init"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert f"airflow: {home / 'airflow' / 'airflow.cfg'} written" in result.stdout
    assert (home / "airflow" / "airflow.db").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data 50%"]
