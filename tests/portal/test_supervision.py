"""Supervision (效能监察) for hub administrators: the page's figures, its CSV downloads (the
same tables, the same filters), the filters' errors, refusals; and once in Chromium."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from tests.portal.conftest import shot, sign_in_as
from tests.services.conftest import LI, ZHANG
from tests.warehouse.test_supervision import (
    NOW,
    PAYMENT,
    PAYMENT_RECORD,
    PERSON,
    requests_in_known_states,
)
from warehouse.tables import audit_log

PAGE = "/portal/supervision"


class _Tables(HTMLParser):
    """The page's tables: {caption: [row of cell texts]} (body rows only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._in: str | None = None
        self._text = ""
        self._row: list[str] | None = None
        self._body = False

    def handle_starttag(self, tag, attrs):
        if tag in ("caption", "td"):
            self._in, self._text = tag, ""
        elif tag == "tbody":
            self._body = True
        elif tag == "tr" and self._body:
            self._row = []

    def handle_endtag(self, tag):
        if tag == "caption":
            self._caption = self._text.strip()
            self.tables[self._caption] = []
        elif tag == "td" and self._row is not None:
            self._row.append(self._text.strip())
        elif tag == "tr" and self._row is not None:
            self.tables[self._caption].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._body = False
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text += data


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def rows_of(answer) -> tuple[list[str], list[list[str]]]:
    """A CSV download's header and rows (checked: UTF-8 with a BOM, an attachment)."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    return rows[0], rows[1:]


@pytest.fixture
def known(portal, monkeypatch):
    """Access requests in known states, and the page's clock at NOW (2026-12-04 10:00)."""
    requests_in_known_states(portal.hub)
    monkeypatch.setattr("portal.routes.supervision._now", lambda: NOW)
    return portal


def test_the_page_shows_the_decisions_in_working_days(known):
    client = known.client("supervisor")
    answer = client.get(PAGE)
    assert answer.status_code == 200
    assert "<title>效能监察" in answer.text
    tables = tables_of(answer.text)
    assert tables["各部门共享申请审批情况"] == [
        # decided 3 (2, 4, 14 working days), median 4, 1 decided late, 1 pending overdue
        ["省人力资源和社会保障厅", PAYMENT, "3", "4", "1", "1"]
    ]
    assert "2026-11-05 — 2026-12-04" in answer.text  # the last 30 local days
    quarter = tables_of(client.get(PAGE, params={"days": "90"}).text)
    assert quarter["各部门共享申请审批情况"] == [
        ["省人力资源和社会保障厅", PAYMENT, "4", "3", "1", "1"]
    ]
    english = client.get(PAGE, params={"lang": "en"}).text
    assert "Median decision time (working days)" in english
    shown = tables_of(english)["Decisions on access requests per department"]
    hr = known.catalog.departments["human_resources"].name_en
    assert shown == [[hr, PAYMENT, "3", "4", "1", "1"]]


def test_each_csv_equals_its_table(known):
    client = known.client("supervisor")
    page = tables_of(client.get(PAGE).text)
    captions = {
        "freshness": "各部门数据源更新情况",
        "quality": "各资源质量校验通过率（全部已入库批次）",
        "requests": "各部门共享申请审批情况",
        "calls": "每日接口调用（本地日期）",
    }
    for name, caption in captions.items():
        header, rows = rows_of(client.get(f"{PAGE}/{name}.csv"))
        shown = [row for row in page[caption] if row != ["没有数据"]]
        assert rows == shown, name
    header, rows = rows_of(client.get(f"{PAGE}/requests.csv"))
    assert header == [
        "部门 Department",
        "资源 Resource",
        "已审批 Decided",
        "审批用时中位数（工作日） Median decision time (working days)",
        "超期审批 Decided after the deadline",
        "超期未审批 Pending past the deadline",
    ]
    answer = client.get(f"{PAGE}/requests.csv", params={"days": "7"})
    assert "supervision-requests-7d.csv" in answer.headers["content-disposition"]
    assert rows_of(answer)[1] == [["省人力资源和社会保障厅", PAYMENT, "0", "—", "0", "1"]]


def test_freshness_and_quality_with_the_department_filter(portal):
    client = portal.client("supervisor")
    answer = client.get(PAGE, params={"department": "human_resources"})
    assert answer.status_code == 200
    assert '<option value="human_resources" selected>省人力资源和社会保障厅</option>' in answer.text
    tables = tables_of(answer.text)
    fresh = tables["各部门数据源更新情况"]
    # the fixture's loads are manual (no source): both of its sources are late
    assert [row[2] for row in fresh] == ["human_resources.payments", "human_resources.insured"]
    assert [row[4:6] for row in fresh] == [["从未", "逾期"], ["从未", "逾期"]]
    assert '逾期数据源: <strong class="late">2</strong>' in answer.text
    quality = tables["各资源质量校验通过率（全部已入库批次）"]
    assert quality == [["省人力资源和社会保障厅", PAYMENT, "1", "0", "100.0%", "0"]]
    assert '<svg class="chart" role="img"' in answer.text
    header, rows = rows_of(
        client.get(f"{PAGE}/quality.csv", params={"department": "human_resources"})
    )
    assert rows == quality
    everyone = tables_of(client.get(PAGE).text)["各资源质量校验通过率（全部已入库批次）"]
    assert len(everyone) == len(portal.catalog.resources)
    assert ["省公安厅", "population.person", "4", "0", "100.0%", "0"] in everyone


def test_calls_and_denials_per_day(portal):
    approval = portal.hub.client("approval")
    assert approval.get(PERSON + ZHANG).status_code == 200
    assert portal.hub.client("approval", purpose=None).get(PERSON + LI).status_code == 400
    assert approval.get(PAYMENT_RECORD + LI).status_code == 403  # no grant
    client = portal.client("supervisor")
    answer = client.get(PAGE, params={"days": "7"})
    calls = tables_of(answer.text)["每日接口调用（本地日期）"]
    assert len(calls) == 7
    assert calls[-1][1:] == ["3", "2"]
    assert all(row[1:] == ["0", "0"] for row in calls[:-1])
    assert 'class="bar bad"' in answer.text  # today: calls denied
    header, rows = rows_of(client.get(f"{PAGE}/calls.csv", params={"days": "7"}))
    assert header == ["日期 Day", "调用次数 Calls", "被拒绝 Denied"] and rows == calls
    provider = tables_of(client.get(PAGE, params={"department": "human_resources"}).text)
    assert provider["每日接口调用（本地日期）"][-1][1:] == ["1", "1"]
    assert len(provider["每日接口调用（本地日期）"]) == 30


def test_a_value_a_spreadsheet_would_run_is_quoted(portal):
    departments = portal.catalog.departments
    departments["human_resources"] = departments["human_resources"].model_copy(
        update={"name_zh": '=HYPERLINK("http://evil.example","点击")'}
    )
    client = portal.client("supervisor")
    header, rows = rows_of(
        client.get(f"{PAGE}/quality.csv", params={"department": "human_resources"})
    )
    assert rows[0][0] == '\'=HYPERLINK("http://evil.example","点击")'
    page = client.get(PAGE, params={"department": "human_resources"}).text
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;点击&#34;)" in page


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"department": "nowhere"}, "department", "请选择列表中的部门。"),
        ({"days": "365"}, "days", "统计期间为近7天、30天或90天。"),
        ({"days": "x' OR 1=1"}, "days", "统计期间为近7天、30天或90天。"),
    ],
)
def test_a_bad_filter_is_shown_beside_its_field(portal, params, field, message):
    client = portal.client("supervisor")
    answer = client.get(PAGE, params=params)
    assert answer.status_code == 422
    assert f'<a href="#{field}">{message}</a>' in answer.text  # the summary
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in answer.text
    download = client.get(f"{PAGE}/calls.csv", params=params)
    assert download.status_code == 422 and "text/html" in download.headers["content-type"]


def test_an_unknown_table_is_not_found(portal):
    answer = portal.client("supervisor").get(f"{PAGE}/people.csv")
    assert answer.status_code == 404 and "页面不存在" in answer.text


@pytest.mark.parametrize("username", ["hr", "integrator"])
def test_only_hub_administrators_see_supervision(portal, username):
    client = portal.client(username)
    for path in (PAGE, f"{PAGE}/requests.csv"):
        answer = client.get(path)
        assert answer.status_code == 403 and "没有权限" in answer.text
    with portal.engine.connect() as conn:
        refused = (
            conn.execute(
                sa.select(audit_log.c.path)
                .where(audit_log.c.action == "forbidden", audit_log.c.person == username)
                .order_by(audit_log.c.seq)
            )
            .scalars()
            .all()
        )
    assert refused == [PAGE, f"{PAGE}/requests.csv"]
    assert portal.client().get(PAGE).headers["location"].startswith("/portal/sign-in?next=")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_supervision_in_the_browser(page, known):
    sign_in_as(page, "supervisor")
    page.get_by_role("link", name="效能监察").first.click()
    page.get_by_role("heading", name="效能监察").wait_for()
    page.get_by_label("统计期间").select_option("90")
    page.get_by_role("button", name="筛选").click()
    page.get_by_role("img", name="各资源质量校验通过率（低于95%标为红色）").wait_for()
    shot(page, "supervision")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载CSV: 各部门共享申请审批情况").click()
    assert download.value.suggested_filename == "supervision-requests-90d.csv"
    content = open(download.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0][0] == "部门 Department"
    assert rows[1][:3] == ["省人力资源和社会保障厅", PAYMENT, "4"]
