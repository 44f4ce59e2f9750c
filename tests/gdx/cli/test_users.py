"""`gdx users add|list|disable|unlock|password`: the real command on a fresh warehouse
(`gdx init --warehouse-only`, SQLite in a temporary GDX_HOME); bad input is one line on stderr
and exit 1, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

import pytest
import sqlalchemy as sa

from tests.gdx.cli.test_main import GDX, assert_one_line_error
from warehouse import people
from warehouse.tables import person, portal_session

PASSWORD = "correct-horse-battery"


@pytest.fixture
def home(tmp_path):
    """A GDX_HOME with an initialised warehouse (the embedded SQLite default) and the API
    consumer `approval` (government_services' approval system)."""
    assert users(tmp_path, "init", "--warehouse-only", command="").returncode == 0
    added = users(
        tmp_path, "consumers", "add", "approval", "--department", "government_services", command=""
    )
    assert added.returncode == 0, added.stderr
    return tmp_path


def users(home, *args: str, stdin: str = "", command: str = "users", **env: str):
    environment = dict(os.environ, GDX_HOME=str(home), COLUMNS="200", **env)
    environment.pop("GDX_DATABASE_URL", None)
    environment.pop("GDX_NEW_PASSWORD", None)
    environment.update(env)
    return subprocess.run(
        [GDX, *([command] if command else []), *args],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def engine_of(home) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{home}/gdx.db")


def listed(home) -> dict[str, dict]:
    result = users(home, "list", "--json")
    assert result.returncode == 0, result.stderr
    return {row["username"]: row for row in json.loads(result.stdout)}


def test_add_a_person_of_each_role(home):
    added = [
        users(
            home,
            "add",
            "boss",
            "--department",
            "government_services",
            "--role",
            "hub_admin",
            "--name",
            "平台管理员",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        ),
        users(
            home,
            "add",
            "hr",
            "--department",
            "human_resources",
            "--role",
            "department_admin",
            GDX_NEW_PASSWORD=PASSWORD,
        ),
        users(
            home,
            "add",
            "op.1",
            "--department",
            "government_services",
            "--role",
            "integrator",
            "--consumer",
            "approval",
            "--password-stdin",
            stdin=PASSWORD,
        ),
        users(
            home,
            "add",
            "sso",
            "--department",
            "public_security",
            "--role",
            "department_admin",
            "--sso-only",
        ),
    ]
    for result in added:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    assert "acting for consumer approval" in added[2].stdout
    found = listed(home)
    assert found["boss"]["name"] == "平台管理员" and found["boss"]["role"] == "hub_admin"
    assert found["hr"]["role"] == "department_admin" and found["hr"]["password"]
    assert found["op.1"]["consumer"] == "approval"
    assert not found["sso"]["password"] and not found["sso"]["oidc"]
    table = users(home, "list").stdout
    assert "oidc (not yet matched)" in table and "active" in table
    with engine_of(home).connect() as conn:
        stored = conn.execute(sa.select(person.c.password_hash)).scalars().all()
    assert all(PASSWORD not in (value or "") for value in stored)


@pytest.mark.parametrize(
    "args, parts",
    [
        (["bad name", "--department", "human_resources", "--role", "hub_admin"], ["username"]),
        (["x1", "--department", "nowhere", "--role", "hub_admin"], ["department", "nowhere"]),
        (["x2", "--department", "human_resources", "--role", "boss"], ["role", "boss"]),
        (
            [
                "x3",
                "--department",
                "government_services",
                "--role",
                "integrator",
                "--consumer",
                "ghost",
            ],
            ["consumer", "ghost"],
        ),
        (["x4", "--department", "government_services", "--role", "integrator"], ["consumer"]),
        (
            [
                "x5",
                "--department",
                "human_resources",
                "--role",
                "integrator",
                "--consumer",
                "approval",
            ],
            ["consumer", "not an approval system of human_resources"],
        ),
    ],
)
def test_bad_input_is_one_line(home, args, parts):
    result = users(home, "add", *args, "--password-stdin", stdin=PASSWORD)
    assert_one_line_error(result, *parts)
    assert listed(home) == {}


def test_short_or_missing_passwords_and_taken_names(home):
    short = users(
        home,
        "add",
        "hr",
        "--department",
        "human_resources",
        "--role",
        "department_admin",
        "--password-stdin",
        stdin="short\n",
    )
    assert_one_line_error(short, "password", "at least 10")
    # no terminal to ask on, no --password-stdin, no GDX_NEW_PASSWORD
    assert_one_line_error(
        users(home, "add", "hr", "--department", "human_resources", "--role", "department_admin"),
        "password",
    )
    assert listed(home) == {}
    first = users(
        home,
        "add",
        "hr",
        "--department",
        "human_resources",
        "--role",
        "department_admin",
        GDX_NEW_PASSWORD=PASSWORD,
    )
    assert first.returncode == 0
    taken = users(
        home,
        "add",
        "hr",
        "--department",
        "human_resources",
        "--role",
        "department_admin",
        GDX_NEW_PASSWORD=PASSWORD,
    )
    assert_one_line_error(taken, "taken")


def _session_count(home) -> int:
    with engine_of(home).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(portal_session)).scalar_one()


def _open_session(home, username: str) -> None:
    with engine_of(home).begin() as conn:
        row = conn.execute(sa.select(person).where(person.c.username == username)).one()
        someone = people.Person(row.id, row.username, row.display_name, row.department, row.role)
        people.open_session(conn, someone, dt.timedelta(minutes=30))


def test_disable_ends_sessions_and_shows_in_the_list(home):
    users(
        home,
        "add",
        "hr",
        "--department",
        "human_resources",
        "--role",
        "department_admin",
        GDX_NEW_PASSWORD=PASSWORD,
    )
    _open_session(home, "hr")
    assert _session_count(home) == 1
    result = users(home, "disable", "hr")
    assert result.returncode == 0 and "sessions have ended" in result.stdout
    assert _session_count(home) == 0
    assert listed(home)["hr"]["disabled_at"]
    assert "disabled since" in users(home, "list").stdout
    assert_one_line_error(users(home, "disable", "hr"), "disabled")
    assert_one_line_error(users(home, "disable", "nobody"), "no account")
    assert_one_line_error(users(home, "unlock", "nobody"), "no account")


def test_unlock_a_locked_account(home):
    users(
        home,
        "add",
        "hr",
        "--department",
        "human_resources",
        "--role",
        "department_admin",
        GDX_NEW_PASSWORD=PASSWORD,
    )
    with engine_of(home).begin() as conn:
        for _ in range(3):
            people.sign_in(conn, "hr", "wrong-password", 3, dt.timedelta(minutes=15))
    assert "locked until" in users(home, "list").stdout
    result = users(home, "unlock", "hr")
    assert result.returncode == 0 and "unlocked hr" in result.stdout
    assert "active" in users(home, "list").stdout
    with engine_of(home).begin() as conn:
        assert people.sign_in(conn, "hr", PASSWORD, 3, dt.timedelta(minutes=15)).person


def test_password_from_stdin_or_the_environment(home):
    users(
        home,
        "add",
        "hr",
        "--department",
        "human_resources",
        "--role",
        "department_admin",
        GDX_NEW_PASSWORD=PASSWORD,
    )
    _open_session(home, "hr")
    changed = users(home, "password", "hr", "--password-stdin", stdin="a-new-long-password\n")
    assert changed.returncode == 0 and "sessions have ended" in changed.stdout
    assert _session_count(home) == 0
    lock = dt.timedelta(minutes=15)
    with engine_of(home).begin() as conn:
        assert people.sign_in(conn, "hr", PASSWORD, 5, lock).person is None
        assert people.sign_in(conn, "hr", "a-new-long-password", 5, lock).person
    again = users(home, "password", "hr", GDX_NEW_PASSWORD="from-the-environment")
    assert again.returncode == 0
    with engine_of(home).begin() as conn:
        assert people.sign_in(conn, "hr", "from-the-environment", 5, lock).person
    assert_one_line_error(
        users(home, "password", "hr", "--password-stdin", stdin="short"), "at least 10"
    )
    assert_one_line_error(users(home, "password", "ghost", GDX_NEW_PASSWORD=PASSWORD), "ghost")
