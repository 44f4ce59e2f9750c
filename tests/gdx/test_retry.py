"""`gdx quarantine retry`: after a rule fix, rows that now pass merge, once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gdx.errors import GdxError
from gdx.pipeline import load_file
from gdx.retry import retry
from tests.conftest import edited_catalog
from tests.gdx.test_pipeline import HEADER, ZHANG, crowd, golden_rows
from warehouse.tables import for_resource

MARTIAN = "220102199003071234"


@pytest.fixture
def relaxed(tmp_path):
    """The catalog after a rule fix: unknown ethnic groups only warn."""

    def warn_on_ethnic_groups(data):
        data["fields"][4]["rules"] = [{"ethnic_group": None, "severity": "warn"}]

    return edited_catalog(tmp_path, "resources/population.person.yaml", warn_on_ethnic_groups)


def test_rows_that_now_pass_merge_once(engine, catalog, relaxed, tmp_path):
    from stdnum.cn import ric

    body = MARTIAN[:17]
    martian = body + ric.calc_check_digit(body + "0")
    rows = f"{martian},外星人,男,1990-03-07,火星族,吉林省\n"
    rows += "110105194912310021,李四,女,1949-12-31,汉族,北京市\n"  # a bad check character
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG + rows + crowd(), encoding="utf-8")
    first = load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    assert first.rows_quarantined == 2

    again = retry(first.batch_id, engine=engine, catalog=relaxed)
    assert (again.rows_read, again.rows_loaded, again.rows_quarantined) == (2, 1, 1)
    assert again.warned_by_rule == {"ethnicity.ethnic_group": 1}
    names = {row["id_number"]: row["name"] for row in golden_rows(engine, catalog)}
    assert names[martian] == "外星人"

    q = for_resource(catalog.resource("population.person")).quarantine
    with engine.connect() as conn:
        marks = conn.execute(sa.select(q.c.batch_id, q.c.retried_in).order_by(q.c.id)).all()
    assert [tuple(m) for m in marks] == [
        (first.batch_id, again.batch_id),
        (first.batch_id, again.batch_id),
        (again.batch_id, None),  # the bad ID, quarantined again under the retry
    ]
    once_more = retry(first.batch_id, engine=engine, catalog=relaxed)
    assert once_more.rows_read == 0 and once_more.rows_loaded == 0


def test_retrying_an_unknown_batch_is_one_line(engine, catalog):
    with pytest.raises(GdxError, match="no batch 'nope' in the ledger"):
        retry("nope", engine=engine, catalog=catalog)


def test_a_retry_never_overwrites_a_newer_record(engine, catalog, relaxed, tmp_path):
    from stdnum.cn import ric

    body = MARTIAN[:17]
    martian = body + ric.calc_check_digit(body + "0")
    old = tmp_path / "old.csv"
    old.write_text(
        HEADER + f"{martian},旧名,男,1990-03-07,火星族,吉林省\n" + crowd(), encoding="utf-8"
    )
    first = load_file(old, "population.person", "public_security", engine=engine, catalog=catalog)
    new = tmp_path / "new.csv"
    new.write_text(HEADER + f"{martian},新名,男,1990-03-07,汉族,吉林省\n", encoding="utf-8")
    load_file(new, "population.person", "public_security", engine=engine, catalog=catalog)

    again = retry(first.batch_id, engine=engine, catalog=relaxed)
    assert again.rows_read == 0 and again.rows_loaded == 0  # superseded, only marked
    names = {row["id_number"]: row["name"] for row in golden_rows(engine, catalog)}
    assert names[martian] == "新名"
    assert retry(first.batch_id, engine=engine, catalog=relaxed).rows_read == 0


def test_retries_are_left_out_of_the_quality_report(engine, catalog, relaxed, tmp_path):
    from warehouse.quality_report import pass_rates

    bad = "110105194912310021,李四,女,1949-12-31,汉族,北京市\n"
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG + bad + crowd(8), encoding="utf-8")
    first = load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    retry(first.batch_id, engine=engine, catalog=relaxed)
    with engine.connect() as conn:
        report = {row["rule"]: row for row in pass_rates(conn, "population.person")}
    assert report["(all rules)"]["rows_checked"] == 10
    assert report["id_number.citizen_id"]["pass_rate"] == 0.9
    assert "phone.phone" not in report  # no phone column: the rule was never checked


def _fix_raw(engine, catalog, batch_id, bad, good):
    """What a rule fix does for one quarantined value, done on the stored raw row."""
    q = for_resource(catalog.resource("population.person")).quarantine
    with engine.begin() as conn:
        row = conn.execute(sa.select(q).where(q.c.batch_id == batch_id)).one()
        raw = {k: (good if v == bad else v) for k, v in row.raw.items()}
        conn.execute(q.update().where(q.c.id == row.id).values(raw=raw))


def test_a_retry_never_overwrites_a_newer_unchanged_delivery(engine, catalog, tmp_path):
    from tests.warehouse.test_merge import load, record

    people = crowd(20)
    load(engine, catalog, tmp_path, HEADER + ZHANG + people, "public_security", "a.csv")
    moved = ZHANG.replace("1949-12-31", "1949-13-31").replace("建国路1号", "长安街9号")
    bad = load(engine, catalog, tmp_path, HEADER + moved + people, "public_security", "b.csv")
    assert bad.rows_quarantined == 1
    # the department then sends her original row again: a newer delivery, unchanged
    again = people.replace("路人0", "路人零")
    load(engine, catalog, tmp_path, HEADER + ZHANG + again, "public_security", "c.csv")
    _fix_raw(engine, catalog, bad.batch_id, "1949-13-31", "1949-12-31")
    retried = retry(bad.batch_id, engine=engine, catalog=catalog)
    assert retried.rows_read == 0
    assert record(engine, catalog)["household_address"] == "北京市朝阳区建国路1号"


def test_a_retry_never_brings_back_a_key_a_later_snapshot_dropped(
    engine, catalog, tmp_path, monkeypatch
):
    from tests.gdx.test_pipeline import LI, LI_ID
    from tests.warehouse.test_merge import record, snapshot

    people = crowd(20)
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + people)
    bad_li = LI.replace("1990-03-07", "1990-13-07")
    (first,) = snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + bad_li + people)
    assert first.rows_quarantined == 1
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + people + ZHANG)  # li gone
    _fix_raw(engine, catalog, first.batch_id, "1990-13-07", "1990-03-07")
    assert retry(first.batch_id, engine=engine, catalog=catalog).rows_read == 0
    assert record(engine, catalog, LI_ID) is None
