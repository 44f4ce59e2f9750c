"""Rows delivered again unchanged are skipped before validation, on SQLite and PostgreSQL;
what they still count for (repeats, conflicts, snapshots) holds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.gdx.test_pipeline import HEADER, LI, LI_ID, ZHANG, crowd
from tests.warehouse.test_merge import PERSON, ZHANG_ID, load, record
from warehouse import unchanged

PEOPLE = HEADER + ZHANG + LI + crowd(10)  # 12 rows: two bad ones stay under 20%
RESPELT = ZHANG.replace("1949-12-31", "1949/12/31")  # the same date once normalised


def ps(engine, catalog, tmp_path, text, name, force=False):
    return load(engine, catalog, tmp_path, text, "public_security", name, force)


@pytest.fixture(params=["looked up by key", "read whole"])
def reading(request, monkeypatch):
    """Known hashes come per block by key (small blocks) or all at once (big ones)."""
    if request.param == "read whole":
        monkeypatch.setattr(unchanged, "LOOK_UP_BELOW", 0)
    return request.param


def test_an_identical_delivery_validates_nothing(engine, catalog, tmp_path, reading):
    first = ps(engine, catalog, tmp_path, PEOPLE, "a.csv")
    assert first.rules_checked and first.rows_loaded == 12
    again = ps(engine, catalog, tmp_path, PEOPLE, "a.csv", force=True)
    assert (again.rows_unchanged, again.rows_loaded, again.records_changed) == (12, 0, 0)
    assert again.rules_checked == [] and again.data_docs is None  # no row was validated
    assert (first.rows_validated, again.rows_validated) == (12, 0)


def test_a_row_spelt_differently_is_validated_then_remembered(engine, catalog, tmp_path):
    ps(engine, catalog, tmp_path, PEOPLE, "a.csv")
    respelt = PEOPLE.replace(ZHANG, RESPELT)
    second = ps(engine, catalog, tmp_path, respelt, "b.csv")
    assert second.rules_checked  # the respelt row was validated
    assert (second.rows_unchanged, second.records_changed) == (12, 0)
    third = ps(engine, catalog, tmp_path, respelt, "b.csv", force=True)
    assert third.rules_checked == [] and third.rows_unchanged == 12


def test_a_changed_row_is_merged_and_the_rest_skipped(engine, catalog, tmp_path, reading):
    ps(engine, catalog, tmp_path, PEOPLE, "a.csv")
    moved = PEOPLE.replace("北京市朝阳区建国路1号", "北京市海淀区中关村大街1号")
    batch = ps(engine, catalog, tmp_path, moved, "b.csv")
    assert (batch.rows_updated, batch.rows_unchanged, batch.records_changed) == (1, 11, 1)
    assert record(engine, catalog)["household_address"] == "北京市海淀区中关村大街1号"


def test_a_key_repeated_with_other_values_is_still_a_conflict(engine, catalog, tmp_path):
    ps(engine, catalog, tmp_path, PEOPLE, "a.csv")
    renamed = ZHANG.replace("张三", "张三丰")
    batch = ps(engine, catalog, tmp_path, PEOPLE + renamed, "b.csv")
    assert batch.rejected_by_rule == {"duplicate_key_conflict": 2}
    assert (batch.rows_quarantined, batch.rows_unchanged, batch.records_changed) == (2, 11, 0)
    assert record(engine, catalog)["name"] == "张三"  # neither row replaced the contribution
    # only the row judged today keeps a verdict; the kept one is the contribution as it was
    rows = {row["raw"]["姓名"]: row for row in quarantined(engine, catalog, batch.batch_id)}
    assert rows["张三"]["raw_hash"] is None and rows["张三丰"]["raw_hash"] is not None


def test_an_identical_repeat_is_a_duplicate_however_spelt(engine, catalog, tmp_path):
    ps(engine, catalog, tmp_path, PEOPLE, "a.csv")
    batch = ps(engine, catalog, tmp_path, PEOPLE + RESPELT + ZHANG, "b.csv")
    assert (batch.rows_duplicate, batch.rows_quarantined, batch.rows_unchanged) == (2, 0, 12)


def test_a_rejected_row_sent_again_is_rejected_again(engine, catalog, tmp_path):
    nameless = ZHANG.replace("张三", "")
    text = HEADER + nameless + LI + crowd(8)
    first = ps(engine, catalog, tmp_path, text, "a.csv")
    again = ps(engine, catalog, tmp_path, text, "a.csv", force=True)
    assert first.rows_quarantined == again.rows_quarantined == 1
    assert again.rejected_by_rule == first.rejected_by_rule
    assert record(engine, catalog, ZHANG_ID) is None


def quarantined(engine, catalog, batch_id):
    from warehouse import quarantine
    from warehouse.tables import for_resource

    with engine.connect() as conn:
        return quarantine.for_batch(conn, for_resource(catalog.resource(PERSON)), batch_id)


def no_validation(monkeypatch):
    import quality.judge

    def refuse(resource, table):
        raise AssertionError(f"validated {table.num_rows} rows")

    monkeypatch.setattr(quality.judge, "validate", refuse)


def test_a_row_quarantined_today_is_quarantined_again_unvalidated(
    engine, catalog, tmp_path, monkeypatch
):
    nameless = ZHANG.replace("张三", "")
    text = HEADER + nameless + LI + crowd(8)
    first = ps(engine, catalog, tmp_path, text, "a.csv")
    no_validation(monkeypatch)
    again = ps(engine, catalog, tmp_path, text, "a.csv", force=True)
    assert (again.rows_quarantined, again.rows_unchanged, again.rows_validated) == (1, 9, 1)
    assert again.rejected_by_rule == first.rejected_by_rule == {"name.required": 1}
    assert again.rules_checked == first.rules_checked and again.data_docs is None
    (before,) = quarantined(engine, catalog, first.batch_id)
    (after,) = quarantined(engine, catalog, again.batch_id)
    same = ("line", "record_key", "rules", "raw", "raw_hash")
    assert [after[k] for k in same] == [before[k] for k in same] and after["raw_hash"] is not None


def test_the_next_day_a_quarantined_row_is_validated_again(engine, catalog, tmp_path, monkeypatch):
    import datetime as dt

    from quality import dates

    nameless = ZHANG.replace("张三", "")
    text = HEADER + nameless + LI + crowd(8)
    ps(engine, catalog, tmp_path, text, "a.csv")
    tomorrow = dates.today() + dt.timedelta(days=1)
    monkeypatch.setattr(dates, "today", lambda: tomorrow)
    again = ps(engine, catalog, tmp_path, text, "a.csv", force=True)
    assert again.rows_quarantined == 1 and again.data_docs  # rules compare dates with today
    assert again.rows_quarantined_again == 1  # yesterday's: no new rejection
    no_validation(monkeypatch)
    third = ps(engine, catalog, tmp_path, text, "a.csv", force=True)
    assert third.rows_quarantined == third.rows_quarantined_again == 1
    assert third.data_docs is None
    monkeypatch.undo()
    fixed = ps(engine, catalog, tmp_path, HEADER + ZHANG + LI + crowd(8), "b.csv")
    assert fixed.rows_quarantined == fixed.rows_quarantined_again == 0


def test_a_conflicting_row_is_known_to_pass_but_settled_anew(
    engine, catalog, tmp_path, monkeypatch
):
    """A conflict depends on the batch's other rows, the rules' verdict on the row alone."""
    renamed = ZHANG.replace("张三", "张三丰")
    first = ps(engine, catalog, tmp_path, PEOPLE + renamed, "a.csv")
    assert first.rejected_by_rule == {"duplicate_key_conflict": 2}
    assert all(row["raw_hash"] is not None for row in quarantined(engine, catalog, first.batch_id))
    with monkeypatch.context() as patch:
        no_validation(patch)
        again = ps(engine, catalog, tmp_path, PEOPLE + renamed, "a.csv", force=True)
        assert again.rejected_by_rule == {"duplicate_key_conflict": 2}
        alone = ps(engine, catalog, tmp_path, PEOPLE, "b.csv")  # the key once: no conflict
    assert alone.rows_quarantined == 0 and alone.rows_inserted == 1
    assert alone.rules_checked == first.rules_checked and alone.data_docs is None
    assert record(engine, catalog)["name"] == "张三"


@pytest.mark.parametrize("first_file", ["repeat in the first batch", "repeat sent later"])
def test_a_repeat_spelt_differently_is_not_validated_again_that_day(
    engine, catalog, tmp_path, monkeypatch, first_file
):
    if first_file == "repeat sent later":  # settled against the contribution, not in staging
        ps(engine, catalog, tmp_path, PEOPLE, "a.csv")
    first = ps(engine, catalog, tmp_path, PEOPLE + RESPELT, "b.csv")
    assert first.rows_duplicate == 1 and first.data_docs
    no_validation(monkeypatch)
    again = ps(engine, catalog, tmp_path, PEOPLE + RESPELT, "b.csv", force=True)
    assert (again.rows_duplicate, again.rows_unchanged, again.rows_quarantined) == (1, 12, 0)
    assert again.data_docs is None


def test_remembered_repeats_are_forgotten_after_a_day(engine):
    import datetime as dt

    import sqlalchemy as sa

    from warehouse.engine import writing
    from warehouse.ledger import id_at, now
    from warehouse.tables import passed_row

    def remember(batch_id, hashes, dept="public_security"):
        with writing(engine) as conn:
            before = id_at(now() - dt.timedelta(hours=25))
            unchanged.remember_passed(conn, PERSON, dept, batch_id, hashes, before)

    two_days_ago = id_at(now() - dt.timedelta(days=2)) + "-aaaaaa"
    remember(two_days_ago, [1, 2])
    remember(two_days_ago, [3], "civil_affairs")
    remember(id_at(now()) + "-bbbbbb", [4])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(passed_row.c.department, passed_row.c.day_hash)).all()
    assert sorted(rows) == [("civil_affairs", 3), ("public_security", 4)]


def test_a_changed_row_is_judged_anew(engine, catalog, tmp_path):
    nameless = LI.replace("李四", "")
    bad = ps(engine, catalog, tmp_path, HEADER + nameless + crowd(8), "c.csv")
    assert bad.rejected_by_rule == {"name.required": 1}
    fixed = ps(engine, catalog, tmp_path, HEADER + LI.replace("李四", "李思") + crowd(8), "d.csv")
    assert fixed.rows_quarantined == 0 and fixed.rows_inserted == 1
    assert record(engine, catalog, LI_ID)["name"] == "李思"


def test_judged_reads_the_days_verdicts_once(engine, catalog, tmp_path):
    import datetime as dt

    from quality import dates
    from warehouse.engine import writing
    from warehouse.tables import for_resource

    nameless = ZHANG.replace("张三", "")
    first = ps(engine, catalog, tmp_path, HEADER + nameless + LI + crowd(8), "a.csv")
    (row,) = quarantined(engine, catalog, first.batch_id)
    tables = for_resource(catalog.resource(PERSON))
    midnight = dt.datetime.combine(dates.today(), dt.time(), dates.zone())
    with writing(engine) as conn:
        judged = unchanged.Judged(conn, tables, "public_security", midnight)
        found, rules = judged.look_up(np.array([7, row["raw_hash"]], dtype=np.int64))
        assert found.tolist() == [False, True] and rules == [["name.required"]]
        later = unchanged.Judged(conn, tables, "public_security", midnight + dt.timedelta(1))
        assert not later.look_up(np.array([row["raw_hash"]], dtype=np.int64))[0].any()
        off = unchanged.Judged(conn, tables, "public_security", midnight, enabled=False)
        assert not off.look_up(np.array([row["raw_hash"]], dtype=np.int64))[0].any()
        other = unchanged.Judged(conn, tables, "civil_affairs", midnight)
        assert not other.look_up(np.array([row["raw_hash"]], dtype=np.int64))[0].any()
        # an instant east of UTC (the batch started after it) finds the batch on every
        # backend at every hour: the ledger's UTC times are not compared with its digits
        east = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).astimezone(
            dt.timezone(dt.timedelta(hours=8))
        )
        eastern = unchanged.Judged(conn, tables, "public_security", east)
        assert eastern.look_up(np.array([row["raw_hash"]], dtype=np.int64))[0].all()


def test_judged_reads_the_latest_batches_of_the_day(engine, catalog, tmp_path, monkeypatch):
    nameless = ZHANG.replace("张三", "")
    text = HEADER + nameless + LI + crowd(8)
    ps(engine, catalog, tmp_path, text, "a.csv")
    ps(engine, catalog, tmp_path, HEADER + LI.replace("李四", "") + crowd(8), "b.csv")
    monkeypatch.setattr(unchanged, "JUDGED_BATCHES", 1)  # b.csv's verdicts only
    again = ps(engine, catalog, tmp_path, text, "a.csv", force=True)
    assert again.data_docs  # 张三's row was judged in a.csv, no longer among the latest
    no_validation(monkeypatch)
    third = ps(engine, catalog, tmp_path, text, "a.csv", force=True)
    assert third.rows_quarantined == 1 and third.data_docs is None


def test_day_hashes_differ_by_day_and_keep_rows_apart():
    import datetime as dt

    hashes = np.array([1, 2, 3], dtype=np.int64)
    today = unchanged.day_hashes(hashes, dt.date(2026, 11, 22))
    assert len(set(today.tolist())) == 3
    assert not np.intersect1d(today, unchanged.day_hashes(hashes, dt.date(2026, 11, 23))).size


def test_the_hash_follows_values_names_and_declaration(catalog):
    table = pa.table({"a": ["1", None, "x"], "b": ["2", "3", None]})
    hashes = unchanged.row_hashes(table)
    assert len(set(hashes.tolist())) == 3
    reordered = table.select(["b", "a"])
    assert np.array_equal(unchanged.row_hashes(reordered), hashes)  # column order is no change
    renamed = table.rename_columns(["a", "c"])
    assert not np.array_equal(unchanged.row_hashes(renamed), hashes)  # another field is
    assert not np.array_equal(unchanged.row_hashes(table, 1), hashes)
    person = catalog.resource("population.person")
    stricter = person.model_copy(update={"max_reject_ratio": person.max_reject_ratio / 2})
    assert unchanged.seed(person) != unchanged.seed(stricter)
    assert unchanged.seed(person) == unchanged.seed(catalog.resource("population.person"))


def test_among_finds_members_of_a_sorted_set():
    known = np.array([-5, 3, 9], dtype=np.int64)
    found = unchanged.among(np.array([9, 4, -5, 10], dtype=np.int64), known)
    assert found.tolist() == [True, False, True, False]
    assert not unchanged.among(np.array([1], dtype=np.int64), known[:0]).any()


def test_a_conflict_takes_every_repeat_of_its_key(engine, catalog, tmp_path):
    people = HEADER + ZHANG + LI + crowd(20)
    ps(engine, catalog, tmp_path, people, "a.csv")
    renamed = ZHANG.replace("张三", "张三丰")
    batch = ps(engine, catalog, tmp_path, people + ZHANG + renamed, "b.csv")
    assert (batch.rows_quarantined, batch.rows_duplicate, batch.rows_unchanged) == (3, 0, 21)


@pytest.mark.parametrize(
    "more",
    [RESPELT + ZHANG.replace("张三", "张三丰"), 2 * ZHANG.replace("张三", "张三丰")],
    ids=["respelt and renamed", "renamed twice"],
)
def test_every_row_of_a_conflicting_key_is_quarantined(engine, catalog, tmp_path, more):
    people = HEADER + ZHANG + LI + crowd(20)
    ps(engine, catalog, tmp_path, people, "a.csv")
    batch = ps(engine, catalog, tmp_path, people + more, "b.csv")
    assert (batch.rows_quarantined, batch.rows_duplicate, batch.rows_unchanged) == (3, 0, 21)
    assert batch.rows_read == 24 and batch.rows_validated == 2
    assert record(engine, catalog)["name"] == "张三"


def test_pass_rates_count_the_rows_validated(engine, catalog, tmp_path):
    from warehouse.quality_report import pass_rates

    nameless = ZHANG.replace("张三", "")
    text = HEADER + nameless + LI + crowd(8)  # 10 rows, one rejected
    ps(engine, catalog, tmp_path, text, "a.csv")
    ps(engine, catalog, tmp_path, text, "a.csv", force=True)  # 9 unchanged, 1 checked again
    with engine.connect() as conn:
        (overall,) = [r for r in pass_rates(conn, PERSON) if r["rule"] == "(all rules)"]
    assert (overall["rows_checked"], overall["rejected"]) == (11, 2)


def test_a_small_block_reads_only_its_own_keys(engine, catalog, tmp_path):
    from warehouse.engine import writing
    from warehouse.tables import for_resource

    ps(engine, catalog, tmp_path, PEOPLE, "a.csv")
    tables = for_resource(catalog.resource(PERSON))
    with writing(engine) as conn:
        everything = unchanged.known(conn, tables, "public_security")
        ours = unchanged.Known(conn, tables, "public_security").hashes(2, lambda: [ZHANG_ID])
        assert len(everything) == 12 and len(ours) == 1 and ours[0] in everything
        assert (
            len(
                unchanged.Known(conn, tables, "public_security", enabled=False).hashes(
                    2, lambda: [ZHANG_ID]
                )
            )
            == 0
        )
