"""`gdx status`: late sources against their update cycle, failures since the last success."""

from __future__ import annotations

import datetime as dt

import pytest

from gdx.errors import GdxError
from gdx.pipeline import collect
from runtime import settings
from tests.gdx.test_pipeline import HEADER, ZHANG, crowd
from warehouse.status import resource_status, source_status


def test_status_of_sources_and_resources(engine, catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "var"))
    path = settings.incoming_dir() / "public_security" / "population.csv"
    path.parent.mkdir(parents=True)
    path.write_text(HEADER + ZHANG + crowd(), encoding="utf-8")
    collect("public_security.population", engine=engine, catalog=catalog)
    now = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        sources = {row["source"]: row for row in source_status(conn, catalog, now)}
        resources = {row["resource"]: row for row in resource_status(conn, catalog)}
        later = {
            row["source"]: row for row in source_status(conn, catalog, now + dt.timedelta(days=2))
        }
    household = sources["public_security.population"]
    assert household["cycle"] == "daily" and not household["late"] and household["last_success"]
    assert sources["courts.dishonest_debtors"]["late"]  # never collected
    assert later["public_security.population"]["late"]  # two days without a success
    assert resources["population.person"]["records"] == 11
    assert resources["credit.record"]["records"] == 0

    path.write_text(HEADER, encoding="utf-8")  # a broken delivery
    with pytest.raises(GdxError):
        collect("public_security.population", engine=engine, catalog=catalog)
    with engine.connect() as conn:
        (household,) = [
            r for r in source_status(conn, catalog, now) if r["source"] == household["source"]
        ]
    assert household["failed_since"] and not household["late"]


def test_status_counts_conflicts_records_and_quarantine(engine, catalog, tmp_path, monkeypatch):
    from gdx.pipeline import load_file

    monkeypatch.setenv("GDX_HOME", str(tmp_path / "var"))
    path = settings.incoming_dir() / "public_security" / "population.csv"
    path.parent.mkdir(parents=True)
    bad = ZHANG.replace("11010519491231002X", "110105194912310021")  # wrong check character
    path.write_text(HEADER + ZHANG + bad + crowd(), encoding="utf-8")
    collect("public_security.population", engine=engine, catalog=catalog)
    for department, phone in [("human_resources", "13812345678"), ("civil_affairs", "13912345678")]:
        file = tmp_path / f"{department}.csv"
        file.write_text(f"公民身份号码,联系电话\n11010519491231002X,{phone}\n", encoding="utf-8")
        load_file(file, "population.person", department, engine=engine, catalog=catalog)
    with engine.connect() as conn:
        sources = {r["source"]: r for r in source_status(conn, catalog, dt.datetime.now(dt.UTC))}
        (person,) = [
            r for r in resource_status(conn, catalog) if r["resource"] == "population.person"
        ]
    assert (person["records"], person["conflicts"], person["quarantined"]) == (11, 1, 1)
    household = sources["public_security.population"]
    assert (household["records"], household["conflicts"], household["quarantined"]) == (11, 0, 1)
    assert sources["human_resources.insured"]["records"] == 1
    assert sources["human_resources.insured"]["conflicts"] == 1  # it won the phone
    assert sources["civil_affairs.marriage"]["conflicts"] == 1  # it lost it
