"""The directory's published figures per resource, recomputed by `gdx publish`."""

from __future__ import annotations

import datetime as dt

from gdx.pipeline import collect, load_file
from gdx.publish import publish
from runtime import settings
from tests.gdx.test_pipeline import HEADER, ZHANG, crowd
from warehouse import directory


def test_figures_per_resource(engine, catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "var"))
    path = settings.incoming_dir() / "public_security" / "population.csv"
    path.parent.mkdir(parents=True)
    nameless = crowd(1).replace("路人0", "")  # one row of eleven breaks `name: required`
    path.write_text(HEADER + ZHANG + crowd(9) + nameless, encoding="utf-8")
    collect("public_security.population", engine=engine, catalog=catalog)
    for department, phone in [("human_resources", "13812345678"), ("civil_affairs", "13912345678")]:
        file = tmp_path / f"{department}.csv"
        file.write_text(f"公民身份号码,联系电话\n11010519491231002X,{phone}\n", encoding="utf-8")
        load_file(file, "population.person", department, engine=engine, catalog=catalog)

    report = {row["resource"]: row for row in publish(engine=engine, catalog=catalog)}
    person = report["population.person"]
    assert (person["records"], person["open_conflicts"], person["fresh"]) == (10, 1, True)
    assert person["pass_rate"] == round(1 - 1 / 13, 6)  # 11 + 1 + 1 rows read, 1 rejected
    assert person["update_cycle"] == "daily" and person["last_update"]
    credit = report["credit.record"]
    assert (credit["records"], credit["fresh"], credit["pass_rate"]) == (0, False, None)

    with engine.connect() as conn:
        stored = directory.published(conn)
        later = directory.figures(conn, catalog, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    assert stored["population.person"]["records"] == 10
    assert stored["population.person"]["pass_rate"] == person["pass_rate"]
    assert not {row["resource"]: row for row in later}["population.person"]["fresh"]
    again = {row["resource"]: row for row in publish(engine=engine, catalog=catalog)}
    assert again["population.person"]["records"] == 10  # replaced, not added
