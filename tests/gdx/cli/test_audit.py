"""`gdx audit verify` and `gdx audit query` on both backends."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from gdx.cli.main import app
from tests.gdx.cli.test_main import _url, assert_one_line_error, gdx
from warehouse import audit
from warehouse.tables import audit_log

T0 = dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.UTC)  # 08:00 in Asia/Shanghai


@pytest.fixture
def logged(engine, monkeypatch):
    """Four calls an hour apart: a, b, a (credit), a refused."""
    monkeypatch.setenv("GDX_DATABASE_URL", _url(engine))
    monkeypatch.setenv("GDX_TIMEZONE", "Asia/Shanghai")
    calls = [
        ("a", "population.person", 200, None),
        ("b", "population.person", 200, None),
        ("a", "credit.record", 200, None),
        ("a", "population.person", 403, "no approved access request"),
    ]
    audit.write(
        engine,
        [
            audit.Record(
                "GET",
                f"/api/v1/resources/{resource}/records/{n}",
                status,
                at=T0 + dt.timedelta(hours=n),
                consumer=consumer,
                consumer_id=ord(consumer),
                resource=resource,
                keys=[str(n)],
                fields=["name"] if status == 200 else [],
                reason=reason,
            )
            for n, (consumer, resource, status, reason) in enumerate(calls)
        ],
    )
    return engine


def run(*args: str):
    return CliRunner().invoke(app, ["audit", *args])


def test_verify_intact(logged):
    with logged.connect() as conn:
        _, head = audit.head(conn)
    result = run("verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"audit log intact: 4 records, head {head[:16]}"


def test_verify_tampered_names_the_record(logged):
    with logged.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 3).values(resource="x"))
    result = run("verify")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "seq 3" in lines[0] and "altered" in lines[0]


def test_verify_deleted_names_the_record(logged):
    with logged.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 2))
    result = run("verify")
    assert result.exit_code == 1 and "seq 3" in result.stderr and "missing" in result.stderr


def _seqs(result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["seq"] for line in result.stdout.splitlines()]


def test_query_filters(logged):
    assert _seqs(run("query", "--json")) == [1, 2, 3, 4]
    assert _seqs(run("query", "--consumer", "a", "--json")) == [1, 3, 4]
    # local time (Asia/Shanghai): 09:00 is T0 + 1 hour
    assert _seqs(run("query", "--since", "2024-05-01T09:00", "--json")) == [2, 3, 4]
    assert _seqs(run("query", "--consumer", "a", "--since", "2024-05-01T01:00Z", "--json")) == [
        3,
        4,
    ]
    window = ["--since", "2024-05-01T09:00", "--until", "2024-05-01T10:00"]
    assert _seqs(run("query", *window, "--json")) == [2]
    assert _seqs(run("query", "--resource", "credit.record", "--json")) == [3]
    assert _seqs(run("query", "--limit", "2", "--json")) == [1, 2]
    record = json.loads(run("query", "--consumer", "a", "--json").stdout.splitlines()[-1])
    assert record["status"] == 403 and record["reason"] == "no approved access request"
    assert record["at"] == "2024-05-01T11:00:00+08:00"  # local, with its offset


@pytest.mark.parametrize(
    ("zone", "at"),
    [
        ("Asia/Shanghai", "2024-05-01T11:00:00+08:00"),
        ("America/New_York", "2024-04-30T23:00:00-04:00"),
    ],
)
def test_query_table_and_json_in_local_time_with_offset(logged, monkeypatch, zone, at):
    monkeypatch.setenv("GDX_TIMEZONE", zone)
    monkeypatch.setenv("COLUMNS", "200")  # the reason on one line
    result = run("query", "--consumer", "a")
    assert result.exit_code == 0, result.output
    assert at in result.stdout  # T0 + 3 hours, in the zone's summer time
    assert "403 no approved access request" in result.stdout
    assert "3 records shown (at most 100)" in result.stdout
    record = json.loads(run("query", "--consumer", "a", "--json").stdout.splitlines()[-1])
    assert record["at"] == at


def test_query_bad_time_is_one_line(tmp_path):
    result = gdx("audit", "query", "--consumer", "a", "--since", "yesterday", home=tmp_path)
    assert_one_line_error(result, "--since", "'yesterday'", "ISO 8601")


def test_verify_through_the_command(engine, tmp_path):
    result = gdx("audit", "verify", home=tmp_path, url=_url(engine))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audit log intact: 0 records (empty)"


def test_query_shows_a_portal_action_with_its_person(logged, monkeypatch):
    audit.write(
        logged,
        [
            audit.Record(
                "POST", "/portal/inbox/7/approve", 200, at=T0 + dt.timedelta(hours=5),
                action="request_approved", person="hr", department="human_resources",
            )
        ],
    )  # fmt: skip
    monkeypatch.setenv("COLUMNS", "200")
    result = run("query", "--person", "hr")
    assert result.exit_code == 0, result.output
    assert "hr (human_resources)" in result.stdout
    assert "request_approved: POST /portal/inbox/7/approve" in result.stdout
    assert "1 records shown" in result.stdout
    assert _seqs(run("query", "--person", "hr", "--json")) == [5]
    assert run("verify").stdout.startswith("audit log intact: 5 records")
