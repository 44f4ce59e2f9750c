"""`gdx catalog import` and `gdx catalog list`: a department adds its own resources; every bad
declaration is one line, exit 1, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from catalog_schema import CatalogError, Resource, configured_catalog
from gdx.cli.main import app
from gdx.errors import GdxError
from gdx.pipeline import load_file
from runtime import settings
from services.app import create_app
from warehouse import consumers

CODE = "health.physician_roster"
PHYSICIANS = """\
# 执业医师名册 — the health commission's own resource
code: health.physician_roster
name_zh: 执业医师名册
name_en: Registered physicians
summary: 每名执业医师一条记录：执业类别和注册日期。
classification: 主题信息资源/卫生健康
grain: one row per physician
key: id_number
provider: health
share_type: unconditional
update_cycle: monthly
published_on: "2026-11-25"
related: [population.person]
fields:
  - {name: id_number, label_zh: 公民身份号码, sensitivity: sensitive, description: 公民身份号码,
     rules: [required]}
  - {name: name, label_zh: 姓名, description: 姓名}
  - {name: practice_category, label_zh: 执业类别, description: 执业类别}
  - {name: registered_on, label_zh: 注册日期, type: date, description: 注册日期,
     rules: [date_format]}
  - {name: years, label_zh: 执业年限, type: decimal, description: 执业年限, rules: [number_format]}
"""
HEADER = (
    "信息资源分类,信息资源名称,信息资源代码,信息资源提供方,提供方代码,信息资源摘要,"
    "信息项信息,共享类型,共享条件,更新周期,发布日期,关联资源代码\n"
)
ITEMS = "公民身份号码(id_number:text:sensitive)；姓名(name:text:public)；学校(school:text:public)"
TEACHERS = (
    f"主题信息资源/教育,教师资格名册,education.teacher,省教育厅,112200000135444459,"
    f"每名持证教师一条记录,{ITEMS},有条件共享,仅用于教师资格认定,每季度,2026/11/3,population.person\n"
)


@pytest.fixture
def home(tmp_path, monkeypatch, engine) -> Path:
    """GDX_HOME, an imports folder and the test warehouse for the command."""
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("GDX_IMPORTS_DIR", str(tmp_path / "imports"))
    monkeypatch.setenv("GDX_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return tmp_path


def gdx(*args: str):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_refused(result, *parts: str) -> None:
    """One line on stderr naming what is wrong, exit 1, nothing written."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    folder = settings.imports_dir()
    assert not folder.exists() or not any(folder.iterdir())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_import_yaml_is_listed_and_loadable(home, engine):
    result = gdx(
        "catalog", "import", write(home / "roster.yaml", PHYSICIANS), "--department", "health"
    )
    assert result.exit_code == 0, result.output
    assert f"imported {CODE}" in result.stdout
    assert "health_physician_roster" in sa.inspect(engine).get_table_names()
    catalog = configured_catalog()
    assert catalog.imported == {CODE}
    assert catalog.resource(CODE) == Resource.model_validate(yaml.safe_load(PHYSICIANS))

    rows = "公民身份号码,姓名,执业类别,注册日期,执业年限\n"
    rows += "11010519491231002X,张三,临床,2001-07-01,25\n110105194912310037,李四,中医,2010-3-9,16\n"
    summary = load_file(
        write(home / "roster.csv", rows), CODE, "health", engine=engine, catalog=catalog
    )
    assert (summary.status, summary.rows_loaded) == ("loaded", 2)
    # the provider writes its own resource; nobody else does
    refusal = r"transport may not write .*writers are health \(provider\)$"
    with pytest.raises(GdxError, match=refusal):
        load_file(home / "roster.csv", CODE, "transport", engine=engine, catalog=catalog)

    with engine.begin() as conn:
        _, key = consumers.add(conn, "approval", "government_services")
    client = TestClient(create_app(engine, catalog), headers={"X-API-Key": key})
    listed = client.get("/api/v1/catalog", params={"library": "departments"}).json()["items"]
    assert [item["code"] for item in listed] == [CODE, "human_resources.insurance_payment"]
    assert listed[0]["imported"] and listed[0]["provider"]["uscc"] == "11220000013544410N"

    listing = gdx("catalog", "list", "--json")
    rows = {row["code"]: row for row in json.loads(listing.stdout)}
    assert rows[CODE]["imported"] and rows[CODE]["library"] == "departments"
    assert not rows["population.person"]["imported"]
    assert CODE in gdx("catalog", "list").stdout


def test_reimport_replaces(home):
    path = write(home / "roster.yaml", PHYSICIANS)
    assert gdx("catalog", "import", path).exit_code == 0
    write(path, PHYSICIANS.replace("update_cycle: monthly", "update_cycle: weekly"))
    result = gdx("catalog", "import", path, "--department", "health")
    assert result.exit_code == 0 and f"replaced {CODE}" in result.stdout
    assert configured_catalog().resource(CODE).update_cycle == "weekly"
    assert [p.name for p in settings.imports_dir().iterdir()] == [f"{CODE}.yaml"]


def test_import_csv(home, engine):
    other = TEACHERS.replace("education.teacher", "education.school").replace("教师", "学校")
    result = gdx("catalog", "import", write(home / "t.csv", HEADER + TEACHERS + other))
    assert result.exit_code == 0, result.output
    catalog = configured_catalog()
    teacher = catalog.resource("education.teacher")
    assert (teacher.provider, teacher.share_type, teacher.update_cycle) == (
        "education",
        "conditional",
        "quarterly",
    )
    assert teacher.share_conditions == "仅用于教师资格认定"
    assert teacher.key == "id_number" and teacher.key_field.required
    assert teacher.published_on == "2026-11-03" and teacher.related == ["population.person"]
    assert [f.name for f in teacher.fields] == ["id_number", "name", "school"]
    assert catalog.imported == {"education.teacher", "education.school"}


@pytest.mark.parametrize(
    ("name", "text", "parts"),
    [
        (
            "unknown provider",
            PHYSICIANS.replace("provider: health", "provider: dentistry"),
            ["provider", "unknown department 'dentistry'"],
        ),
        (
            "base library",
            PHYSICIANS.replace("code: health.", "library: population\ncode: health."),
            ["library", "base libraries are not imported"],
        ),
        (
            "packaged code",
            PHYSICIANS.replace(CODE, "human_resources.insurance_payment").replace(
                "provider: health", "provider: human_resources"
            ),
            ["code", "packaged resource"],
        ),
        (
            "bad field type",
            PHYSICIANS.replace("type: decimal", "type: money"),
            ["fields[4].type", "'text', 'date' or 'decimal'"],
        ),
        (
            "missing key",
            PHYSICIANS.replace("key: id_number", "key: licence_no"),
            ["key 'licence_no' is not a declared field"],
        ),
        (
            "unknown related",
            PHYSICIANS.replace("[population.person]", "[population.people]"),
            ["related[0]", "unknown resource 'population.people'"],
        ),
        ("malformed YAML", PHYSICIANS.replace("fields:", "fields: [\n"), ["invalid YAML"]),
    ],
)
def test_bad_yaml_is_refused(home, name, text, parts):
    path = write(home / "roster.yaml", text)
    assert_refused(gdx("catalog", "import", path), str(path), *parts)


def test_department_imports_only_its_own(home):
    path = write(home / "roster.yaml", PHYSICIANS)
    result = gdx("catalog", "import", path, "--department", "education")
    assert_refused(result, "provider: health is not education")
    assert_refused(gdx("catalog", "import", path, "--department", "nobody"), "nobody")


@pytest.mark.parametrize(
    ("rows", "parts"),
    [
        (TEACHERS + TEACHERS, ["row 3", "education.teacher is declared again", "row 2"]),
        (TEACHERS.replace(ITEMS, ""), ["row 2", "信息项信息: required"]),
        (
            TEACHERS.replace("school:text:", "school:integer:"),
            ["row 2", "信息项信息 item 3 (school)", "type 'integer'"],
        ),
        (TEACHERS.replace("(name:text:public)", "(name:text)"), ["item 2", "姓名(name:text)"]),
        (TEACHERS.replace("112200000135444459", "12345"), ["row 2", "提供方代码", "'12345'"]),
        (TEACHERS.replace("有条件共享", "部分共享"), ["row 2", "共享类型", "'部分共享'"]),
        (TEACHERS.replace("2026/11/3", "soon"), ["row 2", "发布日期", "'soon'"]),
        (
            TEACHERS.replace("仅用于教师资格认定", ""),
            ["row 2", "共享条件: required for 有条件共享"],
        ),
        (TEACHERS.replace("education.teacher", "Teacher"), ["row 2", "信息资源代码: 'Teacher'"]),
        (TEACHERS.replace("population.person", "population.people"), ["row 2", "related"]),
        # the second row is good and the first is not: neither is written
        (TEACHERS.replace("education.teacher", "population.teacher") + TEACHERS, ["row 2"]),
    ],
)
def test_bad_csv_is_refused_whole(home, rows, parts):
    path = write(home / "t.csv", HEADER + rows)
    assert_refused(gdx("catalog", "import", path), str(path), *parts)


def test_csv_errors_name_the_header(home):
    path = write(home / "t.csv", HEADER.replace("信息项信息,", "") + TEACHERS)
    assert_refused(gdx("catalog", "import", path), "row 1", "missing column 信息项信息")
    path = write(home / "t.txt", "x")
    assert_refused(gdx("catalog", "import", path), "expected a .yaml, .yml or .csv file")
    assert_refused(gdx("catalog", "import", home / "none.yaml"), "none.yaml")


def test_a_file_name_is_never_pasted_into_the_stored_declaration(home):
    """A name with line breaks once wrote `library: credit` into the stored YAML (issue 16)."""
    name = "roster\nlibrary: credit\nmax_reject_ratio: 1\r\u2028\x85#.yaml"
    path = write(home / name, PHYSICIANS)
    result = gdx("catalog", "import", path, "--department", "health")
    assert result.exit_code == 0, result.output
    stored = settings.imports_dir() / f"{CODE}.yaml"
    text = stored.read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert len(comments) == 1 and "roster\\nlibrary: credit" in comments[0]
    data = yaml.safe_load(text)
    assert "library" not in data and "max_reject_ratio" not in data
    resource = configured_catalog().resource(CODE)
    assert resource.library is None and resource.max_reject_ratio == 0.2
    assert data == yaml.safe_load(PHYSICIANS) | {"fields": data["fields"]}


def test_an_imports_folder_entry_with_a_library_is_refused(home):
    """However it got there, a department's resource in the imports folder has no library."""
    folder = settings.imports_dir()
    folder.mkdir(parents=True)
    write(folder / f"{CODE}.yaml", PHYSICIANS + "library: credit\n")
    with pytest.raises(CatalogError, match=f"{CODE}.yaml: library: base libraries are not"):
        configured_catalog()


def test_the_import_still_refuses_a_base_library(home):
    result = gdx("catalog", "import", write(home / "r[a-z].yaml", PHYSICIANS + "library: credit\n"))
    assert_refused(result, "r[a-z].yaml: library: base libraries are not imported")
