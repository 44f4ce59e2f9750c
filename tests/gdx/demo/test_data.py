"""Demo data for every registered source: consistent, valid until broken, and every defect
caught; `collect` fills all four libraries and re-collecting loads nothing new."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from gdx import connections
from gdx.demo.data import DEMO_API_TOKEN, write_demo_data
from gdx.demo.data.api import serve_licences
from gdx.pipeline import collect
from quality.citizen_id import make_ids
from runtime import settings
from warehouse.tables import for_resource


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo(tmp_path, monkeypatch, catalog, request):
    rate = getattr(request, "param", 0.0)
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "var"))
    port = _port()
    manifest = write_demo_data(
        settings.incoming_dir(), catalog, people=2000, seed=4, defect_rate=rate, api_port=port
    )
    connections.save(settings.connections_file(), manifest.connections)
    server = serve_licences(
        Path(manifest.extracts["transport.licences"].path), DEMO_API_TOKEN, port=port
    )
    yield manifest
    server.shutdown()


def collect_all(engine, catalog) -> dict[str, list]:
    return {code: collect(code, engine=engine, catalog=catalog) for code in catalog.sources}


def count(engine, catalog, code) -> int:
    golden = for_resource(catalog.resource(code)).golden
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(golden)).scalar_one()


def test_clean_demo_data_fills_all_four_libraries_without_rejections(engine, catalog, demo):
    results = collect_all(engine, catalog)
    assert set(results) == set(demo.extracts)
    for code, summaries in results.items():
        assert summaries, code
        assert sum(s.rows_quarantined for s in summaries) == 0, (
            code,
            summaries[0].rejected_by_rule,
        )
        assert sum(s.rows_read for s in summaries) == demo.extracts[code].rows, code
    for code in catalog.resources:
        assert count(engine, catalog, code) > 0, code


@pytest.mark.parametrize("demo", [0.05], indirect=True)
def test_every_injected_defect_is_caught(engine, catalog, demo):
    for code, summaries in collect_all(engine, catalog).items():
        defects = demo.extracts[code].defects
        quarantined = sum(s.rows_quarantined for s in summaries)
        if code == "public_security.population":
            expected = (
                sum(defects.values()) - defects["identical_repeat"] + defects["conflicting_repeat"]
            )
            assert summaries[0].rows_duplicate == defects["identical_repeat"]
        else:
            expected = sum(defects.values())
        assert quarantined == expected, (code, dict(defects), summaries[0].rejected_by_rule)


def test_recollecting_loads_nothing_new_and_new_rows_are_collected(engine, catalog, demo):
    collect_all(engine, catalog)
    again = collect_all(engine, catalog)
    assert again["education.licences"] == []  # the drop folder has no new file
    for code, summaries in again.items():
        assert sum(s.rows_loaded for s in summaries) == 0, code
    hr = sa.create_engine(demo.connections["hr_db"])
    with hr.connect() as conn:
        frame = pd.read_sql("SELECT * FROM insured LIMIT 5", conn)
    frame["id_number"] = make_ids(np.full(5, 220104), np.full(5, 19900101), np.arange(5))
    frame["updated_at"] = "2026-11-21 12:00:00"  # after the watermark
    frame.to_sql("insured", hr, if_exists="append", index=False)
    hr.dispose()
    (new,) = collect("human_resources.insured", engine=engine, catalog=catalog)
    assert new.rows_loaded == 5 and new.rows_quarantined == 0


def test_the_departments_agree_on_who_exists(catalog, demo):
    incoming = settings.incoming_dir()
    people = pd.read_csv(incoming / "public_security/population.csv", encoding="gbk", dtype=str)
    import pyarrow as pa

    from quality import citizen_id

    ids = set(citizen_id.normalize(pa.array(people["公民身份号码"])).to_pylist())
    enterprises = pd.read_csv(incoming / "market_regulation/enterprises.csv", dtype=str)
    assert set(enterprises["法定代表人身份证号"]) <= ids
    licences = pd.read_csv(incoming / "health/physicians.csv", encoding="gb18030", dtype=str)
    known = licences["持证主体代码"].isin(ids).mean()
    assert 0.9 <= known < 1.0 or len(licences) < 50  # most holders exist, a few do not


def test_the_same_seed_writes_the_same_files(tmp_path, catalog):
    first = write_demo_data(tmp_path / "a", catalog, people=500, seed=9, defect_rate=0.05)
    second = write_demo_data(tmp_path / "b", catalog, people=500, seed=9, defect_rate=0.05)
    for code, extract in first.extracts.items():
        one, two = Path(extract.path), Path(second.extracts[code].path)
        if one.suffix in (".csv", ".json"):
            assert one.read_bytes() == two.read_bytes(), code
        assert extract.defects == second.extracts[code].defects, code


def test_two_departments_give_different_phones_for_some_people(catalog, demo):
    import openpyxl

    incoming = settings.incoming_dir()
    book = openpyxl.load_workbook(incoming / "civil_affairs/marriage.xlsx", read_only=True)
    rows = list(book.worksheets[0].iter_rows(min_row=4, values_only=True))
    civil = {row[0]: row[4] for row in rows if row[4]}
    hr = sa.create_engine(demo.connections["hr_db"])
    with hr.connect() as conn:
        insured = dict(conn.execute(sa.text("SELECT id_number, phone FROM insured")).all())
    hr.dispose()
    both = [person for person in civil if person in insured]
    conflicts = [person for person in both if civil[person] != insured[person]]
    assert len(both) > 20 and len(conflicts) > 0.9 * len(both)


def test_cross_library_misses_are_counted_as_warnings(engine, catalog, demo):
    results = collect_all(engine, catalog)
    licences = [
        s for code in ("market_regulation.licences", "health.licences") for s in results[code]
    ]
    misses = sum(s.warned_by_rule.get("holder_id.references", 0) for s in licences)
    loaded = sum(s.rows_loaded for s in licences)
    assert 0 < misses < 0.1 * loaded  # about 2% of holders are unknown to the libraries
    (insured,) = results["human_resources.insured"]
    assert insured.warned_by_rule.get("employer_uscc.references", 0) == 0  # employers came first
    (enterprises,) = results["market_regulation.enterprises"]
    assert enterprises.warned_by_rule == {}  # every legal representative is a known person


@pytest.mark.parametrize("demo", [0.05], indirect=True)
def test_a_repeated_look_back_does_not_fail_the_source(engine, catalog, demo):
    """`gdx collect` twice: the second re-reads the look-back window, the already quarantined
    rows among them, and is no rejection (an hourly source would fail every hour)."""
    env = dict(os.environ, GDX_DATABASE_URL=engine.url.render_as_string(hide_password=False))
    gdx = str(Path(sys.executable).parent / "gdx")

    def collect_licences() -> dict:
        result = subprocess.run(
            [gdx, "collect", "transport.licences", "--json"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        (line,) = result.stdout.strip().splitlines()
        return json.loads(line)

    first = collect_licences()
    assert first["status"] == "loaded" and first["rows_quarantined"] > 0
    again = collect_licences()
    assert again["status"] == "loaded", again["error"]
    assert 0 < again["rows_read"] < first["rows_read"]  # the look-back window, not everything
    assert again["rows_quarantined_again"] == again["rows_quarantined"] > 0
    assert again["rows_loaded"] == 0
