"""The record interface: auth, masking, errors as problem+json, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gdx.pipeline import load_file
from runtime import clock
from services.app import create_app
from tests.services.conftest import documented, is_local
from warehouse import consumers

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地址\n"
ZHANG = "11010519491231002X,张三,女,1949-12-31,汉族,北京市朝阳区建国路1号\n"
URL = "/api/v1/resources/population.person/records/"
PERSON = "population.person"
PURPOSE = "000105001000"  # 内地居民结婚登记


@pytest.fixture
def api(engine, catalog, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG, encoding="utf-8")
    load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    with engine.begin() as conn:
        _, key = consumers.add(conn, "approval", "government_services")
    client = TestClient(create_app(engine, catalog))
    client.headers["X-API-Key"] = key
    client.headers["X-Purpose"] = PURPOSE
    return client


def test_record_by_key_is_masked(api, catalog):
    body = documented(catalog.resource(PERSON), api.get(URL + "11010519491231002X"))
    assert body["key"] == "11010519491231002X"
    assert body["data"]["id_number"] == "110105********002X"
    assert body["data"]["household_address"] == "北京市朝阳区*****"
    assert body["data"]["name"] == "张三" and body["data"]["birth_date"] == "1949-12-31"
    assert set(body["masked_fields"]) == {"id_number", "household_address"}
    assert body["batch_id"] and is_local(body["updated_at"])


def test_key_is_normalised_before_lookup(api):
    assert api.get(URL + "11010519491231002x").status_code == 200
    assert api.get(URL + "110105491231002").status_code == 200  # the old 15-digit number


def _problem(response, status):
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_unknown_key_is_404(api):
    from stdnum.cn import ric

    body = "22010219900307123"
    unknown = body + ric.calc_check_digit(body + "0")
    assert "no population.person record" in _problem(api.get(URL + unknown), 404)["detail"]


@pytest.mark.parametrize(
    "bad", ["110105194912310021", "123", "1' OR '1'='1", "x" * 60, "%F0%9F%98%80"]
)
def test_malformed_key_is_422(api, bad):
    assert "id_number" in _problem(api.get(URL + bad), 422)["detail"]


def test_oversized_key_is_422(api):
    _problem(api.get(URL + "1" * 200), 422)


def test_missing_or_wrong_key_is_401(api):
    del api.headers["X-API-Key"]
    assert "missing" in _problem(api.get(URL + "11010519491231002X"), 401)["detail"]
    api.headers["X-API-Key"] = "gdx_not-a-real-key"
    _problem(api.get(URL + "11010519491231002X"), 401)


def test_an_unknown_caller_is_refused_before_the_key_is_judged(api):
    # the caller is authenticated before anything of the call is checked or read
    api.headers["X-API-Key"] = "gdx_not-a-real-key"
    assert "API key" in _problem(api.get(URL + "123"), 401)["detail"]
    assert "API key" in _problem(api.get(URL + "1", params={"as_of": "1800-01-01"}), 401)["detail"]
    del api.headers["X-Purpose"]
    assert "API key" in _problem(api.get(URL + "11010519491231002X"), 401)["detail"]


def test_a_call_reads_on_one_connection(api, engine):
    checkouts = []

    def counted(*_):
        checkouts.append(1)

    sa.event.listen(engine, "checkout", counted)
    try:
        assert api.get(URL + "11010519491231002X").status_code == 200
    finally:
        sa.event.remove(engine, "checkout", counted)
    assert len(checkouts) == 2  # the caller and the record on one, the audit record on its own


def test_revoked_key_is_401(api, engine):
    with engine.begin() as conn:
        consumers.revoke_named(conn, "approval")
    _problem(api.get(URL + "11010519491231002X"), 401)


def test_unknown_resource_is_404(api):
    _problem(api.get("/api/v1/resources/nothing.here/records/1"), 404)


def test_keys_are_stored_hashed(engine):
    from warehouse.tables import api_consumer

    with engine.begin() as conn:
        _, key = consumers.add(conn, "x", "public_security")
        stored = conn.execute(sa.select(api_consumer.c.key_hash, api_consumer.c.key_prefix)).all()
    assert all(key not in row.key_hash for row in stored)
    assert consumers.hash_key(key) in {row.key_hash for row in stored}


def test_healthz_and_docs(api):
    assert api.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    assert "/api/v1/resources/population.person/records/{id_number}" in spec["paths"]
    data = spec["components"]["schemas"]["PopulationPersonData"]["properties"]
    assert data["id_number"]["title"] == "公民身份号码"


def test_control_characters_in_a_key_are_422(api):
    _problem(api.get("/api/v1/resources/credit.record/records/x%00y"), 422)


def test_a_record_names_who_supplied_each_field(api, engine, catalog, tmp_path):
    phones = "公民身份号码,联系电话\n11010519491231002X,13812345678\n"
    (tmp_path / "hr.csv").write_text(phones, encoding="utf-8")
    load_file(tmp_path / "hr.csv", PERSON, "human_resources", engine=engine, catalog=catalog)
    body = documented(catalog.resource(PERSON), api.get(URL + "11010519491231002X"))
    assert body["state"] == "active" and body["as_of"] is None
    origin = body["provenance"]
    assert origin["name"]["department"] == "public_security"
    assert origin["phone"]["department"] == "human_resources"
    assert is_local(origin["phone"]["supplied_at"])
    assert "death_date" not in origin  # empty fields have no provenance


def test_as_of_reads_the_record_as_it_was(api, engine, catalog, tmp_path):
    between = dt.datetime.now(dt.UTC)
    renamed = ZHANG.replace("张三", "张叁")
    (tmp_path / "p2.csv").write_text(HEADER + renamed, encoding="utf-8")
    load_file(tmp_path / "p2.csv", PERSON, "public_security", engine=engine, catalog=catalog)
    now = api.get(URL + "11010519491231002X").json()
    then = api.get(URL + "11010519491231002X", params={"as_of": between.isoformat()})
    then = documented(catalog.resource(PERSON), then)
    assert (now["data"]["name"], then["data"]["name"]) == ("张叁", "张三")
    # shown in local time, the same instant as asked
    assert then["as_of"] == clock.iso(between) and then["provenance"] is None
    assert dt.datetime.fromisoformat(then["as_of"]) == between
    # a time without an offset is local (Asia/Shanghai): eight hours ahead of UTC
    local = between.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    same = api.get(URL + "11010519491231002X", params={"as_of": local.isoformat()}).json()
    assert same["data"] == then["data"]
    before = api.get(URL + "11010519491231002X", params={"as_of": "2000-01-01T00:00:00Z"})
    assert "at 2000-01-01" in _problem(before, 404)["detail"]
    _problem(api.get(URL + "11010519491231002X", params={"as_of": "yesterday"}), 422)


def test_a_removed_record_is_404_but_readable_as_of_before(
    api, engine, catalog, tmp_path, monkeypatch
):
    from gdx.pipeline import collect
    from tests.gdx.test_pipeline import crowd

    monkeypatch.setenv("GDX_INCOMING_DIR", str(tmp_path))
    snapshot = tmp_path / "public_security" / "population.csv"
    snapshot.parent.mkdir()
    snapshot.write_text(HEADER + ZHANG + crowd(8), encoding="utf-8")
    collect("public_security.population", engine=engine, catalog=catalog)
    before = dt.datetime.now(dt.UTC)
    snapshot.write_text(HEADER + crowd(8), encoding="utf-8")  # she left the register
    (batch,) = collect("public_security.population", engine=engine, catalog=catalog)
    assert batch.rows_withdrawn == 1
    body = _problem(api.get(URL + "11010519491231002X"), 404)
    assert "was removed at" in body["detail"]
    old = api.get(URL + "11010519491231002X", params={"as_of": before.isoformat()})
    assert old.status_code == 200 and old.json()["state"] == "active"
