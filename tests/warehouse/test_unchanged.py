"""Rows delivered again unchanged are skipped before validation, on SQLite and PostgreSQL;
what they still count for (repeats, conflicts, snapshots) holds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.gdx.test_pipeline import HEADER, LI, ZHANG, crowd
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
