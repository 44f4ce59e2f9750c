"""The quarantine pages: a department sees its rejected rows with the reasons, downloads the fix
file, uploads the fixed file as a batch of its own; bad uploads change nothing."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from gdx.pipeline import load_file
from tests.portal.conftest import csrf_of, shot, sign_in_as
from tests.services.conftest import write_csv
from warehouse import records, tables
from warehouse.tables import for_resource

PERSON = "population.person"
BAD_ID = "22010219900307123X"  # a citizen ID whose check digit is wrong
GOOD_ID = "220102200001010012"
OTHER_ID = "220102200001010039"
SCRIPT = "<script>alert(1)</script>"
HEADER = ["id_number", "name", "gender", "birth_date", "ethnicity", "household_address"]


def person_row(id_number: str, name: str = "赵六") -> dict:
    return {
        "id_number": id_number,
        "name": name,
        "gender": "男",
        "birth_date": "2000-01-01",
        "ethnicity": "汉族",
        "household_address": "长春市朝阳区西安大路3号",
    }


@pytest.fixture
def quarantined(portal, tmp_path, monkeypatch):
    """public_security delivered a row with a wrong citizen ID (and a script in a name)."""
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "home"))
    path = write_csv(
        tmp_path / "ps-bad.csv",
        [person_row(OTHER_ID, "钱七"), person_row(BAD_ID, SCRIPT)],
    )
    summary = load_file(
        path, PERSON, "public_security", engine=portal.engine, catalog=portal.catalog
    )
    assert summary.rows_quarantined == 1, summary.as_dict()
    return summary


def waiting(portal, department="public_security") -> int:
    q = for_resource(portal.catalog.resource(PERSON)).quarantine
    with portal.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(q)
            .where(q.c.department == department, q.c.retried_in.is_(None))
            .where(q.c.superseded_by.is_(None))
        ).scalar_one()


def portal_records(portal, action: str) -> list[dict]:
    """The audit log's records of a portal action, oldest first."""
    log = tables.audit_log
    with portal.engine.connect() as conn:
        found = conn.execute(sa.select(log).where(log.c.action == action).order_by(log.c.seq))
        return [dict(row._mapping) for row in found]


def upload(client, code: str, name: str, content: bytes, kind: str = "text/csv"):
    """Post a file through the resource's upload form (its token and hidden fields)."""
    page = client.get("/portal/quarantine")
    form = re.search(
        rf'action="/portal/quarantine/{re.escape(code)}/upload".*?name="through" value="([^"]*)"',
        page.text,
        re.DOTALL,
    )
    through = form.group(1) if form else ""
    return client.post(
        f"/portal/quarantine/{code}/upload",
        data={"csrf": csrf_of(page.text), "through": through},
        files={"file": (name, content, kind)},
    )


def test_the_page_lists_the_departments_rows_with_every_reason(portal, quarantined):
    page = portal.client("ps").get("/portal/quarantine")
    assert page.status_code == 200, page.text
    assert "<title>问题数据" in page.text
    assert BAD_ID in page.text
    assert "公民身份号码" in page.text  # the reason in words (zh)
    assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "等待修正：<strong>1</strong>" in page.text
    english = portal.client("ps").get("/portal/quarantine?lang=en")
    assert "id_number should be" in english.text


def test_another_department_sees_none_of_those_rows(portal, quarantined):
    page = portal.client("hr").get("/portal/quarantine")
    assert page.status_code == 200
    assert BAD_ID not in page.text  # hr delivers population.person too, but sent no bad row


def test_an_integrator_may_not_see_the_quarantine(portal, quarantined):
    assert portal.client("integrator").get("/portal/quarantine").status_code == 403


def test_the_fix_file_is_the_export_of_the_departments_rows(portal, quarantined):
    answer = portal.client("ps").get(f"/portal/quarantine/{PERSON}/fix.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")  # utf-8-sig, as `gdx quarantine export`
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["行号 line", *HEADER, "问题说明", "problems"]
    assert len(rows) == 2 and rows[1][1] == BAD_ID
    other = portal.client("hr").get(f"/portal/quarantine/{PERSON}/fix.csv")
    assert BAD_ID.encode() not in other.content


def test_a_resource_the_department_does_not_deliver_is_refused(portal, quarantined):
    client = portal.client("ps")
    code = "human_resources.insurance_payment"
    assert client.get(f"/portal/quarantine/{code}/fix.csv").status_code == 403
    answer = upload(client, code, "x.csv", b"id_number\n1\n")
    assert answer.status_code == 403
    assert "no source" in answer.text
    assert client.get("/portal/quarantine/no.such/fix.csv").status_code == 404


def test_uploading_the_fixed_file_loads_it_and_the_row_leaves_the_quarantine(portal, quarantined):
    client = portal.client("ps")
    fixed = client.get(f"/portal/quarantine/{PERSON}/fix.csv").content.decode("utf-8-sig")
    fixed = fixed.replace(BAD_ID, GOOD_ID)
    name = '<img src=x onerror="alert(1)">.csv'
    answer = upload(client, PERSON, name, fixed.encode("utf-8-sig"))
    assert answer.status_code == 200, answer.text
    assert "<title>上传结果" in answer.text
    assert name not in answer.text and "&lt;img src=x" in answer.text
    assert waiting(portal) == 0
    resource = portal.catalog.resource(PERSON)
    with portal.engine.connect() as conn:
        assert records.by_key(conn, resource, GOOD_ID) is not None
        ledger = tables.batch_ledger
        batch = conn.execute(
            sa.select(ledger.c.batch_id).order_by(ledger.c.started_at.desc()).limit(1)
        ).scalar_one()
    assert batch in answer.text
    logged = portal_records(portal, "file_uploaded")
    assert logged[-1]["status"] == 200 and batch in logged[-1]["keys"]
    assert "等待修正：<strong>" not in client.get("/portal/quarantine").text


def test_a_gbk_csv_and_an_xlsx_are_read(portal, quarantined):
    client = portal.client("ps")
    text = ",".join(HEADER) + "\n" + ",".join(person_row(GOOD_ID, "孙八").values()) + "\n"
    assert upload(client, PERSON, "gbk.csv", text.encode("gbk")).status_code == 200
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(list(person_row(BAD_ID, "周九").values()))
    buffer = io.BytesIO()
    book.save(buffer)
    answer = upload(client, PERSON, "book.xlsx", buffer.getvalue(), "application/octet-stream")
    assert answer.status_code == 200, answer.text
    assert "仍未通过校验的行" in answer.text and "周九" in answer.text


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "PNG"),
        ("archive.xlsx", _zip(), "zip"),
        ("empty.csv", b"", "empty"),
        ("binary.csv", bytes(range(256)) * 4, "binary"),
        ("latin.csv", b"id_number,name\n1," + bytes([0xFF, 0xFE, 0x80]) * 30, "encoding"),
        ("header.csv", "编号,姓名\n1,张三\n".encode(), "required column"),
    ],
)
def test_a_bad_upload_is_refused_on_the_page_and_changes_nothing(
    portal, quarantined, name, content, says
):
    client = portal.client("ps")
    with portal.engine.connect() as conn:
        before = conn.execute(
            sa.text("select count(*) from batch_ledger where status = 'loaded'")
        ).scalar_one()
    answer = upload(client, PERSON, name, content)
    assert answer.status_code == 422, answer.text
    assert says in answer.text
    assert 'class="error-summary"' in answer.text
    assert waiting(portal) == 1
    with portal.engine.connect() as conn:
        after = conn.execute(
            sa.text("select count(*) from batch_ledger where status = 'loaded'")
        ).scalar_one()
    assert after == before
    refused = portal_records(portal, "file_uploaded")
    assert refused[-1]["status"] == 422


def test_an_upload_without_a_file_or_a_token_is_refused(portal, quarantined):
    client = portal.client("ps")
    page = client.get("/portal/quarantine")
    answer = client.post(f"/portal/quarantine/{PERSON}/upload", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 422
    answer = client.post(
        f"/portal/quarantine/{PERSON}/upload",
        data={"csrf": "stale"},
        files={"file": ("a.csv", b"id_number\n1\n", "text/csv")},
    )
    assert answer.status_code == 403


def test_a_too_large_upload_gets_a_page_naming_the_limit(portal, quarantined, monkeypatch):
    monkeypatch.setenv("GDX_PORTAL_UPLOAD_MB", "2")
    from gdx.web import create_app

    app = create_app(portal.engine, portal.catalog)
    from fastapi.testclient import TestClient

    from tests.portal.conftest import sign_in

    client = TestClient(app, follow_redirects=False)
    sign_in(client, "ps")
    page = client.get("/portal/quarantine")
    big = b"id_number\n" + b"1" * (2 << 20) + b"\n"
    answer = client.post(
        f"/portal/quarantine/{PERSON}/upload",
        data={"csrf": csrf_of(page.text)},
        files={"file": ("big.csv", big, "text/csv")},
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "2 MB" in answer.text and "GDX_PORTAL_UPLOAD_MB" in answer.text
    assert waiting(portal) == 1
    # 1.5 MB: over the 1 MiB of other bodies, within the upload limit (refused as no CSV)
    answer = upload(client, PERSON, "mid.csv", b"\x89PNG" + bytes(3 << 19))
    assert answer.status_code == 422 and "PNG" in answer.text
    # another portal path keeps the 1 MiB limit (as a page); the API's paths, problem+json
    other = client.post("/portal/sign-out", content=b"x" * ((1 << 20) + 1))
    assert other.status_code == 413 and other.headers["content-type"].startswith("text/html")
    api = client.post("/access-requests", content=b"x" * ((1 << 20) + 1))
    assert api.status_code == 413
    assert api.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_department_fixes_its_rows_in_the_browser(portal, quarantined, page, tmp_path):
    sign_in_as(page, "ps")
    page.get_by_role("link", name="问题数据").first.click()
    page.get_by_role("heading", name="问题数据").wait_for()
    shot(page, "quarantine")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载修正文件").click()
    fixed = tmp_path / "fixed.csv"
    download.value.save_as(fixed)
    text = fixed.read_text(encoding="utf-8-sig").replace(BAD_ID, GOOD_ID)
    fixed.write_text(text, encoding="utf-8-sig")
    page.get_by_label("上传修正后的文件（population.person）").set_input_files(fixed)
    page.get_by_role("button", name="上传并入库").first.click()
    page.get_by_role("heading", name="上传结果").wait_for()
    loaded = page.get_by_role("table").first.get_by_role("cell").nth(1)
    assert loaded.inner_text() == "1"
    shot(page, "upload-result")
    resource = portal.catalog.resource(PERSON)
    with portal.engine.connect() as conn:
        assert records.by_key(conn, resource, GOOD_ID) is not None
