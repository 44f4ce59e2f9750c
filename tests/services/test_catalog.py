"""The published directory: list with filters and keyset paging, detail with figures and
endpoints, the DCAT-AP and CSV exports (and the CSV read back), the sharing responsibility list."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fastapi.testclient import TestClient

from catalog_schema import configured_catalog, load_catalog
from catalog_schema.directory_csv import COLUMNS
from gdx.cli.catalog import check_imports, read_declarations, write_imports
from gdx.pipeline import load_file
from gdx.publish import publish
from services.app import create_app
from tests.gdx.cli.test_catalog import CODE, PHYSICIANS
from tests.services.test_records import HEADER, ZHANG
from tests.warehouse.test_grants import SECRET_SALARY, not_shared_catalog
from warehouse import consumers, tables

CATALOG = "/api/v1/catalog"
INSURANCE = "human_resources.insurance_payment"


def client_for(engine, catalog) -> TestClient:
    with engine.begin() as conn:
        _, key = consumers.add(conn, "approval", "government_services")
    return TestClient(create_app(engine, catalog), headers={"X-API-Key": key})


@pytest.fixture
def api(engine, catalog):
    return client_for(engine, catalog)


def codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


def test_list_everything_in_code_order(api, catalog):
    body = api.get(CATALOG).json()
    assert [item["code"] for item in body["items"]] == sorted(catalog.resources)
    assert body["next"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"library": "population"}, ["population.person"]),
        ({"library": "departments"}, [INSURANCE]),
        ({"provider": "human_resources"}, [INSURANCE]),
        ({"provider": "public_security"}, ["population.person"]),
        ({"share_type": "conditional"}, [INSURANCE]),
        ({"share_type": "not_shared"}, []),
        ({"q": "婚姻"}, ["population.person"]),  # a field label
        ({"q": "电子证照"}, ["e_licence.licence"]),  # the zh name
        ({"q": "insurance CONTRIBUTIONS"}, [INSURANCE]),  # the en name, any case
        ({"q": "Population.Person"}, ["population.person"]),  # the code
        ({"q": "abnormal-operation"}, ["credit.record"]),  # the summary
        ({"library": "departments", "share_type": "unconditional"}, []),
    ],
)
def test_filters(api, params, expected):
    assert codes(api.get(CATALOG, params=params)) == expected


def test_keyset_paging_through_everything(api, catalog):
    seen, link, pages = [], f"{CATALOG}?limit=2&share_type=unconditional", 0
    while link:
        body = api.get(link).json()
        seen += [item["code"] for item in body["items"]]
        link, pages = body["next"], pages + 1
        assert link is None or "share_type=unconditional" in link
    unconditional = [c for c in sorted(catalog.resources) if c != INSURANCE]
    assert seen == unconditional and pages == 2
    assert codes(api.get(CATALOG, params={"after": "legal_entity.organization"})) == [
        "population.person"
    ]
    assert codes(api.get(CATALOG, params={"after": "zzz"})) == []


def _problem(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "part"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"library": "health"}, "library: 'health' is not one of"),
        ({"provider": "nobody"}, "provider: no declared department 'nobody'"),
        ({"share_type": "sometimes"}, "share_type"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_bad_parameters_are_422(api, params, part):
    assert part in _problem(api.get(CATALOG, params=params), 422)


def test_directory_needs_a_key(api):
    for path in (
        CATALOG,
        f"{CATALOG}/population.person",
        f"{CATALOG}.csv",
        "/api/v1/service-items",
    ):
        _problem(api.get(path, headers={"X-API-Key": ""}), 401)


def test_detail_with_figures_after_publishing(api, engine, catalog, tmp_path):
    person = api.get(f"{CATALOG}/population.person").json()
    assert person["figures"] is None  # not yet published
    assert person["provider"] == {
        "code": "public_security",
        "name_zh": "省公安厅",
        "name_en": "Provincial Public Security Department",
        "uscc": "11220000013544357T",
    }
    assert person["fields"][0] == {
        "name": "id_number",
        "label_zh": "公民身份号码",
        "type": "text",
        "sensitivity": "sensitive",
        "description": person["fields"][0]["description"],
    }
    assert (person["share_type"], person["share_type_zh"]) == ("unconditional", "无条件共享")
    assert (person["update_cycle"], person["published_on"]) == ("daily", "2026-11-21")

    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG, encoding="utf-8")
    load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    publish(engine=engine, catalog=catalog)

    figures = api.get(f"{CATALOG}/population.person").json()["figures"]
    assert (figures["records"], figures["pass_rate"], figures["open_conflicts"]) == (1, 1.0, 0)
    assert figures["last_update"] and figures["computed_at"]
    assert isinstance(figures["fresh"], bool)
    credit = api.get(f"{CATALOG}/credit.record").json()["figures"]
    assert (credit["records"], credit["pass_rate"], credit["last_update"]) == (0, None, None)


def test_endpoints_are_real_routes(api, catalog):
    routes = {
        (method, route.path)
        for route in api.app.routes
        for method in getattr(route, "methods", None) or ()
    }
    for code in catalog.resources:
        entry = api.get(f"{CATALOG}/{code}").json()
        assert entry["endpoints"], code
        for endpoint in entry["endpoints"]:
            assert (endpoint["method"], endpoint["path"]) in routes, endpoint
    person = api.get(f"{CATALOG}/population.person").json()["endpoints"]
    assert person[0]["path"] == "/api/v1/resources/population.person/records/{id_number}"


def test_a_resource_not_shared_has_no_endpoints(engine, tmp_path):
    catalog = not_shared_catalog(tmp_path / "imports")
    tables.init_schema(engine, catalog)
    api = client_for(engine, catalog)
    assert codes(api.get(CATALOG, params={"share_type": "not_shared"})) == [SECRET_SALARY]
    entry = api.get(f"{CATALOG}/{SECRET_SALARY}").json()
    assert entry["endpoints"] == [] and entry["imported"] and entry["share_type_zh"] == "不予共享"
    document = api.get(f"{CATALOG}.jsonld", params={"share_type": "not_shared"}).json()
    (dataset,) = document["dcat:dataset"]
    assert dataset["dcat:distribution"] == []
    assert dataset["dct:accessRights"]["@id"].endswith("/access-right/NON_PUBLIC")


def test_unknown_code_is_404(api):
    assert "no resource 'population.people'" in _problem(
        api.get(f"{CATALOG}/population.people"), 404
    )
    _problem(api.get("/api/v1/service-items/999999999"), 404)


def test_jsonld_is_a_dcat_catalog(api, catalog):
    response = api.get(f"{CATALOG}.jsonld")
    assert response.headers["content-type"].startswith("application/ld+json")
    document = json.loads(response.text)
    context = document["@context"]
    assert context["dcat"] == "http://www.w3.org/ns/dcat#"
    assert context["dct"] == "http://purl.org/dc/terms/"
    assert document["@type"] == "dcat:Catalog"
    datasets = {d["dct:identifier"]: d for d in document["dcat:dataset"]}
    assert sorted(datasets) == sorted(catalog.resources)
    person = datasets["population.person"]
    assert person["@type"] == "dcat:Dataset"
    assert {t["@language"]: t["@value"] for t in person["dct:title"]} == {
        "zh": "人口基础信息",
        "en": "Population basic information",
    }
    assert person["dct:accrualPeriodicity"]["@id"].endswith("/frequency/DAILY")
    assert person["dct:issued"] == {"@value": "2026-11-21", "@type": "xsd:date"}
    assert person["dct:publisher"]["dct:identifier"] == "11220000013544357T"
    assert [theme["@id"] for theme in person["dcat:theme"]] == [
        "http://testserver/api/v1/catalog.jsonld#theme-population",
        "http://publications.europa.eu/resource/authority/data-theme/SOCI",
    ]
    assert {"@value": "人口基础信息", "@language": "zh"} in person["dcat:keyword"]
    assert person["dct:accessRights"]["@id"].endswith("/access-right/RESTRICTED")
    (distribution,) = person["dcat:distribution"]
    assert distribution["dcat:accessURL"]["@id"] == (
        "http://testserver/api/v1/resources/population.person/records"
    )
    assert datasets["credit.record"]["dct:accessRights"]["@id"].endswith("/PUBLIC")  # open
    insurance = datasets[INSURANCE]
    assert insurance["dct:accrualPeriodicity"]["@id"].endswith("/MONTHLY")
    assert "社会保障" in insurance["dct:rights"]["dct:description"]
    assert "dct:modified" not in person  # not yet published
    only = api.get(f"{CATALOG}.jsonld", params={"library": "departments"}).json()
    assert [d["dct:identifier"] for d in only["dcat:dataset"]] == [INSURANCE]


def test_csv_has_the_guide_columns(api, catalog):
    response = api.get(f"{CATALOG}.csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0][:8] == [
        "信息资源分类",
        "信息资源名称",
        "信息资源代码",
        "信息资源提供方",
        "信息资源提供方代码",
        "信息资源摘要",
        "信息资源格式",
        "信息项信息",
    ]
    by_code = {row[2]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert sorted(by_code) == sorted(catalog.resources)
    insurance = by_code[INSURANCE]
    assert insurance["共享类型"] == "有条件共享" and insurance["更新周期"] == "每月"
    assert insurance["信息资源提供方代码"] == "11220000013544373G"
    assert insurance["关联资源代码"] == "population.person；legal_entity.organization"
    assert insurance["信息项信息"].startswith(
        "公民身份号码(id_number:字符型:敏感)；姓名(name:字符型:公开)；"
    )
    assert "首次参保日期(first_paid_on:日期型:公开)" in insurance["信息项信息"]
    assert "月缴费基数(monthly_base:数值型:敏感)" in insurance["信息项信息"]
    assert insurance["信息资源格式"] == "数据库" and insurance["共享方式"] == "数据服务接口"
    assert insurance["是否向社会开放"] == "不予开放"
    # every term under a Chinese column of the guide is Chinese (codes, dates, our own two
    # columns and the free-text summary aside)
    latin = re.compile(r"[A-Za-z]{3,}")
    free = ("信息资源代码", "信息资源提供方代码", "信息资源摘要", "关联资源代码", "发布日期")
    for row in by_code.values():
        for column in COLUMNS[:15]:
            if column in free:
                continue
            text = re.sub(r"\([a-z0-9_]+:", "(", row[column])  # data item names are codes
            assert not latin.search(text), (row["信息资源代码"], column, row[column])


def test_csv_round_trip_gives_the_same_declaration(engine, catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "var"))
    declaration = tmp_path / "roster.yaml"
    declaration.write_text(PHYSICIANS, encoding="utf-8")
    first, second = tmp_path / "first", tmp_path / "second"
    write_imports(
        first,
        check_imports(catalog, read_declarations(declaration, catalog), "health"),
        "roster.yaml",
        None,
    )
    with_roster = load_catalog(None, first)
    tables.init_schema(engine, with_roster)

    exported = client_for(engine, with_roster).get(f"{CATALOG}.csv", params={"provider": "health"})
    file = tmp_path / "directory.csv"
    file.write_bytes(exported.content)
    monkeypatch.setenv("GDX_IMPORTS_DIR", str(second))
    fresh = configured_catalog()
    write_imports(
        second, check_imports(fresh, read_declarations(file, fresh), "health"), file.name, None
    )

    assert load_catalog(None, second).resource(CODE) == with_roster.resource(CODE)


def test_service_items_list_the_suppliers(api, catalog):
    items = api.get("/api/v1/service-items").json()["items"]
    assert [item["code"] for item in items] == sorted(catalog.service_items)
    transfer = api.get("/api/v1/service-items/000212017000").json()
    assert transfer["department"]["code"] == "human_resources"
    materials = {m["code"]: m for m in transfer["materials"]}
    assert materials["contribution_record"]["supplied_by"] == {
        "code": INSURANCE,
        "name_zh": "社会保险缴费信息",
        "share_type": "conditional",
        "provider": "human_resources",
    }
    assert materials["identity"]["fields"] == ["id_number", "name", "gender", "birth_date"]
    assert materials["transfer_form"]["supplied_by"] is None
    assert transfer["shared"] == 2
