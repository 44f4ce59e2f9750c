"""One clock on screen: every time the command line prints, in tables, lines and --json, is
local time in GDX_TIMEZONE written as ISO 8601 with its offset."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gdx.cli.main import app
from tests.gdx.cli.test_main import HEADER, ZHANG, _url, assert_one_line_error
from tests.gdx.cli.test_main import gdx as gdx_process
from warehouse.tables import batch_ledger, for_resource

# fixed offsets all year (neither zone has summer time), so the offset is known in advance
ZONES = {"Asia/Shanghai": "+08:00", "America/Sao_Paulo": "-03:00"}
KEY = "11010519491231002X"
BAD = "110105194912310021,李四,女,1949-12-31,汉族,北京市\n"
STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)?")


def local(at: dt.datetime, zone: str, seconds: bool = True) -> str:
    """`at` (naive: UTC, as SQLite gives it back) in `zone`, worked out here, not by the hub."""
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    moment = at.astimezone(ZoneInfo(zone))
    return moment.isoformat(timespec="seconds") if seconds else moment.isoformat()


def assert_every_time_has(offset: str, text: str) -> None:
    found = list(STAMP.finditer(text))
    assert found, text
    for match in found:
        assert match.group(1) == offset, f"{match.group(0)} has no {offset}: {text}"


def gdx(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def gdx_json(offset: str, *args: str):
    """The --json output of a command, every time in it (under any key, at any depth) local
    with `offset`: none is left in UTC."""
    text = gdx(*args, "--json")
    assert_every_time_has(offset, text)
    return json.loads(text)


@pytest.fixture
def loaded(engine, catalog, tmp_path, monkeypatch):
    """A delivery of public_security.population (one row quarantined), then human
    resources' phone number for the same person."""
    from gdx.pipeline import load_file

    monkeypatch.setenv("GDX_DATABASE_URL", _url(engine))
    monkeypatch.setenv("GDX_HOME", str(tmp_path))
    people, phones = tmp_path / "p.csv", tmp_path / "hr.csv"
    people.write_text(HEADER + ZHANG + BAD, encoding="utf-8")
    phones.write_text(f"公民身份号码,联系电话\n{KEY},13812345678\n", encoding="utf-8")
    for path, department, source in (
        (people, "public_security", "public_security.population"),
        (phones, "human_resources", None),
    ):
        summary = load_file(path, "population.person", department, engine=engine, source=source)
        assert summary.status == "loaded", summary.error
    return engine


def _stored(engine, catalog) -> dict:
    tables = for_resource(catalog.resource("population.person"))
    with engine.connect() as conn:
        ledger = {
            row.department: row
            for row in conn.execute(sa.select(batch_ledger).order_by(batch_ledger.c.started_at))
        }
        first = conn.execute(
            sa.select(tables.history.c._valid_from).order_by(tables.history.c._valid_from)
        ).first()
        return {
            "ledger": ledger,
            "updated": conn.execute(sa.select(sa.func.max(tables.golden.c._updated_at))).scalar(),
            "valid_from": first._valid_from,
            "quarantined": conn.execute(sa.select(tables.quarantine.c.created_at)).scalar(),
        }


def test_every_time_shown_is_local_with_its_offset(loaded, catalog, monkeypatch):
    for zone in ZONES:  # the same warehouse seen from two zones
        monkeypatch.setenv("GDX_TIMEZONE", zone)
        _check_times(zone, _stored(loaded, catalog))
    # a time from --json names the same instant when given back (to the microsecond)
    record = json.loads(gdx("records", "show", "population.person", KEY, "--json"))
    supplied = record["provenance"]["phone"]["supplied_at"]
    then = json.loads(
        gdx("records", "show", "population.person", KEY, "--as-of", supplied, "--json")
    )
    assert then["fields"]["phone"] == "13812345678"


def _check_times(zone: str, stored: dict) -> None:
    offset = ZONES[zone]
    police, hr = stored["ledger"]["public_security"], stored["ledger"]["human_resources"]

    status = gdx("status")
    assert local(stored["updated"], zone) in status  # a resource's last update
    assert local(police.finished_at, zone) in status  # the source's last success
    assert_every_time_has(offset, status)
    report = gdx_json(offset, "status")
    (person,) = [r for r in report["resources"] if r["resource"] == "population.person"]
    assert person["last_update"] == local(stored["updated"], zone, seconds=False)
    (source,) = [s for s in report["sources"] if s["source"] == "public_security.population"]
    assert source["last_success"] == local(police.finished_at, zone, seconds=False)

    sources = gdx("sources", "list")
    assert local(police.started_at, zone) in sources
    assert_every_time_has(offset, sources)
    listed = {row["source"]: row for row in gdx_json(offset, "sources", "list")}
    last_run = listed["public_security.population"]["last_run"]
    assert last_run == local(police.started_at, zone, seconds=False)

    shown = gdx("records", "show", "population.person", KEY)
    assert local(hr.finished_at, zone) in shown and local(police.finished_at, zone) in shown
    assert_every_time_has(offset, shown)
    record = gdx_json(offset, "records", "show", "population.person", KEY)
    supplied = record["provenance"]["phone"]["supplied_at"]
    assert supplied == local(hr.finished_at, zone, seconds=False)

    history = gdx("records", "history", "population.person", KEY)
    assert local(stored["valid_from"], zone) in history
    assert_every_time_has(offset, history)
    versions = gdx_json(offset, "records", "history", "population.person", KEY)
    assert versions[0]["_valid_from"] == local(stored["valid_from"], zone, seconds=False)

    (row,) = gdx_json(offset, "quarantine", "list")
    assert row["created_at"] == local(stored["quarantined"], zone, seconds=False)

    published = gdx("publish")
    assert local(stored["updated"], zone) in published
    assert_every_time_has(offset, published)
    figures = {row["resource"]: row for row in gdx_json(offset, "publish")}
    assert figures["population.person"]["computed_at"].endswith(offset)


def test_a_zone_that_does_not_exist_is_one_line_naming_the_setting(tmp_path):
    assert gdx_process("init", "--warehouse-only", home=tmp_path).returncode == 0
    people = tmp_path / "p.csv"
    people.write_text(HEADER + ZHANG, encoding="utf-8")
    load = ["load", str(people), "--source", "public_security.population"]
    result = gdx_process(*load, home=tmp_path, GDX_TIMEZONE="Mars/Olympus")
    assert_one_line_error(result, "GDX_TIMEZONE: 'Mars/Olympus' is not a time zone")
    assert "ClockError" not in result.stderr and "GDX_DEBUG" not in result.stderr
