"""One batch through the whole pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from gdx.demo.data import write_demo_data
from gdx.errors import GdxError
from gdx.pipeline import load_file
from warehouse import ledger
from warehouse.tables import batch_ledger, for_resource

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地址\n"
ZHANG = "11010519491231002X,张三,女,1949-12-31,汉族,北京市朝阳区建国路1号\n"
LI = "220102199003071234,李四,男,1990-03-07,满族,吉林省长春市南关区人民大街2号\n"


def _fix_li(text: str) -> str:
    """Give 李四 a valid check character (computed, not hand-typed)."""
    from stdnum.cn import ric

    body = "22010219900307123"
    return text.replace("220102199003071234", body + ric.calc_check_digit(body + "0"))


LI = _fix_li(LI)
LI_ID = LI.split(",")[0]


def crowd(n: int = 10) -> str:
    """Valid rows of other people, so that a few bad rows stay under the reject ratio."""
    import numpy as np

    from quality.citizen_id import make_ids

    ids = make_ids(np.full(n, 220104), np.full(n, 19800101), np.arange(101, 101 + 2 * n, 2))
    return "".join(f"{i},路人{k},男,1980-01-01,汉族,吉林省长春市\n" for k, i in enumerate(ids))


def write(tmp_path: Path, text: str, name: str = "p.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def load(engine, catalog, path, department="public_security", **kw):
    return load_file(path, "population.person", department, engine=engine, catalog=catalog, **kw)


def golden_rows(engine, catalog) -> list[dict]:
    golden = for_resource(catalog.resource("population.person")).golden
    with engine.connect() as conn:
        rows = conn.execute(sa.select(golden).order_by(golden.c.id_number))
        return [dict(r._mapping) for r in rows]


def history_rows(engine, catalog) -> list[dict]:
    hist = for_resource(catalog.resource("population.person")).history
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(sa.select(hist).order_by(hist.c._version_id))
        ]


def quarantine_rows(engine, catalog, batch_id) -> list[dict]:
    q = for_resource(catalog.resource("population.person")).quarantine
    with engine.connect() as conn:
        rows = conn.execute(sa.select(q).where(q.c.batch_id == batch_id).order_by(q.c.id))
        return [dict(r._mapping) for r in rows]


def ledger_row(engine, batch_id=None) -> dict:
    with engine.connect() as conn:
        if batch_id:
            return ledger.get(conn, batch_id)
        row = conn.execute(
            sa.select(batch_ledger).order_by(batch_ledger.c.started_at.desc())
        ).first()
        return dict(row._mapping)


def assert_invariant(summary) -> None:
    assert summary.rows_read == (
        summary.rows_loaded
        + summary.rows_unchanged
        + summary.rows_duplicate
        + summary.rows_quarantined
    )


def test_demo_file_loads_and_reloading_it_changes_nothing(engine, catalog, tmp_path):
    manifest = write_demo_data(tmp_path, catalog, people=2000, seed=3)
    household = manifest.extracts["public_security.population"]
    path = Path(household.path)
    first = load(engine, catalog, path)
    assert_invariant(first)
    assert first.status == "loaded" and first.encoding == "gbk"
    assert first.rows_duplicate == household.defects["identical_repeat"]
    assert (
        first.rejected_by_rule["duplicate_key_conflict"]
        == 2 * household.defects["conflicting_repeat"]
    )
    assert (
        first.rejected_by_rule["id_number.citizen_id"] == household.defects["bad_check_character"]
    )
    assert first.rejected_by_rule["name.required"] == household.defects["missing_name"]
    assert first.unknown_columns == ["数据更新时间"]
    rows_before, history_before = golden_rows(engine, catalog), history_rows(engine, catalog)
    assert len(rows_before) == first.rows_inserted == first.rows_loaded

    second = load(engine, catalog, path, force=True)
    assert_invariant(second)
    assert second.rows_loaded == 0
    assert second.rows_unchanged == first.rows_loaded
    assert golden_rows(engine, catalog) == rows_before
    assert history_rows(engine, catalog) == history_before


def test_a_re_sent_old_file_changes_nothing(engine, catalog, tmp_path):
    old = write(tmp_path, HEADER + ZHANG + LI, "old.csv")
    first = load(engine, catalog, old)
    moved = ZHANG.replace("建国路1号", "长安街9号")
    load(engine, catalog, write(tmp_path, HEADER + moved + LI, "new.csv"))
    rows, history = golden_rows(engine, catalog), history_rows(engine, catalog)
    again = load(engine, catalog, old)  # the department sends last month's file again
    assert (again.status, again.same_as, again.rows_read) == ("skipped", first.batch_id, 0)
    assert golden_rows(engine, catalog) == rows and history_rows(engine, catalog) == history
    assert ledger_row(engine, again.batch_id)["same_as"] == first.batch_id
    # another department's identical bytes are its own delivery
    phone = f"公民身份号码,联系电话\n{ZHANG.split(',')[0]},13812345678\n"
    phones = write(tmp_path, phone, "ph.csv")
    assert load(engine, catalog, phones, "civil_affairs").status == "loaded"
    assert load(engine, catalog, phones, "civil_affairs").status == "skipped"
    assert load(engine, catalog, phones, "human_resources").status == "loaded"


def test_changed_record_is_updated_with_history(engine, catalog, tmp_path):
    load(engine, catalog, write(tmp_path, HEADER + ZHANG + LI))
    moved = ZHANG.replace("建国路1号", "长安街9号")
    summary = load(engine, catalog, write(tmp_path, HEADER + moved + LI, "p2.csv"))
    assert (summary.rows_updated, summary.rows_unchanged, summary.rows_inserted) == (1, 1, 0)
    (zhang, _) = golden_rows(engine, catalog)
    assert zhang["household_address"] == "北京市朝阳区长安街9号"
    assert zhang["_batch_id"] == summary.batch_id
    history = history_rows(engine, catalog)
    assert [h["_op"] for h in history] == ["insert", "insert", "update"]
    assert history[-1]["_changed"] == "household_address"
    assert history[-1]["household_address"] == "北京市朝阳区长安街9号"
    assert history[0]["household_address"] == "北京市朝阳区建国路1号"


def test_a_department_only_writes_the_fields_it_delivers(engine, catalog, tmp_path):
    load(engine, catalog, write(tmp_path, HEADER + ZHANG))
    phones = "公民身份号码,联系电话,参保状态\n11010519491231002X,13812345678,参保缴费\n"
    summary = load(engine, catalog, write(tmp_path, phones, "hr.csv"), "human_resources")
    assert (summary.rows_inserted, summary.records_changed) == (1, 1)  # new for HR, one record
    (zhang,) = golden_rows(engine, catalog)
    assert zhang["name"] == "张三" and zhang["phone"] == "13812345678"
    assert history_rows(engine, catalog)[-1]["_department"] == "human_resources"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_encodings_are_detected(engine, catalog, tmp_path, encoding):
    rare = "刘䶮" if encoding != "gbk" else "刘岩"  # 䶮 (U+4DAE) is in GB18030, not in GBK
    text = HEADER + ZHANG.replace("张三", rare) + LI
    summary = load(engine, catalog, write(tmp_path, text, encoding=encoding))
    assert summary.encoding == encoding
    assert summary.rows_inserted == 2
    assert golden_rows(engine, catalog)[0]["name"] == rare


def test_headers_by_field_name_and_alias(engine, catalog, tmp_path):
    text = "id_number,name,身份证号码X,户籍所在地\n11010519491231002X,张三,?,北京市\n"
    summary = load(engine, catalog, write(tmp_path, text))
    assert summary.rows_inserted == 1
    assert summary.unknown_columns == ["身份证号码X"]
    assert golden_rows(engine, catalog)[0]["household_address"] == "北京市"


def test_duplicates_in_one_batch(engine, catalog, tmp_path):
    conflict = ZHANG.replace("张三", "张叁")
    text = HEADER + LI + LI + LI + ZHANG + conflict + crowd()
    summary = load(engine, catalog, write(tmp_path, text))
    assert_invariant(summary)
    assert summary.rows_duplicate == 2
    assert summary.rows_inserted == 11
    assert summary.rejected_by_rule == {"duplicate_key_conflict": 2}
    rows = quarantine_rows(engine, catalog, summary.batch_id)
    assert [r["rules"] for r in rows] == [["duplicate_key_conflict"]] * 2
    assert {r["raw"]["姓名"] for r in rows} == {"张三", "张叁"}
    ids = {g["id_number"] for g in golden_rows(engine, catalog)}
    assert LI_ID in ids and "11010519491231002X" not in ids


def test_quarantine_keeps_the_raw_row_and_every_failed_rule(engine, catalog, tmp_path):
    bad = "110105194912310021,,男,1949-12-31,火星族,北京市\n"
    summary = load(engine, catalog, write(tmp_path, HEADER + bad + ZHANG + crowd()))
    assert_invariant(summary)
    (row,) = quarantine_rows(engine, catalog, summary.batch_id)
    assert row["rules"] == [
        "id_number.citizen_id",
        "name.required",
        "gender.gender_agrees_with_id",
        "ethnicity.ethnic_group",
    ]
    assert row["raw"] == {
        "公民身份号码": "110105194912310021",
        "姓名": "",
        "性别": "男",
        "出生日期": "1949-12-31",
        "民族": "火星族",
        "户籍地址": "北京市",
    }
    assert row["line"] == 2
    recorded = ledger_row(engine, summary.batch_id)
    assert recorded["status"] == "loaded"
    assert recorded["rejected_by_rule"] == summary.rejected_by_rule
    assert recorded["rows_quarantined"] == 1


def test_ragged_and_unterminated_lines_are_quarantined(engine, catalog, tmp_path):
    text = HEADER + ZHANG + "220102199003071234,李四\n" + LI + crowd() + '"unterminated,x,y\n'
    summary = load(engine, catalog, write(tmp_path, text))
    assert_invariant(summary)
    assert summary.rejected_by_rule == {"malformed_row": 2}
    assert summary.rows_inserted == 12
    rows = quarantine_rows(engine, catalog, summary.batch_id)
    assert rows[0]["line"] == 3 and rows[0]["raw"]["_text"] == "220102199003071234,李四"


def _assert_failed_without_change(engine, catalog, before, message_part):
    recorded = ledger_row(engine)
    assert recorded["status"] == "failed"
    assert message_part in recorded["error"]
    assert golden_rows(engine, catalog) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.encode(), "no data rows (header only)"),
        ("姓名,性别\n张三,女\n".encode(), "required column for field id_number"),
        (HEADER.encode() + b"11010519491231002X,\xff\xfe\xfa,\n", "cannot"),
    ],
    ids=["empty", "header-only", "missing-key-column", "undecodable"],
)
def test_bad_files_fail_with_one_line_and_change_nothing(
    engine, catalog, tmp_path, content, message
):
    load(engine, catalog, write(tmp_path, HEADER + ZHANG, "good.csv"))
    before = golden_rows(engine, catalog)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(GdxError) as caught:
        load(engine, catalog, path)
    assert "\n" not in str(caught.value) and message in str(caught.value)
    assert str(path) in str(caught.value) or message == "cannot"
    _assert_failed_without_change(engine, catalog, before, message)


def test_a_failure_late_in_the_file_commits_nothing(engine, catalog, tmp_path):
    load(engine, catalog, write(tmp_path, HEADER + ZHANG, "good.csv"))
    before = golden_rows(engine, catalog)
    manifest = write_demo_data(tmp_path / "demo", catalog, people=15000, seed=5, defect_rate=0.05)
    body = Path(manifest.extracts["public_security.population"].path).read_bytes()
    assert len(body) > 1 << 20  # past the part that encoding detection reads
    path = tmp_path / "late.csv"
    path.write_bytes(body + b"9" + b"\x81\x20,broken\n")  # invalid GBK near the end
    with pytest.raises(GdxError, match="cannot decode"):
        load(engine, catalog, path, block_bytes=64 << 10)  # many blocks: the bad one is last
    _assert_failed_without_change(engine, catalog, before, "cannot decode")
    q = for_resource(catalog.resource("population.person")).quarantine
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(q)).scalar_one() == 0


def test_summary_is_json_serialisable(engine, catalog, tmp_path):
    summary = load(engine, catalog, write(tmp_path, HEADER + ZHANG))
    data = json.loads(json.dumps(summary.as_dict()))
    for key in (
        "batch_id",
        "resource",
        "department",
        "source",
        "rows_read",
        "rows_loaded",
        "rows_unchanged",
        "rows_quarantined",
        "rows_duplicate",
        "rejected_by_rule",
        "status",
        "seconds",
    ):
        assert key in data


def test_a_batch_of_mostly_broken_rows_is_rejected_whole(engine, catalog, tmp_path):
    load(engine, catalog, write(tmp_path, HEADER + ZHANG, "good.csv"))
    before = golden_rows(engine, catalog)
    broken = "".join(f"11010519491231{n:05d},某{n},女,1949-12-31,汉族,北京市\n" for n in range(6))
    path = write(tmp_path, HEADER + broken + LI + ZHANG.replace("建国路1号", "长安街9号"))
    with pytest.raises(GdxError, match=r"batch rejected, 75% of 8 rows .*id_number.citizen_id 6"):
        load(engine, catalog, path)
    assert golden_rows(engine, catalog) == before  # not even the good rows were merged
    recorded = ledger_row(engine)
    assert recorded["status"] == "rejected"
    assert recorded["rows_quarantined"] == 6 and recorded["rows_loaded"] == 0
    assert recorded["rejected_by_rule"]["id_number.citizen_id"] == 6
    assert quarantine_rows(engine, catalog, recorded["batch_id"]) == []


def test_a_tiny_delivery_is_not_rejected_whole_for_a_few_bad_rows(engine, catalog, tmp_path):
    """The floor (reject_floor, 5): a share over max_reject_ratio rejects a batch only when
    more than that many rows are new rejections."""
    broken = "".join(f"11010519491231{n:05d},某{n},女,1949-12-31,汉族,北京市\n" for n in range(5))
    summary = load(engine, catalog, write(tmp_path, HEADER + broken + ZHANG, "tiny.csv"))
    assert (summary.status, summary.rows_loaded, summary.rows_quarantined) == ("loaded", 1, 5)
    assert summary.rows_quarantined_again == 0
    # six others: sent for the first time, they are new rejections
    six = "".join(f"11010519491231{n:05d},某{n},女,1949-12-31,汉族,北京市\n" for n in range(10, 16))
    with pytest.raises(GdxError, match=r"batch rejected, 86% of 7 rows .*or 5 rows, accepted"):
        load(engine, catalog, write(tmp_path, HEADER + six + LI, "six.csv"))


def test_a_warn_only_rule_loads_the_row_and_counts_the_warning(engine, tmp_path):
    from tests.conftest import edited_catalog

    def warn_on_phones(data):
        data["fields"][6]["rules"] = [{"phone": None, "severity": "warn"}]

    catalog = edited_catalog(tmp_path, "resources/population.person.yaml", warn_on_phones)
    assert catalog.resource("population.person").field("phone").rules[0].severity == "warn"
    text = "公民身份号码,联系电话\n11010519491231002X,12345\n" + LI.split(",")[0] + ",13812345678\n"
    summary = load(engine, catalog, write(tmp_path, text), "human_resources")
    assert (summary.rows_loaded, summary.rows_quarantined) == (2, 0)
    assert summary.warned_by_rule == {"phone.phone": 1}
    assert ledger_row(engine, summary.batch_id)["warned_by_rule"] == {"phone.phone": 1}


def test_every_batch_gets_its_data_docs(engine, catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_DATA_DOCS_DIR", str(tmp_path / "docs"))
    bad = "110105194912310021,李四,女,1949-12-31,汉族,北京市\n"
    summary = load(engine, catalog, write(tmp_path, HEADER + ZHANG + bad + crowd()))
    index = Path(summary.data_docs)
    assert index.is_file() and index.parent.name == summary.batch_id
    assert ledger_row(engine, summary.batch_id)["data_docs"] == str(index)
    page = index.parent / "block-001.html"
    assert "block-001.html" in index.read_text(encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    assert "citizen_id" in text.lower() or "citizen id" in text.lower()
    from warehouse.quality_report import latest_docs

    with engine.connect() as conn:
        assert latest_docs(conn, "population.person") == {"population.person": str(index)}


def test_staged_values_are_plain_for_quarantine():
    import datetime as dt
    import decimal

    from warehouse.batch_work import _plain

    assert _plain(decimal.Decimal("1.50")) == "1.50"
    assert _plain(dt.date(2026, 11, 22)) == "2026-11-22"
    assert _plain("张三") == "张三" and _plain(None) is None
