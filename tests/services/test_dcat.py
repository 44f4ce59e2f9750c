"""The directory's DCAT-AP export against the official SHACL shapes of DCAT-AP 3.0.1 (SEMIC,
vendored in data/dcat-ap-3.0.1 with their licence): zero violations of the mandatory shapes and
the value classes, only the known gaps among the recommended ones, and a broken export fails."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import pyshacl
import pytest
import yaml
from rdflib import Graph, Literal, namespace

from catalog_schema import load_catalog
from gdx.cli.catalog import check_imports, read_declarations, write_imports
from gdx.pipeline import load_file
from gdx.publish import publish
from tests.gdx.cli.test_catalog import CODE as ROSTER
from tests.gdx.cli.test_catalog import PHYSICIANS
from tests.services.conftest import CASE_FILE, SECRETS
from tests.services.test_catalog import client_for
from tests.services.test_records import HEADER, ZHANG
from warehouse import tables

SHAPES = Path(__file__).parent / "data" / "dcat-ap-3.0.1"
MANDATORY = ("shapes.ttl", "range.ttl")
RECOMMENDED = ("shapes_recommended.ttl",)
EXPORT = "/api/v1/catalog.jsonld"
EU = "http://publications.europa.eu/resource/authority"
DCAT, DCT = "http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/"
#: What the declarations do not hold: no department's contact point, no area or period of the
#: data, no licence (the data is shared under the sharing rules, not licensed).
KNOWN_GAPS = {f"{DCAT}contactPoint", f"{DCT}spatial", f"{DCT}temporal", f"{DCT}license"}


@functools.cache
def shapes(names: tuple[str, ...]) -> Graph:
    graph = Graph()
    for name in names:
        graph.parse(SHAPES / name, format="turtle")
    return graph


def validate(document: dict, names: tuple[str, ...] = MANDATORY) -> tuple[bool, Graph, str]:
    """The export parsed as JSON-LD (its context is inline: nothing is fetched) and validated
    the way the shapes' publisher says: pyshacl with RDFS inference."""
    assert isinstance(document["@context"], dict)
    data = Graph().parse(data=json.dumps(document), format="json-ld")
    return pyshacl.validate(data, shacl_graph=shapes(names), inference="rdfs")


def ill_dated(document: dict) -> list[str]:
    """The dates that are not a well-formed xsd:date or xsd:dateTime. The official shapes check
    them on the catalog and distributions, but their dataset shape names the date shape with
    `sh:shape`, which SHACL does not know, so a dataset's dates go unchecked there."""
    data = Graph().parse(data=json.dumps(document), format="json-ld")
    return [
        f"{subject} {predicate.rsplit('/', 1)[1]}"
        for predicate in (namespace.DCTERMS.issued, namespace.DCTERMS.modified)
        for subject, value in data.subject_objects(predicate)
        if not isinstance(value, Literal)
        or value.datatype not in (namespace.XSD.date, namespace.XSD.dateTime)
        or value.ill_typed
    ]


@pytest.fixture
def api(engine, tmp_path, monkeypatch):
    """The whole directory: the packaged resources, a department's imported one and an imported
    resource that is not shared; population data loaded and the directory published."""
    monkeypatch.setenv("GDX_HOME", str(tmp_path / "var"))
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / f"{SECRETS}.yaml").write_text(
        yaml.safe_dump(CASE_FILE, allow_unicode=True), encoding="utf-8"
    )
    roster = tmp_path / "roster.yaml"
    roster.write_text(PHYSICIANS, encoding="utf-8")
    base = load_catalog(None, imports)
    write_imports(
        imports, check_imports(base, read_declarations(roster, base), "health"), "roster", None
    )
    catalog = load_catalog(None, imports)
    assert {ROSTER, SECRETS} <= set(catalog.imported)
    tables.init_schema(engine, catalog)
    people = tmp_path / "people.csv"
    people.write_text(HEADER + ZHANG, encoding="utf-8")
    load_file(people, "population.person", "public_security", engine=engine, catalog=catalog)
    publish(engine=engine, catalog=catalog)
    client = client_for(engine, catalog)
    client.catalog = catalog
    return client


def export(api, **params) -> dict:
    response = api.get(EXPORT, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "params",
    [{}, {"library": "departments"}, {"share_type": "not_shared"}, {"q": "nothing-matches"}],
)
def test_export_conforms_to_dcat_ap_3(api, params):
    document = export(api, **params)
    conforms, _, text = validate(document)
    assert conforms, text
    assert not ill_dated(document)
    if not params:
        datasets = {d["dct:identifier"]: d for d in document["dcat:dataset"]}
        assert sorted(datasets) == sorted(api.catalog.resources)  # imported ones too
        assert "dct:modified" in datasets["population.person"]  # published, with data
        assert document["dct:modified"]["@type"] == "xsd:dateTime"


def test_recommended_shapes_leave_only_the_known_gaps(api):
    document = export(api)
    _, results, text = validate(document, MANDATORY + RECOMMENDED)
    found = {}
    for result in results.subjects(namespace.SH.resultPath, None):
        assert results.value(result, namespace.SH.resultSeverity) == namespace.SH.Warning, text
        path = str(results.value(result, namespace.SH.resultPath))
        found.setdefault(path, set()).add(str(results.value(result, namespace.SH.focusNode)))
    # a resource not shared has no distribution: nothing of it is served
    assert found.pop(f"{DCAT}distribution") == {f"http://testserver/api/v1/catalog/{SECRETS}"}
    assert set(found) == KNOWN_GAPS, text


def _dataset(document: dict, code: str) -> dict:
    return next(d for d in document["dcat:dataset"] if d["dct:identifier"] == code)


def _no_title(document: dict) -> None:
    del _dataset(document, "population.person")["dct:title"]


def _theme_as_text(document: dict) -> None:
    _dataset(document, ROSTER)["dcat:theme"] = "主题信息资源/卫生健康"


def _frequency_of_no_vocabulary(document: dict) -> None:
    _dataset(document, "credit.record")["dct:accrualPeriodicity"] = {"@id": "urn:gdx:daily"}


def _publisher_not_an_agent(document: dict) -> None:
    document["dct:publisher"] = {"@id": "urn:gdx:someone", "foaf:name": "someone"}


def _service_without_title(document: dict) -> None:
    del document["dcat:service"][0]["dct:title"]


def _catalog_issued_not_a_date(document: dict) -> None:
    document["dct:issued"] = "22 November 2026"


BREAKS = (
    (_no_title, "dct:title"),
    (_theme_as_text, "dcat:theme"),
    (_frequency_of_no_vocabulary, "dct:accrualPeriodicity"),
    (_publisher_not_an_agent, "dct:publisher"),
    (_service_without_title, "dct:title"),
    (_catalog_issued_not_a_date, "dct:issued"),
)


def test_a_broken_export_fails(api):
    document = export(api)
    for breaks, path in BREAKS:
        broken = copy.deepcopy(document)
        breaks(broken)
        conforms, _, text = validate(broken)
        assert not conforms, breaks.__name__
        assert f"Result Path: {path}" in text, text
    assert validate(document)[0]  # the export itself conforms
    assert not ill_dated(document)
    _dataset(document, SECRETS)["dct:issued"] = "22 November 2026"
    assert ill_dated(document) == [f"http://testserver/api/v1/catalog/{SECRETS} issued"]


def test_the_hub_publishes_the_catalog(api, monkeypatch):
    document = export(api)
    publisher = document["dct:publisher"]
    assert publisher["dct:identifier"] == "1122000001354439X3"  # government_services
    assert document["dcat:service"][0]["dct:publisher"] == publisher
    monkeypatch.setenv("GDX_CATALOG_PUBLISHER", "human_resources")
    assert export(api)["dct:publisher"]["dct:identifier"] == "11220000013544373G"
    monkeypatch.setenv("GDX_CATALOG_PUBLISHER", "nobody")
    response = api.get(EXPORT)
    assert response.status_code == 500
    assert response.json()["detail"] == "GDX_CATALOG_PUBLISHER: no declared department 'nobody'"


def test_themes_from_two_schemes(api):
    document = export(api)
    home = "http://testserver/api/v1/catalog.jsonld"
    themes = {
        code: {theme["@id"] for theme in _dataset(document, code)["dcat:theme"]}
        for code in ("population.person", ROSTER, SECRETS)
    }
    assert themes == {
        "population.person": {f"{home}#theme-population", f"{EU}/data-theme/SOCI"},
        ROSTER: {f"{home}#theme-departments", f"{EU}/data-theme/HEAL"},  # 卫生健康
        SECRETS: {f"{home}#theme-departments", f"{EU}/data-theme/JUST"},  # 公共安全
    }
    hub, eu = document["dcat:themeTaxonomy"]
    labels = {c["@id"]: c["skos:prefLabel"] for c in hub["skos:hasTopConcept"]}
    assert labels[f"{home}#theme-population"] == [
        {"@value": "人口基础信息库", "@language": "zh"},
        {"@value": "Population base library", "@language": "en"},
    ]
    assert eu["@id"] == f"{EU}/data-theme"
    service = document["dcat:service"][0]
    served = {ref["@id"].rsplit("/", 1)[1] for ref in service["dcat:servesDataset"]}
    assert served == set(api.catalog.resources) - {SECRETS}
    assert service["dct:conformsTo"]["@id"].endswith(f"/oas/v{api.app.openapi_version}")
