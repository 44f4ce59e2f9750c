"""The declarations load, and a malformed one fails with file, path and reason in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from catalog_schema import CatalogError, load_catalog
from catalog_schema.catalog import DEFAULT_DIR
from catalog_schema.headers import HeaderError, map_headers

BASE_FIELDS = [
    "id_number",
    "name",
    "gender",
    "birth_date",
    "ethnicity",
    "household_address",
    "phone",
    "marital_status",
    "death_date",
    "insured_status",
    "employer_uscc",
]


STANDARD_ITEMS = {
    "legal_entity.organization": (
        "uscc",
        "uscc name org_type legal_rep_name legal_rep_id registered_capital established_on "
        "address status industry_code registration_authority",
    ),
    "e_licence.licence": (
        "licence_id",
        "licence_id licence_type_code licence_type_name licence_no holder_type holder_id "
        "holder_name issuer_name issuer_code issued_on valid_from valid_until status",
    ),
    "credit.record": (
        "record_id",
        "record_id subject_type subject_id subject_name category content authority decided_on "
        "valid_until status",
    ),
}


@pytest.mark.parametrize("code", sorted(STANDARD_ITEMS))
def test_the_other_base_libraries_declare_their_standard_items(catalog, code):
    key, fields = STANDARD_ITEMS[code]
    resource = catalog.resource(code)
    assert resource.key == key
    assert [f.name for f in resource.fields][: len(fields.split())] == fields.split()
    assert all(f.description and f.label_zh for f in resource.fields)


def test_base_library_details(catalog):
    entity = catalog.resource("legal_entity.organization")
    assert entity.field("legal_rep_id").sensitivity == "secret"
    assert entity.field("uscc").aliases == ["信用代码"]
    licence = catalog.resource("e_licence.licence")
    assert len(licence.field("licence_type_code").values) >= 5
    assert [(r.name, r.arg) for r in licence.field("holder_id").rules] == [
        ("required", None),
        ("subject_id", "holder_type"),
    ]
    credit = catalog.resource("credit.record")
    assert "失信被执行人" in credit.field("category").values


def test_department_codes_are_valid_usccs(catalog):
    import pyarrow as pa

    from quality import uscc

    codes = pa.array([d.uscc for d in catalog.departments.values()])
    assert uscc.is_valid(uscc.normalize(codes)).all()


def test_population_person_declares_the_standard_items(catalog):
    person = catalog.resource("population.person")
    assert [f.name for f in person.fields] == BASE_FIELDS
    assert person.key == "id_number"
    assert person.share_type == "unconditional"
    assert person.update_cycle == "daily"
    assert person.provider == "public_security"
    id_number = person.field("id_number")
    assert id_number.label_zh == "公民身份号码"
    assert id_number.aliases == ["身份证号", "身份证号码", "证件号码"]
    assert id_number.sensitivity == "sensitive"
    assert [r.name for r in id_number.rules] == ["required", "citizen_id"]
    assert person.field("household_address").aliases == ["户籍所在地"]
    assert person.field("marital_status").values == ["未婚", "已婚", "离婚", "丧偶"]
    assert all(f.description for f in person.fields)


def test_the_registered_public_security_source(catalog):
    source = catalog.source("public_security.population")
    assert source.department == "public_security"
    assert source.resource == "population.person"
    assert source.kind == "csv"
    assert source.options.path == "public_security/population.csv"


@pytest.fixture
def broken(tmp_path):
    """A copy of the packaged catalog, to break one piece at a time."""
    target = tmp_path / "catalog"
    shutil.copytree(DEFAULT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


PERSON = Path("resources/population.person.yaml")


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        (
            PERSON,
            lambda d: d["fields"][2].update(sensitivity="hush"),
            "fields[2].sensitivity: Input should be",
        ),
        (PERSON, lambda d: d["fields"][0]["rules"].append("psychic"), "unknown rule 'psychic'"),
        (PERSON, lambda d: d.update(key="nope"), "key 'nope' is not a declared field"),
        (PERSON, lambda d: d.pop("share_type"), "share_type: Field required"),
        (PERSON, lambda d: d["fields"][3]["rules"].append({"not_before": "x"}), "argument 'x'"),
        (PERSON, lambda d: d.update(provider="tax"), "provider: unknown department 'tax'"),
        (PERSON, lambda d: d["fields"][1].update(aliases=["身份证号"]), "names both"),
        (
            Path("sources.yaml"),
            lambda d: d["sources"][0].update(resource="x.y"),
            "unknown resource",
        ),
        (
            Path("sources.yaml"),
            lambda d: d["sources"][0]["fields"].remove("id_number"),
            "must include the key",
        ),
        (PERSON, lambda d: d.update(priority=["tax"]), "priority: unknown department 'tax'"),
        (
            PERSON,
            lambda d: d["fields"][6].update(priority=["nobody"]),
            "fields[6].priority: unknown department 'nobody'",
        ),
        (
            PERSON,
            lambda d: d.update(ended_by=[{"field": "dead"}]),
            "ended_by[0]: 'dead' is not a declared field",
        ),
        (
            Path("sources.yaml"),
            lambda d: next(s for s in d["sources"] if s["code"] == "education.licences").update(
                full_snapshot=True
            ),
            "a drop_folder source read incrementally cannot be a full snapshot",
        ),
        (
            Path("sources.yaml"),
            lambda d: d["sources"].append(
                dict(d["sources"][0], code="public_security.extra", full_snapshot=False)
            ),
            "public_security has other sources for population.person (public_security.extra)",
        ),
        (
            PERSON,
            lambda d: d.update(published_on="21/11/2026"),
            "published_on: '21/11/2026' is not a date (YYYY-MM-DD)",
        ),
        (PERSON, lambda d: d.update(published_on="2026-02-30"), "'2026-02-30' is not a date"),
    ],
    ids=[
        "enum",
        "rule",
        "key",
        "missing",
        "rule-arg",
        "provider",
        "header-clash",
        "source-resource",
        "source-key",
        "priority",
        "field-priority",
        "ended-by",
        "snapshot-kind",
        "snapshot-alone",
        "published-on",
        "published-on-no-day",
    ],
)
def test_malformed_declarations_fail_with_one_line(broken, file, change, expected):
    _edit(broken / file, change)
    with pytest.raises(CatalogError) as caught:
        load_catalog(broken)
    message = str(caught.value)
    assert "\n" not in message
    assert str(broken / file) in message
    assert expected in message


@pytest.mark.parametrize("written", ["2026/11/21", "2026.11.21", "2026年11月21日", " 2026-11-21 "])
def test_published_on_in_a_department_s_form_is_that_day(broken, written):
    _edit(broken / PERSON, lambda d: d.update(published_on=written))
    assert load_catalog(broken).resource("population.person").published_on == "2026-11-21"


def test_invalid_yaml_names_the_line(broken):
    (broken / "sources.yaml").write_text("sources:\n  - code: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"sources.yaml: line \d+: invalid YAML"):
        load_catalog(broken)


def test_header_mapping(catalog):
    person = catalog.resource("population.person")
    mapped = map_headers(
        person, ["身份证号", "姓名", "户籍所在地", "备注", "ＩＤ"], {"ＩＤ": "phone"}
    )
    assert mapped.columns == {
        "身份证号": "id_number",
        "姓名": "name",
        "户籍所在地": "household_address",
        "ＩＤ": "phone",
    }
    assert mapped.unknown == ["备注"]
    limited = map_headers(person, ["身份证号", "姓名", "备注"], fields=["id_number"])
    assert limited.unknown == ["备注"] and limited.withheld == {"姓名": "name"}
    assert limited.columns == {"身份证号": "id_number"}
    with pytest.raises(HeaderError, match="both name the field id_number"):
        map_headers(person, ["身份证号", "公民身份号码"])


def test_type_rules_cannot_only_warn(broken):
    def warn_on_dates(d):
        d["fields"][3]["rules"] = [{"date_format": None, "severity": "warn"}]

    _edit(broken / PERSON, warn_on_dates)
    with pytest.raises(CatalogError, match="rule date_format: a value of the wrong type"):
        load_catalog(broken)
