"""Golden records merged from several departments: survivorship, provenance, conflicts,
withdrawals and end states, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gdx.errors import GdxError
from gdx.pipeline import collect, load_file
from tests.conftest import edited_catalog
from tests.gdx.test_pipeline import HEADER, LI, LI_ID, ZHANG, crowd, write
from warehouse.tables import for_resource

ZHANG_ID = "11010519491231002X"
PERSON = "population.person"


def load(engine, catalog, tmp_path, text, department, name, force=False):
    path = write(tmp_path, text, name)
    return load_file(path, PERSON, department, engine=engine, catalog=catalog, force=force)


def hr(tmp_path, engine, catalog, phone, name="hr.csv", status="参保缴费"):
    text = f"公民身份号码,联系电话,参保状态\n{ZHANG_ID},{phone},{status}\n"
    return load(engine, catalog, tmp_path, text, "human_resources", name)


def ca(tmp_path, engine, catalog, phone="", marital="已婚", death="", name="ca.csv", force=False):
    text = f"公民身份号码,婚姻状况,死亡日期,联系电话\n{ZHANG_ID},{marital},{death},{phone}\n"
    return load(engine, catalog, tmp_path, text, "civil_affairs", name, force)


def record(engine, catalog, key=ZHANG_ID, resource=PERSON) -> dict:
    spec = catalog.resource(resource)
    golden = for_resource(spec).golden
    with engine.connect() as conn:
        row = conn.execute(sa.select(golden).where(golden.c[spec.key] == key)).first()
        return dict(row._mapping) if row else None


def conflicts(engine, catalog, resource=PERSON) -> list[dict]:
    table = for_resource(catalog.resource(resource)).conflict
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]


def history(engine, catalog, key=ZHANG_ID) -> list[dict]:
    hist = for_resource(catalog.resource(PERSON)).history
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(hist).where(hist.c.id_number == key).order_by(hist.c._version_id)
        )
        return [dict(r._mapping) for r in rows]


def test_three_departments_make_one_record_with_provenance(engine, catalog, tmp_path):
    ps = load(engine, catalog, tmp_path, HEADER + ZHANG, "public_security", "ps.csv")
    insured = hr(tmp_path, engine, catalog, "13812345678")
    married = ca(tmp_path, engine, catalog, phone="13912345678")
    zhang = record(engine, catalog)
    assert (zhang["name"], zhang["marital_status"], zhang["insured_status"]) == (
        "张三",
        "已婚",
        "参保缴费",
    )
    # phone: human resources outranks civil affairs for this field
    assert zhang["phone"] == "13812345678"
    assert zhang["_src_name"] == ps.batch_id
    assert zhang["_src_phone"] == insured.batch_id
    assert zhang["_src_marital_status"] == married.batch_id
    assert zhang["_src_death_date"] is None  # an empty field has no provenance
    assert married.conflicts == 1
    (conflict,) = conflicts(engine, catalog)
    assert conflict | {"id": None, "found_at": None} == {
        "id": None,
        "record_key": ZHANG_ID,
        "field": "phone",
        "winner_department": "human_resources",
        "winner_value": "13812345678",
        "winner_batch": insured.batch_id,
        "other_department": "civil_affairs",
        "other_value": "13912345678",
        "other_batch": married.batch_id,
        "found_batch": married.batch_id,
        "found_at": None,
        "resolved_batch": None,
        "resolved_at": None,
    }


def test_priority_holds_whatever_the_order_and_a_conflict_resolves(engine, catalog, tmp_path):
    load(engine, catalog, tmp_path, HEADER + ZHANG, "public_security", "ps.csv")
    ca(tmp_path, engine, catalog, phone="13912345678")
    assert record(engine, catalog)["phone"] == "13912345678"  # the only phone so far
    late = hr(tmp_path, engine, catalog, "13812345678")
    assert record(engine, catalog)["phone"] == "13812345678"
    assert late.conflicts == 1 and late.records_changed == 1
    agree = hr(tmp_path, engine, catalog, "13912345678", name="hr2.csv")
    assert agree.conflicts == 0
    (conflict,) = conflicts(engine, catalog)
    assert conflict["resolved_batch"] == agree.batch_id
    assert record(engine, catalog)["_src_phone"] == agree.batch_id


def test_a_department_never_blanks_a_field_it_does_not_own(engine, catalog, tmp_path):
    load(engine, catalog, tmp_path, HEADER + ZHANG, "public_security", "ps.csv")
    hr(tmp_path, engine, catalog, "13812345678")
    ca(tmp_path, engine, catalog, phone="")  # civil affairs has no phone for her
    assert record(engine, catalog)["phone"] == "13812345678"
    assert conflicts(engine, catalog) == []
    # the owner may blank its own field
    ca(tmp_path, engine, catalog, death="2025-01-02", name="ca2.csv")
    assert record(engine, catalog)["death_date"].isoformat() == "2025-01-02"
    ca(tmp_path, engine, catalog, marital="离婚", death="", name="ca3.csv")
    assert record(engine, catalog)["death_date"] is None
    hr(tmp_path, engine, catalog, "", name="hr2.csv")  # human resources owns the phone
    assert record(engine, catalog)["phone"] is None


def _name_sources(data):  # two more departments registered as sources of a person's name
    for department in ("health", "education"):
        data["sources"].append(
            {
                "code": f"{department}.names",
                "department": department,
                "resource": PERSON,
                "options": {"kind": "csv", "path": f"{department}/names.csv"},
                "fields": ["id_number", "name"],
            }
        )


def test_without_a_priority_the_newest_value_wins(engine, tmp_path):
    catalog = edited_catalog(tmp_path, "sources.yaml", _name_sources)
    first = "公民身份号码,姓名\n" + LI_ID + ",李四\n"
    second = "公民身份号码,姓名\n" + LI_ID + ",李肆\n"
    load(engine, catalog, tmp_path, first, "health", "h.csv")
    newer = load(engine, catalog, tmp_path, second, "education", "e.csv")
    li = record(engine, catalog, LI_ID)
    assert li["name"] == "李肆" and li["_src_name"] == newer.batch_id
    (conflict,) = conflicts(engine, catalog)
    assert (conflict["winner_department"], conflict["other_department"]) == ("education", "health")
    # a listed department outranks both
    load(engine, catalog, tmp_path, HEADER + LI, "public_security", "ps.csv")
    assert record(engine, catalog, LI_ID)["name"] == "李四"


def test_an_unchanged_delivery_changes_nothing(engine, catalog, tmp_path):
    load(engine, catalog, tmp_path, HEADER + ZHANG, "public_security", "ps.csv")
    hr(tmp_path, engine, catalog, "13812345678")
    ca(tmp_path, engine, catalog, phone="13912345678")
    before = (record(engine, catalog), history(engine, catalog), conflicts(engine, catalog))
    again = ca(tmp_path, engine, catalog, phone="13912345678", name="again.csv", force=True)
    assert (again.rows_loaded, again.rows_unchanged, again.records_changed) == (0, 1, 0)
    assert again.conflicts == 0
    assert (record(engine, catalog), history(engine, catalog), conflicts(engine, catalog)) == before


def test_ended_by_a_death_date(engine, catalog, tmp_path):
    load(engine, catalog, tmp_path, HEADER + ZHANG, "public_security", "ps.csv")
    assert record(engine, catalog)["_state"] == "active"
    ca(tmp_path, engine, catalog, death="2025-01-02")
    assert record(engine, catalog)["_state"] == "ended"
    assert history(engine, catalog)[-1]["_state"] == "ended"


def snapshot(tmp_path, monkeypatch, engine, catalog, text):
    monkeypatch.setenv("GDX_INCOMING_DIR", str(tmp_path / "incoming"))
    path = tmp_path / "incoming" / "public_security" / "population.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return collect("public_security.population", engine=engine, catalog=catalog)


def test_a_full_snapshot_withdraws_a_key_it_no_longer_holds(engine, catalog, tmp_path, monkeypatch):
    people = crowd(8)
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + LI + people)
    hr(tmp_path, engine, catalog, "13812345678")
    (gone,) = snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + people)
    assert (gone.rows_withdrawn, gone.records_changed) == (1, 1)
    li = record(engine, catalog, LI_ID)
    assert li["_state"] == "removed" and li["_removed_at"] is not None
    assert li["name"] == "李四"  # marked, not deleted
    assert history(engine, catalog, LI_ID)[-1]["_op"] == "remove"
    # zhang lost public security's fields? no: public security still holds her
    assert record(engine, catalog)["_state"] == "active"
    # back in the next snapshot: restored
    (back,) = snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + LI + ZHANG + people)
    assert back.records_changed == 1
    assert record(engine, catalog, LI_ID)["_state"] == "active"
    assert history(engine, catalog, LI_ID)[-1]["_op"] == "restore"


def test_a_withdrawn_contribution_leaves_the_others(engine, catalog, tmp_path, monkeypatch):
    people = crowd(8)
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + people)
    hr(tmp_path, engine, catalog, "13812345678")
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + people)
    zhang = record(engine, catalog)
    # human resources still contributes: the record stays, without public security's fields
    assert zhang["_state"] == "active" and zhang["phone"] == "13812345678"
    assert zhang["name"] is None and zhang["_src_name"] is None


def test_a_truncated_snapshot_is_rejected_whole(engine, catalog, tmp_path, monkeypatch):
    people = crowd(40)
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + LI + people)
    kept = "".join(people.splitlines(keepends=True)[:25])
    with pytest.raises(GdxError, match="would withdraw 15 of public_security's 42 records"):
        snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + LI + kept)
    assert record(engine, catalog, LI_ID)["_state"] == "active"


def test_a_small_department_may_always_drop_a_few_keys(engine, catalog, tmp_path, monkeypatch):
    other = crowd(1)
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + LI + other)
    (batch,) = snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + other)
    assert batch.rows_withdrawn == 1  # one of three (33%): under the ten always allowed


def test_quarantined_rows_of_a_snapshot_are_not_withdrawn(engine, catalog, tmp_path, monkeypatch):
    people = crowd(8)
    snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + LI + people)
    nameless = ZHANG.replace("张三", "")
    (batch,) = snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + nameless + LI + people)
    assert batch.rows_quarantined == 1 and batch.rows_withdrawn == 0
    assert record(engine, catalog)["_state"] == "active"


def test_incremental_loads_never_withdraw(engine, catalog, tmp_path):
    load(engine, catalog, tmp_path, HEADER + ZHANG + LI, "public_security", "a.csv")
    summary = load(engine, catalog, tmp_path, HEADER + ZHANG, "public_security", "b.csv")
    assert summary.rows_withdrawn == 0
    assert record(engine, catalog, LI_ID)["_state"] == "active"


def test_a_process_killed_in_the_middle_of_a_merge_changes_nothing(engine, catalog, tmp_path):
    import os
    import subprocess
    import sys

    load(engine, catalog, tmp_path, HEADER + ZHANG + LI, "public_security", "v1.csv")
    hr(tmp_path, engine, catalog, "13812345678")
    before = (record(engine, catalog), history(engine, catalog), conflicts(engine, catalog))
    moved = ZHANG.replace("建国路1号", "长安街9号")
    path = write(tmp_path, HEADER + moved + LI, "v2.csv")
    script = (
        "import os, signal\n"
        "from warehouse import merge\n"
        "merge._apply = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        "from gdx.pipeline import load_file\n"
        "from warehouse import engine\n"
        f"load_file({str(path)!r}, {PERSON!r}, 'public_security', "
        f"engine=engine.create({engine.url.render_as_string(hide_password=False)!r}))\n"
    )
    died = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), timeout=120)
    assert died.returncode == -9  # killed after its contributions were written, before commit
    after = (record(engine, catalog), history(engine, catalog), conflicts(engine, catalog))
    assert after == before
    again = load_file(path, PERSON, "public_security", engine=engine, catalog=catalog)
    assert (again.status, again.rows_updated, again.records_changed) == ("loaded", 1, 1)
    assert record(engine, catalog)["household_address"] == "北京市朝阳区长安街9号"
    assert len(history(engine, catalog)) == len(before[1]) + 1
    once_more = load_file(path, PERSON, "public_security", engine=engine, catalog=catalog)
    assert once_more.status == "skipped"


def test_an_owner_delivering_a_blank_column_blanks_it_the_same_way_every_time(
    engine, catalog, tmp_path
):
    load(engine, catalog, tmp_path, HEADER + ZHANG, "public_security", "ps.csv")
    ca(tmp_path, engine, catalog, phone="13912345678")
    first = f"公民身份号码,参保状态\n{ZHANG_ID},参保缴费\n"  # no phone column yet
    load(engine, catalog, tmp_path, first, "human_resources", "hr1.csv")
    assert record(engine, catalog)["phone"] == "13912345678"
    blank = f"公民身份号码,联系电话,参保状态\n{ZHANG_ID},,参保缴费\n"
    load(engine, catalog, tmp_path, blank, "human_resources", "hr2.csv")
    assert record(engine, catalog)["phone"] is None  # the owner has no phone for her
    changed = f"公民身份号码,联系电话,参保状态\n{ZHANG_ID},,暂停缴费\n"
    load(engine, catalog, tmp_path, changed, "human_resources", "hr3.csv")
    assert record(engine, catalog)["phone"] is None
    assert conflicts(engine, catalog) == []  # a blank is not a disagreement


LICENCE_ROWS = (
    "licence_id,licence_type_code,licence_no,holder_type,holder_id,holder_name,"
    "valid_from,valid_until,status\n"
    f"BL01-1,BL01,N1,自然人,{LI_ID},李四,2020-01-01,2021-01-01,有效\n"
    f"BL01-2,BL01,N2,自然人,{LI_ID},李四,2020-01-01,2999-01-01,有效\n"
    f"BL01-3,BL01,N3,自然人,{LI_ID},李四,2020-01-01,2999-01-01,注销\n"
    f"BL01-4,BL01,N4,自然人,{LI_ID},李四,2020-01-01,,\n"
)
DEATHS = (
    "公民身份号码,婚姻状况,死亡日期,联系电话\n"
    f"{ZHANG_ID},已婚,2020-02-02,\n{LI_ID},未婚,,13912345678\n"
)


@pytest.mark.parametrize(
    ("resource", "department", "text"),
    [
        ("e_licence.licence", "market_regulation", LICENCE_ROWS),
        (PERSON, "civil_affairs", DEATHS),  # some columns only; one record ended
        (PERSON, "public_security", HEADER + ZHANG + LI + crowd(3)),
    ],
)
def test_a_first_load_writes_what_the_general_merge_writes(
    engine, catalog, tmp_path, monkeypatch, resource, department, text
):
    """Into an empty resource the merge takes a shortcut (straight from staging); it must leave
    the same contributions, records and history as the general merge."""
    from warehouse import merge

    monkeypatch.setattr(merge, "BIG_BATCH", 1)  # the big first load's path: indexes deferred
    path = write(tmp_path, text, "first.csv")
    spec = catalog.resource(resource)
    tables = for_resource(spec)

    def written(batch) -> dict:
        stamps = {"_changed_at", "_created_at", "_updated_at", "_valid_from", "_version_id"}
        found = {}
        with engine.begin() as conn:
            for table in (tables.contribution, tables.golden, tables.history):
                rows = [
                    {
                        k: ("this batch" if v == batch.batch_id else v)
                        for k, v in row._mapping.items()
                        if k not in stamps
                    }
                    for row in conn.execute(sa.select(table))
                ]
                found[table.name] = sorted(rows, key=lambda r: str(r[spec.key]))
                conn.execute(table.delete())
        return found

    shortcut = load_file(path, resource, department, engine=engine, catalog=catalog)
    assert shortcut.status == "loaded" and shortcut.records_changed > 0
    expected = written(shortcut)
    monkeypatch.setattr(merge, "_empty", lambda conn, tables: False)
    general = load_file(path, resource, department, engine=engine, catalog=catalog, force=True)
    assert written(general) == expected
    counts = ("rows_inserted", "rows_updated", "records_changed", "conflicts", "rows_unchanged")
    assert [getattr(general, c) for c in counts] == [getattr(shortcut, c) for c in counts]


def test_a_first_full_snapshot_with_an_unreadable_row_withdraws_nothing(
    engine, catalog, tmp_path, monkeypatch
):
    broken = "only,two\n"  # a malformed row: no key can be read from it
    (batch,) = snapshot(tmp_path, monkeypatch, engine, catalog, HEADER + ZHANG + broken + crowd(9))
    assert batch.withdrawal_held and batch.rows_quarantined == 1 and batch.rows_loaded == 10


def test_a_delivery_small_beside_an_analysed_library_probes_its_indexes(
    engine, catalog, tmp_path, monkeypatch
):
    if engine.dialect.name != "postgresql":
        pytest.skip("the join strategy is PostgreSQL's")
    from warehouse import merge, staging
    from warehouse.engine import writing

    load(engine, catalog, tmp_path, HEADER + ZHANG + LI + crowd(10), "public_security", "a.csv")
    tables = for_resource(catalog.resource(PERSON))
    monkeypatch.setattr(merge, "BIG_BATCH", 2)
    with writing(engine) as conn:
        stg = staging.create(conn, tables.resource)
        conn.execute(
            stg.insert(),
            [{"id_number": k, "_line": i, "_row_hash": 0} for i, k in enumerate(["a", "b"])],
        )
        assert merge._big(conn, tables, stg)  # 12 contributions, never analysed: hash
        staging.analyze(conn, tables.contribution)
        monkeypatch.setattr(merge, "LIBRARY_SHARE", 5)
        assert not merge._big(conn, tables, stg)  # 2 x 5 < 12: probe the indexes
        monkeypatch.setattr(merge, "LIBRARY_SHARE", 6)
        assert merge._big(conn, tables, stg)
        monkeypatch.setattr(merge, "BIG_BATCH", 3)
        assert not merge._big(conn, tables, stg)  # under BIG_BATCH: always probe


def test_the_merge_tells_postgresql_how_to_join(engine, catalog, tmp_path, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("the join strategy is PostgreSQL's")
    from warehouse import merge, staging
    from warehouse.engine import writing

    load(engine, catalog, tmp_path, HEADER + ZHANG + LI + crowd(10), "public_security", "a.csv")
    tables = for_resource(catalog.resource(PERSON))
    monkeypatch.setattr(merge, "BIG_BATCH", 2)
    with writing(engine) as conn:
        staging.analyze(conn, tables.contribution)

    def planned(share: int, before: str = "") -> tuple[str, str]:
        monkeypatch.setattr(merge, "LIBRARY_SHARE", share)
        with writing(engine) as conn:
            if before:
                conn.exec_driver_sql(before)
            stg = staging.create(conn, tables.resource)
            rows = [{"id_number": k, "_line": i, "_row_hash": 0} for i, k in enumerate("ab")]
            conn.execute(stg.insert(), rows)
            merge._plan(conn, tables, stg)
            show = conn.exec_driver_sql
            return (
                show("SHOW enable_nestloop").scalar_one(),
                show("SHOW random_page_cost").scalar_one(),
            )

    assert planned(5) == ("on", "1.1")  # 2 staged beside 12: probe, pages priced as cached
    assert planned(6) == ("off", "4")  # big: hash, the server's page cost
    assert planned(5, "SET LOCAL random_page_cost = 1") == ("on", "1")  # lower stays
    with writing(engine) as conn:  # for the batch's transaction only
        assert conn.exec_driver_sql("SHOW random_page_cost").scalar_one() == "4"
