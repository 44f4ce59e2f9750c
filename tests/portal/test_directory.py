"""The directory (资源目录) in the portal: search and filters, freshness and quality, a resource's
page, the downloads (the API's exports), escaping, and two walks in Chromium."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from catalog_schema import load_catalog
from gdx.pipeline import load_file
from gdx.web import create_app
from tests.portal.conftest import shot, sign_in, sign_in_as
from tests.services.conftest import CASE_FILE, LI, SECRETS, ZHANG, write_csv
from warehouse.tables import batch_ledger

PAYMENTS = "human_resources.insurance_payment"
LINK = re.compile(r'href="/portal/directory/([a-z_.]+)"')


def listed(html: str) -> list[str]:
    """The resources a directory page lists (in its order)."""
    return LINK.findall(html)


# --- search and filters --------------------------------------------------------------------------


def test_the_directory_lists_every_resource_with_its_count(portal):
    page = portal.client("hr").get("/portal/directory")
    assert page.status_code == 200
    assert "<title>资源目录 —" in page.text
    assert listed(page.text) == sorted(portal.catalog.resources)
    assert "共找到 6 个资源" in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_the_directory_needs_a_signed_in_person(portal):
    answer = portal.client().get("/portal/directory?q=x")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/portal/sign-in?next=/portal/directory")


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("社会保险", [PAYMENTS]),  # a zh name
        ("参保险种", [PAYMENTS]),  # a data item's zh label
        ("CONTRIBUTIONS", [PAYMENTS]),  # an en name, any case
        ("months_paid", [PAYMENTS]),  # a data item's name
        ("licence", ["e_licence.licence"]),
        ("Case files of the police", [SECRETS]),  # the summary
    ],
)
def test_search_in_chinese_or_english(portal, q, found):
    page = portal.client("integrator").get("/portal/directory", params={"q": q})
    assert page.status_code == 200
    assert listed(page.text) == found
    assert f"共找到 {len(found)} 个资源" in page.text
    assert f'name="q" value="{q}"' in page.text  # the search is kept in its field


def test_an_empty_search_says_so(portal):
    page = portal.client("hr").get("/portal/directory", params={"q": "不存在的资源xyz"})
    assert page.status_code == 200
    assert listed(page.text) == []
    assert "没有符合条件的资源" in page.text
    english = portal.client("hr").get("/portal/directory", params={"q": "nothing", "lang": "en"})
    assert "No resource matches" in english.text


@pytest.mark.parametrize(
    ("name", "value", "found"),
    [
        ("library", "credit", ["credit.record"]),
        ("library", "departments", [PAYMENTS, SECRETS]),
        ("provider", "human_resources", [PAYMENTS]),
        ("share_type", "not_shared", [SECRETS]),
        ("share_type", "conditional", [PAYMENTS]),
        ("update_cycle", "monthly", [PAYMENTS]),
        ("open_attribute", "conditional_open", ["legal_entity.organization"]),
        ("open_attribute", "open", ["credit.record"]),
    ],
)
def test_each_filter_narrows_the_list_and_keeps_its_choice(portal, name, value, found):
    page = portal.client("hr").get("/portal/directory", params={name: value})
    assert page.status_code == 200
    assert listed(page.text) == found
    assert f'<label for="{name}">' in page.text
    select = page.text.split(f'<select id="{name}"')[1].split("</select>")[0]
    assert f'<option value="{value}" selected>' in select
    assert select.count(" selected") == 1


def test_filters_and_search_combine(portal):
    client = portal.client("hr")
    page = client.get("/portal/directory", params={"q": "信息", "library": "population"})
    assert listed(page.text) == ["population.person"]
    page = client.get("/portal/directory", params={"q": "licence", "share_type": "not_shared"})
    assert listed(page.text) == []


def test_a_value_not_in_the_list_is_a_clear_error(portal):
    page = portal.client("hr").get(
        "/portal/directory", params={"library": "<b>x</b>", "share_type": "maybe"}
    )
    assert page.status_code == 422
    assert 'class="error-summary"' in page.text
    assert '<a href="#library">' in page.text and '<a href="#share_type">' in page.text
    assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text
    assert listed(page.text) == []


# --- freshness and quality -----------------------------------------------------------------------


def _from_sources(portal) -> None:
    """The hub's batches as the declared sources delivered them (freshness is per source)."""
    with portal.engine.begin() as conn:
        for code, source in portal.catalog.sources.items():
            conn.execute(
                sa.update(batch_ledger)
                .where(
                    batch_ledger.c.resource == source.resource,
                    batch_ledger.c.department == source.department,
                )
                .values(source=code)
            )


def _age(portal, resource: str, days: int) -> None:
    """Every committed batch of `resource` finished `days` ago."""
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    with portal.engine.begin() as conn:
        conn.execute(
            sa.update(batch_ledger)
            .where(batch_ledger.c.resource == resource)
            .values(started_at=long_ago, finished_at=long_ago)
        )


def _row(html: str, code: str) -> str:
    return html.split(f'href="/portal/directory/{code}"')[1].split("</tr>")[0]


def test_a_resource_older_than_its_cycle_allows_is_late_in_red(portal):
    _from_sources(portal)
    _age(portal, PAYMENTS, 40)  # monthly: late after 1.5 × 31 days
    _age(portal, "credit.record", 2)  # daily: late after 36 hours
    page = portal.client("hr").get("/portal/directory").text
    assert 'class="late"' not in _row(page, PAYMENTS)
    assert 'class="ok"' in _row(page, PAYMENTS)
    assert '<span class="late">逾期未更新</span>' in _row(page, "credit.record")
    assert 'class="ok"' in _row(page, "population.person")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d \+0800", _row(page, "population.person"))
    _age(portal, PAYMENTS, 50)
    page = portal.client("hr").get("/portal/directory", params={"lang": "en"}).text
    assert '<span class="late">Late</span>' in _row(page, PAYMENTS)
    resource = portal.client("hr").get(f"/portal/directory/{PAYMENTS}").text
    assert '<span class="late">逾期未更新</span>' in resource


def _bad_batch(portal, tmp_path) -> None:
    """A delivery of population.person with one good row and one the rules reject."""
    path = write_csv(
        tmp_path / "more-people.csv",
        [
            {"id_number": ZHANG, "name": "张三", "gender": "女", "birth_date": "1949-12-31"},
            {"id_number": "12345", "name": "错号", "gender": "男", "birth_date": "1990-01-01"},
        ],
    )
    summary = load_file(
        path, "population.person", "public_security", engine=portal.engine, catalog=portal.catalog
    )
    assert summary.rows_quarantined == 1, summary.as_dict()


def test_the_pass_rate_of_each_resource_is_shown(portal, tmp_path):
    _bad_batch(portal, tmp_path)  # 3 + 1 + 2 rows read, 1 rejected
    page = portal.client("hr").get("/portal/directory").text
    assert ">83.3%</td>" in _row(page, "population.person")
    assert ">100.0%</td>" in _row(page, PAYMENTS)


def test_the_resource_page_charts_the_pass_rate_of_recent_batches(portal, tmp_path):
    _bad_batch(portal, tmp_path)
    page = portal.client("hr").get("/portal/directory/population.person").text
    assert '<svg class="chart" role="img" aria-label="最近批次的质量合格率"' in page
    assert page.count('<rect class="bar bad"') == 1  # the batch with a rejected row
    assert ": 50%</title>" in page and ": 100%</title>" in page
    assert '<td class="num bad">50.0%</td>' in page  # the table gives the same figures
    assert "<dd>83.3%</dd>" in page  # over every batch
    assert "公安" in page  # the delivering department


# --- one resource --------------------------------------------------------------------------------


def test_the_resource_page_shows_what_the_directory_declares(portal):
    resource = portal.catalog.resource(PAYMENTS)
    page = portal.client("hr").get(f"/portal/directory/{PAYMENTS}")
    assert page.status_code == 200
    text = page.text
    assert "<title>社会保险缴费信息 Social insurance contributions — 资源目录" in text
    for spec in resource.fields:
        assert f"<td>{spec.label_zh}" in text and f"<code>{spec.name}</code>" in text
    assert "<td>敏感</td>" in text and "<td>字符型</td>" in text
    assert "有条件共享" in text and resource.share_conditions in text
    assert resource.share_channel in text and "每月" in text and "不予开放" in text
    assert resource.published_on in text and resource.grain in text
    assert f"<dd><code>{resource.key}</code></dd>" in text
    for other in resource.related:
        assert f'<a href="/portal/directory/{other}">' in text
    assert "<dt>记录数</dt><dd>1</dd>" in text
    # how to call it: the endpoints and a curl with a real service item
    assert f"/api/v1/resources/{PAYMENTS}/records/{{id_number}}" in text
    curl = re.search(r"curl -H 'X-API-Key: YOUR_API_KEY' -H 'X-Purpose: (\d+)'", text)
    assert curl, text
    item = portal.catalog.service_items[curl.group(1)]
    assert any(material.resource == PAYMENTS for material in item.materials)
    assert f"http://testserver/api/v1/resources/{PAYMENTS}/records/ID_NUMBER" in text


def test_an_integrator_may_apply_for_a_conditional_resource(portal):
    apply = f'href="/portal/requests/new?resource={PAYMENTS}"'
    assert apply in portal.client("integrator").get(f"/portal/directory/{PAYMENTS}").text
    assert (
        "申请使用 Apply for access"
        in portal.client("integrator").get(f"/portal/directory/{PAYMENTS}").text
    )
    assert apply not in portal.client("hr").get(f"/portal/directory/{PAYMENTS}").text
    unconditional = portal.client("integrator").get("/portal/directory/population.person").text
    assert "/portal/requests/new" not in unconditional


def test_a_resource_not_shared_has_no_endpoint(portal):
    page = portal.client("ps").get(f"/portal/directory/{SECRETS}").text
    assert "该资源不予共享，没有调用接口。" in page
    assert "curl" not in page


def test_an_unknown_resource_is_a_404_page(portal):
    page = portal.client("hr").get("/portal/directory/nothing.here")
    assert page.status_code == 404
    assert "<title>资源不存在 No such resource" in page.text
    assert "nothing.here" in page.text and "Traceback" not in page.text
    long = portal.client("hr").get("/portal/directory/" + "x" * 200)
    assert long.status_code == 404 and "x" * 81 not in long.text
    assert long.headers["content-type"].startswith("text/html")


# --- downloads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters", [{}, {"library": "credit"}, {"q": "保险", "update_cycle": "monthly"}]
)
def test_the_downloads_are_the_apis_exports_with_the_filters(portal, filters):
    client, api = portal.client("hr"), portal.hub.client()
    csv = client.get("/portal/directory.csv", params=filters)
    assert csv.status_code == 200
    assert csv.headers["content-disposition"] == 'attachment; filename="directory.csv"'
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in csv.headers
    api_filters = {k: v for k, v in filters.items() if k != "update_cycle"}
    expected = api.get("/api/v1/catalog.csv", params=api_filters).content
    if "update_cycle" not in filters:
        assert csv.content == expected
    assert csv.content.startswith("\ufeff".encode())
    jsonld = client.get("/portal/directory.jsonld", params=filters)
    assert jsonld.status_code == 200
    assert jsonld.headers["content-disposition"] == 'attachment; filename="directory.jsonld"'
    assert jsonld.headers["content-type"] == "application/ld+json"
    assert "Content-Security-Policy" in jsonld.headers
    if "update_cycle" not in filters:
        assert jsonld.content == api.get("/api/v1/catalog.jsonld", params=api_filters).content
    else:  # a filter the API has not: only the monthly resource
        datasets = jsonld.json()["dcat:dataset"]
        assert [d["dct:identifier"] for d in datasets] == [PAYMENTS]
        assert csv.content.decode("utf-8-sig").count(PAYMENTS) == 1


def test_a_download_with_a_wrong_filter_is_refused_on_a_page(portal):
    answer = portal.client("hr").get("/portal/directory.csv", params={"provider": "nobody"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")


# --- escaping ------------------------------------------------------------------------------------


def test_declared_text_is_escaped(portal, tmp_path):
    imports = tmp_path / "hostile"
    imports.mkdir()
    hostile = {
        **CASE_FILE,
        "summary": "<script>alert('summary')</script>",
        "share_conditions": "<img src=x onerror=alert(1)>",
        "fields": [
            {**CASE_FILE["fields"][0], "label_zh": "<b>案件编号</b>"},
            CASE_FILE["fields"][1],
        ],
    }
    (imports / f"{SECRETS}.yaml").write_text(yaml.safe_dump(hostile, allow_unicode=True), "utf-8")
    client = TestClient(create_app(portal.engine, load_catalog(None, imports)))
    client.follow_redirects = False
    sign_in(client, "ps")
    found = client.get("/portal/directory?q=script")
    assert listed(found.text) == [SECRETS] and "<script>" not in found.text
    page = client.get(f"/portal/directory/{SECRETS}").text
    assert "<script>" not in page and "&lt;script&gt;alert(&#39;summary&#39;)" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>案件编号</b>" not in page and "&lt;b&gt;案件编号&lt;/b&gt;" in page
    assert listed(client.get("/portal/directory?q=案件编号").text) == [SECRETS]


# --- in Chromium ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_person_searches_filters_and_opens_a_resource(page, portal):
    _from_sources(portal)
    sign_in_as(page, "integrator")
    page.get_by_role("navigation").get_by_role("link", name="资源目录").click()
    page.get_by_label("关键词").fill("社会")
    page.get_by_role("button", name="查找").click()
    expect(page.get_by_role("link", name="社会信用信息")).to_be_visible()
    expect(page.get_by_role("link", name="社会保险缴费信息")).to_be_visible()
    page.get_by_label("共享类型").select_option(label="有条件共享")
    page.get_by_role("button", name="查找").click()
    expect(page.get_by_text("共找到 1 个资源")).to_be_visible()
    expect(page.get_by_role("link", name="社会信用信息")).to_have_count(0)
    assert page.get_by_label("关键词").input_value() == "社会"
    assert page.get_by_label("共享类型").input_value() == "conditional"
    shot(page, "directory")
    page.get_by_role("link", name="社会保险缴费信息").click()
    page.wait_for_url(f"**/portal/directory/{PAYMENTS}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("社会保险缴费信息")
    expect(page.get_by_role("img", name="最近批次的质量合格率")).to_be_visible()
    expect(page.get_by_role("link", name="申请使用 Apply for access")).to_be_visible()
    expect(page.get_by_text("X-Purpose: ")).to_be_visible()
    shot(page, "resource")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_person_downloads_the_filtered_directory(page, portal):
    sign_in_as(page, "hr")
    page.goto("/portal/directory")
    page.get_by_label("基础库").select_option(label="人口基础信息库")
    page.get_by_role("button", name="查找").click()
    expect(page.get_by_text("共找到 1 个资源")).to_be_visible()
    expect(page.get_by_role("link", name="人口基础信息")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="编制指南格式 CSV").click()
    assert download.value.suggested_filename == "directory.csv"
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert "人口基础信息" in text and "社会保险缴费信息" not in text
    assert LI not in text  # the directory, never the data
