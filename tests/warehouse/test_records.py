"""Reading golden records by key: the one-read record with its provenance and the batch read
give what the separate reads give, on both backends."""

from __future__ import annotations

from gdx.pipeline import load_file
from warehouse import records

PERSON = "population.person"
ZHANG = "11010519491231002X"
WANG = "220102198511110021"


def _load(engine, catalog, path, department, text):
    path.write_text(text, encoding="utf-8")
    summary = load_file(path, PERSON, department, engine=engine, catalog=catalog)
    assert summary.rows_quarantined == 0, summary.as_dict()


def test_a_record_with_its_provenance_in_one_read(engine, catalog, tmp_path):
    resource = catalog.resource(PERSON)
    _load(
        engine,
        catalog,
        tmp_path / "people.csv",
        "public_security",
        "id_number,name,gender,birth_date,ethnicity,household_address\n"
        f"{ZHANG},张三,女,1949-12-31,汉族,北京市朝阳区建国路1号\n"
        f"{WANG},王五,女,1985-11-11,汉族,\n",
    )
    _load(  # a second department, so that the record names two batches
        engine,
        catalog,
        tmp_path / "deaths.csv",
        "civil_affairs",
        f"id_number,marital_status,death_date\n{WANG},已婚,2025-05-01\n",
    )
    with engine.connect() as conn:
        for key in (ZHANG, WANG):
            record, origin = records.with_provenance(conn, resource, key)
            assert record == records.by_key(conn, resource, key)
            assert origin == records.provenance(conn, resource, record)
        assert {item["department"] for item in origin.values()} == {
            "public_security",
            "civil_affairs",
        }
        assert records.with_provenance(conn, resource, "110105194912310000") == (None, {})
        found = records.by_keys(conn, resource, [WANG, ZHANG, WANG, "110105194912310000"])
        for key in (ZHANG, WANG):
            whole = records.by_key(conn, resource, key)
            assert found[key] == {name: whole[name] for name in found[key]}
            assert {"_state", "_batch_id", "_updated_at", "_removed_at", "name"} <= set(found[key])
        assert set(found) == {ZHANG, WANG}
