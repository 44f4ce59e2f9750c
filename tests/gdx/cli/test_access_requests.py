"""`gdx requests`: list, approve, refuse and revoke access requests from the command line."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from gdx.cli.main import app
from quality.dates import today
from tests.gdx.cli.test_main import assert_one_line_error, gdx
from warehouse import consumers, grants

INSURANCE = "human_resources.insurance_payment"
TRANSFER = "000212017000"


@pytest.fixture
def warehouse(engine, catalog, tmp_path, monkeypatch):
    """The warehouse as GDX_DATABASE_URL, with two pending requests to human_resources."""
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GDX_DATABASE_URL", url)
    monkeypatch.setenv("GDX_HOME", str(tmp_path))
    with engine.begin() as conn:
        system, _ = consumers.add(conn, "one-network", "government_services")
        ids = [
            grants.file(
                conn,
                catalog,
                system,
                INSURANCE,
                fields,
                "医保关系转移接续",
                TRANSFER,
                today() + dt.timedelta(days=60),
            )["id"]
            for fields in (["months_paid"], ["monthly_base", "months_paid"])
        ]
    return url, ids, system.id


def run(*args: str):
    return CliRunner().invoke(app, ["requests", *args])


def test_list_as_json_and_as_a_table(warehouse):
    _, (first, second), _ = warehouse
    result = run("list", "--department", "human_resources", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [item["id"] for item in found] == [second, first]
    assert found[0]["status"] == "pending" and found[0]["overdue"] is False
    assert found[0]["decide_by"] == grants.working_days_after(today(), 10).isoformat()
    assert json.loads(run("list", "--department", "public_security", "--json").stdout) == []
    table = run("list", "--status", "pending")
    assert table.exit_code == 0 and "months_paid, monthly_base" in table.stdout
    assert "2 requests shown" in table.stdout


def test_approve_refuse_revoke(warehouse, engine):
    _, (first, second), system = warehouse
    until = (today() + dt.timedelta(days=30)).isoformat()
    result = run(
        "approve", str(first), "--department", "human_resources", "--until", until,
        "--reason", "符合条件", "--by", "王科长",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"request {first} approved: {INSURANCE} [months_paid]" in result.stdout
    refused = run("refuse", str(second), "--department", "human_resources", "--reason", "超出用途")
    assert refused.exit_code == 0 and f"request {second} refused" in refused.stdout
    assert "超出用途" in refused.stdout
    with engine.connect() as conn:
        approved = grants.get(conn, first)
        assert approved["decided_by"] == "王科长" and approved["reason"] == "符合条件"
        assert grants.get(conn, second)["status"] == "refused"
    revoked = run("revoke", str(first), "--department", "human_resources", "--reason", "项目结束")
    assert revoked.exit_code == 0 and f"request {first} revoked" in revoked.stdout
    with engine.connect() as conn:
        assert grants.active(conn, system, INSURANCE, TRANSFER, dt.datetime.now(dt.UTC)) is None
    listed = json.loads(run("list", "--status", "revoked", "--json").stdout)
    assert [item["id"] for item in listed] == [first]


def test_bad_input_is_one_line(warehouse, tmp_path):
    url, (first, second), _ = warehouse
    cases = [
        (["approve", "99", "--department", "human_resources"], "no access request 99"),
        (["approve", str(first), "--department", "public_security"], "addressed to"),
        (["approve", str(first), "--department", "nowhere"], "unknown department"),
        (["approve", str(first), "--department", "human_resources", "--until", "soon"], "--until"),
        (["refuse", str(second), "--department", "human_resources", "--reason", " "], "reason:"),
        (["revoke", str(second), "--department", "human_resources", "--reason", "x"], "pending"),
        (["list", "--status", "lost"], "status:"),
    ]
    for args, part in cases:
        assert_one_line_error(gdx("requests", *args, home=tmp_path, url=url), part)


@pytest.mark.parametrize(
    ("zone", "offset"), [("Asia/Shanghai", "+08:00"), ("America/Sao_Paulo", "-03:00")]
)
def test_a_grant_ends_at_00_00_local_time_of_the_day_after_its_last_day(
    warehouse, monkeypatch, zone, offset
):
    """Not `16:00` (the UTC of midnight in Shanghai): the instant the grant stops, in the
    province's zone with its offset; a pending request's end as asked, the same way."""
    monkeypatch.setenv("GDX_TIMEZONE", zone)
    monkeypatch.setenv("COLUMNS", "200")
    _, (first, second), _ = warehouse
    last = today() + dt.timedelta(days=30)
    approved = run("approve", str(first), "--department", "human_resources", "--until", str(last))
    end = f"{last + dt.timedelta(days=1)}T00:00:00{offset}"
    assert approved.exit_code == 0 and approved.stdout.rstrip().endswith(f", until {end}")
    found = {item["id"]: item for item in json.loads(run("list", "--json").stdout)}
    assert found[first]["expires_at"] == end
    asked = dt.date.fromisoformat(found[second]["requested_until"]) + dt.timedelta(days=1)
    table = run("list").stdout
    assert end in table and f"{asked}T00:00:00{offset}" in table
    assert "16:00" not in table and "T00:00:00+00:00" not in table
