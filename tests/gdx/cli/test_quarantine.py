"""`gdx quarantine list`: every resource unless one is named, how many rows wait in all, and
identifiers whole on one line at 80 and 120 columns."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from gdx.cli.main import app
from tests.gdx.cli.test_main import _url
from warehouse import quarantine
from warehouse.tables import for_resource

AT = dt.datetime(2026, 12, 6, 1, 23, 22, tzinfo=dt.UTC)
PERSON, ENTITY = "population.person", "legal_entity.organization"
OLD, NEW = "20261205T012322.123456-abcdef", "20261206T012322.123456-012345"
ENTITIES = "20261206T020000.000001-fedcba"
USCC = "91350100M000100Y43"


@pytest.fixture
def waiting(engine, catalog, tmp_path, monkeypatch):
    """60 person rows in two batches (55 waiting, 5 retried), 2 entity rows (1 superseded)."""
    monkeypatch.setenv("GDX_DATABASE_URL", _url(engine))
    monkeypatch.setenv("GDX_HOME", str(tmp_path))
    monkeypatch.setenv("GDX_TIMEZONE", "Asia/Shanghai")
    people = for_resource(catalog.resource(PERSON))
    entities = for_resource(catalog.resource(ENTITY))
    person_rows = [
        (line, f"1101051949123{line:04d}X", ["id_number.citizen_id"], {"姓名": "某"}, None)
        for line in range(2, 32)
    ]
    with engine.begin() as conn:
        quarantine.add(conn, people, OLD, "public_security", AT, person_rows)
        quarantine.add(conn, people, NEW, "public_security", AT, person_rows)
        q = people.quarantine
        retried = q.c.batch_id == OLD
        conn.execute(q.update().where(retried, q.c.line < 7).values(retried_in=NEW))
        rows = [(2, USCC, ["uscc.uscc"], {}, None), (3, "x", ["uscc.uscc"], {}, None)]
        quarantine.add(conn, entities, ENTITIES, "market_regulation", AT, rows)
        e = entities.quarantine
        conn.execute(e.update().where(e.c.line == 3).values(superseded_by=NEW))
    return engine


def quarantine_list(*args: str, width: int = 170):
    result = CliRunner().invoke(app, ["quarantine", "list", *args], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def on_one_line(text: str, value: str) -> bool:
    return any(value in line for line in text.splitlines())


@pytest.mark.parametrize("width", [80, 120])
def test_without_resource_every_resource_is_listed_whole_at(waiting, width):
    shown = quarantine_list(width=width)
    for value in (ENTITY, PERSON, ENTITIES, NEW, USCC, "11010519491230031X"):
        assert on_one_line(shown, value), (value, shown)
    assert "…" not in shown
    assert shown.strip().endswith(
        "56 rows wait in quarantine across 2 resources (62 quarantined in all, retried or "
        "superseded included); showing the first 50 (--limit N)"
    )


def test_the_list_is_newest_batch_first_across_resources(waiting):
    found = json.loads(quarantine_list("--json"))
    assert len(found) == 50
    assert [row["batch_id"] for row in found[:2]] == [ENTITIES, ENTITIES]
    assert {row["resource"] for row in found[:2]} == {ENTITY}
    assert [row["line"] for row in found[2:5]] == [2, 3, 4]  # then the newer person batch
    assert found[0]["created_at"] == "2026-12-06T09:23:22+08:00"


def test_a_named_resource_has_no_resource_column_and_its_own_count(waiting):
    shown = quarantine_list("--resource", ENTITY)
    assert "resource" not in shown.splitlines()[1] and USCC in shown and "superseded" in shown
    assert shown.strip().endswith(
        f"1 row of {ENTITY} waits in quarantine (2 quarantined in all, retried or superseded "
        "included); all shown"
    )
    one = quarantine_list("--resource", PERSON, "--batch", OLD, "--limit", "100")
    assert f"25 rows of {PERSON} in batch {OLD} wait in quarantine (30 quarantined" in one
    assert "all shown" in one and f"retried in {NEW}" in one


def test_nothing_quarantined_says_so(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_DATABASE_URL", _url(engine))
    monkeypatch.setenv("GDX_HOME", str(tmp_path))
    shown = quarantine_list()
    assert "0 rows wait in quarantine (0 quarantined in all" in shown and "all shown" in shown
