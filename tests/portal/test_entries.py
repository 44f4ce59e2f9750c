"""The directory-entry pages: a department lists its own entries and imports more (a YAML
declaration or the compilation guide's CSV) with the checks of `gdx catalog import`, all or
nothing, every problem listed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.portal.conftest import csrf_of, shot, sign_in_as
from tests.portal.test_quarantine import portal_records
from warehouse import tables

CODE = "human_resources.skills_certificate"
SCRIPT = "<script>alert(1)</script>"
DECLARATION = f"""\
code: {CODE}
name_zh: 职业技能等级证书
name_en: Vocational skill certificates
summary: 每张职业技能等级证书一条记录。
classification: 主题信息资源/社会保障
grain: one row per certificate
key: certificate_no
provider: human_resources
share_type: unconditional
update_cycle: monthly
published_on: "2026-11-25"
related: [population.person]
fields:
  - {{name: certificate_no, label_zh: 证书编号, description: 证书编号, rules: [required]}}
  - {{name: id_number, label_zh: 公民身份号码, sensitivity: sensitive, description: 公民身份号码}}
  - {{name: level, label_zh: 等级, description: "等级"}}
"""
HEADER = (
    "信息资源分类,信息资源名称,信息资源代码,信息资源提供方,提供方代码,信息资源摘要,"
    "信息项信息,共享类型,共享条件,更新周期,发布日期,关联资源代码\n"
)
ITEMS = "证书编号(certificate_no:text:public)；公民身份号码(id_number:text:sensitive)"


def csv_row(code: str, provider: str = "11220000013544373G", cycle: str = "每月") -> str:
    return (
        f"主题信息资源/社会保障,技能证书,{code},,{provider},每张证书一条记录,{ITEMS},"
        f"无条件共享,,{cycle},2026/11/3,population.person\n"
    )


@pytest.fixture
def imports(portal, tmp_path, monkeypatch):
    """The hub's imports folder (that of the portal's catalog) is where imports go."""
    folder = tmp_path / "imports"
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GDX_IMPORTS_DIR", str(folder))
    return folder


def send(client, name: str, content: bytes, kind: str = "application/x-yaml"):
    page = client.get("/portal/entries")
    return client.post(
        "/portal/entries/import",
        data={"csrf": csrf_of(page.text)},
        files={"file": (name, content, kind)},
    )


def test_the_page_lists_the_departments_own_entries(portal, imports):
    page = portal.client("hr").get("/portal/entries")
    assert page.status_code == 200
    assert "<title>目录编制" in page.text
    assert 'href="/portal/directory/human_resources.insurance_payment"' in page.text
    assert "population.person" not in page.text  # public_security's
    ps = portal.client("ps").get("/portal/entries")
    assert "public_security.case_file" in ps.text and "部门导入" in ps.text
    assert portal.client("integrator").get("/portal/entries").status_code == 403


def test_a_yaml_declaration_is_imported_and_the_hub_sees_it(portal, imports):
    client = portal.client("hr")
    answer = send(client, "skills.yaml", DECLARATION.encode())
    assert answer.status_code == 200, answer.text
    assert f'href="/portal/directory/{CODE}"' in answer.text
    assert "重启" in answer.text  # the API serves it after a restart: the page says so
    assert (imports / f"{CODE}.yaml").is_file()
    assert CODE in portal.app.state.catalog.resources
    table = portal.app.state.catalog.resource(CODE).table_name
    assert sa.inspect(portal.engine).has_table(table) or any(
        table in name for name in sa.inspect(portal.engine).get_table_names()
    )
    logged = portal_records(portal, "entry_imported")
    assert logged[-1]["status"] == 200 and logged[-1]["keys"] == [CODE]
    # hr may now load its own resource through the quarantine page's pipeline
    assert CODE in client.get("/portal/quarantine").text


def test_a_directory_csv_is_imported(portal, imports):
    content = (HEADER + csv_row(CODE)).encode("gb18030")
    answer = send(portal.client("hr"), "目录.csv", content, "text/csv")
    assert answer.status_code == 200, answer.text
    assert CODE in portal.app.state.catalog.resources


def test_every_problem_is_listed_and_nothing_is_imported(portal, imports):
    rows = csv_row(CODE, cycle="每世纪") + csv_row("human_resources.other", provider="x")
    rows += csv_row("human_resources.fine")
    answer = send(portal.client("hr"), "bad.csv", (HEADER + rows).encode(), "text/csv")
    assert answer.status_code == 422, answer.text
    assert "row 2" in answer.text and "row 3" in answer.text
    assert "row 4" not in answer.text
    assert [path.name for path in imports.glob("*.yaml")] == ["public_security.case_file.yaml"]
    assert "human_resources.fine" not in portal.app.state.catalog.resources
    assert portal_records(portal, "entry_imported")[-1]["status"] == 422


def test_every_field_error_of_a_declaration_is_listed(portal, imports):
    broken = DECLARATION.replace("update_cycle: monthly", "update_cycle: fortnightly")
    broken = broken.replace("share_type: unconditional", "share_type: sometimes")
    answer = send(portal.client("hr"), "broken.yaml", broken.encode())
    assert answer.status_code == 422
    assert "update_cycle" in answer.text and "share_type" in answer.text


def test_another_departments_entry_is_refused(portal, imports):
    answer = send(portal.client("ps"), "skills.yaml", DECLARATION.encode())
    assert answer.status_code == 422
    assert "imports only its own resources" in answer.text
    assert CODE not in portal.app.state.catalog.resources


def test_a_packaged_resource_is_not_imported_over(portal, imports):
    packaged = DECLARATION.replace(CODE, "human_resources.insurance_payment")
    answer = send(portal.client("hr"), "payment.yaml", packaged.encode())
    assert answer.status_code == 422 and "packaged resource" in answer.text


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.yaml", b"", "empty"),
        ("image.yaml", b"\x89PNG\r\n\x1a\n" + bytes(32), "PNG"),
        ("notes.txt", b"code: x\n", ".yaml"),
        ("broken.yaml", b"code: [unclosed\n", "invalid YAML"),
        ("latin.yaml", b"code: caf\xe9\n", "not UTF-8"),
        (f"{SCRIPT}.yaml", b"- a list\n", "expected a mapping"),
    ],
)
def test_a_bad_file_is_refused_on_the_page(portal, imports, name, content, says):
    answer = send(portal.client("hr"), name, content)
    assert answer.status_code == 422, answer.text
    assert says in answer.text
    assert SCRIPT not in answer.text
    assert 'class="error-summary"' in answer.text
    assert portal_records(portal, "entry_imported")[-1]["status"] == 422


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_department_imports_an_entry_in_the_browser(portal, imports, page, tmp_path):
    declaration = tmp_path / "skills.yaml"
    declaration.write_text(DECLARATION, encoding="utf-8")
    sign_in_as(page, "hr")
    page.get_by_role("link", name="目录编制").first.click()
    page.get_by_role("heading", name="目录编制").wait_for()
    page.get_by_label("目录文件").set_input_files(declaration)
    page.get_by_role("button", name="导入").click()
    page.get_by_role("link", name="职业技能等级证书").wait_for()
    shot(page, "entries")
    assert tables.for_resource(portal.app.state.catalog.resource(CODE)) is not None
