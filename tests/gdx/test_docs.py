"""Keep the README, the Makefile, CI and the settings true to the code."""

from __future__ import annotations

import re
import tomllib

import typer

from gdx.cli.main import app
from runtime.settings import SETTINGS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_with_its_default():
    for setting in SETTINGS:
        assert setting.help
        rows = [line for line in README.splitlines() if line.startswith(f"| `{setting.env}`")]
        row = rows[0] if rows else None
        assert row is not None, setting.env
        if setting.default and "{" not in setting.default:
            assert f"`{setting.default}`" in row, setting.env


def test_every_command_is_in_the_readme():
    root = typer.main.get_command(app)
    names = []
    for name, command in root.commands.items():
        subcommands = getattr(command, "commands", None)
        names += [f"{name} {sub}" for sub in subcommands] if subcommands else [name]
    assert len(names) >= 7
    for name in names:
        assert f"`gdx {name}" in README, name


def test_quickstart_is_make_demo_and_make_test():
    quickstart = README.split("## Quickstart")[1].split("\n## ")[0]
    blocks = re.findall(r"```\n(.*?)```", quickstart, flags=re.S)
    commands = [b.strip() for b in blocks if b.strip().startswith("make")]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_declared_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = " ".join(project["dependencies"]).lower()
    for name in (
        "apache-airflow",
        "great-expectations",
        "pandas",
        "pyarrow",
        "sqlalchemy",
        "psycopg2-binary",
        "python-stdnum",
        "fastapi",
        "uvicorn",
        "typer",
        "rich",
        "pydantic",
        "pyyaml",
    ):
        assert name in deps, name
    dev = " ".join(project["optional-dependencies"]["dev"])
    assert all(name in dev for name in ("pytest", "ruff", "httpx"))
    assert project["requires-python"] == ">=3.11"


def test_cli_errors_are_not_tracebacks():
    assert isinstance(app, typer.Typer)
    assert app.pretty_exceptions_enable is False
