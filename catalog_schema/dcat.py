"""The directory as DCAT-AP 3.0.1 JSON-LD, for portals that harvest it (CKAN's ckanext-dcat,
data.europa.eu-style harvesters). It conforms to the official SHACL shapes of SEMIC (mandatory
properties and value classes; tests/services/test_dcat.py validates it).

Every value node the shapes check by class carries its class in the document, since a harvester
validates it without the vocabularies: the EU authority tables for frequency, access right, file
type, language and data theme; IANA media types; the ADMS publisher type. Themes are concepts of
two schemes: the hub's groups (the four base libraries and the departments' own resources, hash
IRIs under the export's own address, labelled in zh and en) and the EU data themes, mapped from
the group, or for a department's resource from words of its classification (GOVE when none).
Pure: the figures, the base URL and the publishing department are passed in."""

from __future__ import annotations

from typing import Any

from catalog_schema.catalog import Catalog
from catalog_schema.directory import API, SHARE_TYPES_ZH, endpoints
from catalog_schema.models import DEPARTMENT_GROUP, Department, Resource
from runtime import clock

EU = "http://publications.europa.eu/resource/authority"
IANA_JSON = "https://www.iana.org/assignments/media-types/application/json"
#: every declared department is a provincial body (ADMS publisher type vocabulary)
PUBLISHER_TYPE = "http://purl.org/adms/publishertype/RegionalAuthority"

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dcatap": "http://data.europa.eu/r5r/",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
#: dct:accrualPeriodicity as EU frequency URIs.
FREQUENCIES = {
    "realtime": "UPDATE_CONT",
    "hourly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "yearly": "ANNUAL",
}
#: The hub's theme scheme: its groups, labelled in zh and en.
GROUPS = {
    "population": ("人口基础信息库", "Population base library"),
    "legal_entity": ("法人单位基础信息库", "Legal entity base library"),
    "e_licence": ("电子证照库", "Electronic licence library"),
    "credit": ("社会信用信息库", "Social credit library"),
    DEPARTMENT_GROUP: ("部门共享信息资源", "Departments' own resources"),
}
#: The EU data themes (their English labels) and those of each base library.
EU_THEMES = {
    "AGRI": "Agriculture, fisheries, forestry and food",
    "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport",
    "ENER": "Energy",
    "ENVI": "Environment",
    "GOVE": "Government and public sector",
    "HEAL": "Health",
    "INTR": "International issues",
    "JUST": "Justice, legal system and public safety",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
    "TECH": "Science and technology",
    "TRAN": "Transport",
}
LIBRARY_THEMES = {
    "population": ("SOCI",),
    "legal_entity": ("ECON",),
    "e_licence": ("GOVE",),
    "credit": ("ECON", "JUST"),
}
#: Words of a department resource's classification (主题信息资源/…) and their EU data theme.
CLASSIFICATION_THEMES = (
    ("社会保障", "SOCI"), ("人口", "SOCI"), ("民政", "SOCI"), ("就业", "SOCI"),
    ("卫生", "HEAL"), ("健康", "HEAL"), ("医疗", "HEAL"), ("药品", "HEAL"),
    ("教育", "EDUC"), ("文化", "EDUC"), ("体育", "EDUC"),
    ("交通", "TRAN"), ("生态", "ENVI"), ("环境", "ENVI"), ("能源", "ENER"),
    ("农业", "AGRI"), ("林业", "AGRI"), ("食品", "AGRI"),
    ("城乡", "REGI"), ("住房", "REGI"),
    ("信用", "ECON"), ("市场", "ECON"), ("财政", "ECON"), ("经济", "ECON"),
    ("司法", "JUST"), ("公共安全", "JUST"), ("应急", "JUST"), ("科技", "TECH"),
)  # fmt: skip


def dcat_catalog(
    catalog: Catalog,
    resources: list[Resource],
    figures: dict[str, dict[str, Any]],
    base: str,
    *,
    publisher: Department,
    openapi_version: str,
) -> dict:
    """A DCAT-AP `dcat:Catalog` in JSON-LD with one `dcat:Dataset` per resource and the
    `dcat:DataService` that serves the shared ones; `base` is the service's address
    (`https://hub.example.gov.cn`), `publisher` the department that runs the hub."""
    base = base.rstrip("/")
    home = f"{base}{API}/catalog.jsonld"
    datasets = [_dataset(r, catalog, figures.get(r.code), base, home) for r in resources]
    return {
        "@context": CONTEXT,
        "@id": home,
        "@type": "dcat:Catalog",
        "dct:title": _languages("政务信息资源目录", "Directory of shared government data"),
        "dct:description": _languages(
            "数据共享交换平台发布的共享政务信息资源",
            "The shared resources published by the government data sharing and exchange hub.",
        ),
        "dct:publisher": agent(publisher, home),
        "foaf:homepage": {"@id": f"{base}/docs", "@type": "foaf:Document"},
        "dct:language": [_language("ZHO"), _language("ENG")],
        **_dates(catalog, figures),
        "dcat:themeTaxonomy": [_hub_scheme(home), _eu_scheme()],
        "dcat:service": [_data_service(datasets, base, home, publisher, openapi_version)],
        "dcat:dataset": datasets,
    }


def agent(department: Department, home: str) -> dict:
    """A department as a `foaf:Agent`: its names, its USCC (or code), its publisher type."""
    return {
        "@id": f"{home}#department-{department.code}",
        "@type": ["foaf:Agent", "foaf:Organization"],
        "foaf:name": _languages(department.name_zh, department.name_en),
        "dct:identifier": department.uscc or department.code,
        "dct:type": {
            "@id": PUBLISHER_TYPE,
            "@type": "skos:Concept",
            "skos:prefLabel": {"@value": "Regional authority", "@language": "en"},
            "skos:inScheme": {"@id": "http://purl.org/adms/publishertype/1.0"},
        },
    }


def eu_themes(resource: Resource) -> list[str]:
    """The EU data themes of a resource: its base library's, else those its classification's
    words name, else GOVE (government and public sector)."""
    if resource.library:
        return list(LIBRARY_THEMES[resource.library])
    named = [theme for word, theme in CLASSIFICATION_THEMES if word in resource.classification]
    return list(dict.fromkeys(named)) or ["GOVE"]


def access_right(resource: Resource) -> str:
    """The EU access-right of a resource: PUBLIC only when open to the public; shared between
    departments (on registration or on conditions) is RESTRICTED; not shared is NON_PUBLIC."""
    if resource.share_type == "not_shared":
        return "NON_PUBLIC"
    return "PUBLIC" if resource.open_attribute == "open" else "RESTRICTED"


def _dataset(
    resource: Resource, catalog: Catalog, figures: dict | None, base: str, home: str
) -> dict:
    dataset: dict[str, Any] = {
        "@id": f"{base}{API}/catalog/{resource.code}",
        "@type": "dcat:Dataset",
        "dct:identifier": resource.code,
        "dct:title": _languages(resource.name_zh, resource.name_en),
        "dct:description": resource.summary,
        "dct:publisher": agent(catalog.department(resource.provider), home),
        "dcat:theme": [{"@id": f"{home}#theme-{resource.group}"}]
        + [_eu_theme(code) for code in eu_themes(resource)],
        "dcat:keyword": [
            {"@value": word, "@language": "zh"}
            for word in dict.fromkeys(
                [*resource.classification.split("/"), *(f.label_zh for f in resource.fields)]
            )
            if word
        ],
        "dct:language": _language("ZHO"),
        "dct:accrualPeriodicity": {
            "@id": f"{EU}/frequency/{FREQUENCIES[resource.update_cycle]}",
            "@type": "dct:Frequency",
        },
        "dct:issued": _date(resource.published_on),
        "dct:accessRights": _rights(access_right(resource)),
        "dct:rights": {
            "@type": "dct:RightsStatement",
            "rdfs:label": _languages(
                SHARE_TYPES_ZH[resource.share_type], resource.share_type.replace("_", " ")
            ),
            **({"dct:description": resource.share_conditions} if resource.share_conditions else {}),
        },
        "dct:relation": [{"@id": f"{base}{API}/catalog/{code}"} for code in resource.related],
        "dcat:distribution": [_distribution(resource, base, home)] if endpoints(resource) else [],
    }
    last_update = (figures or {}).get("last_update")
    if last_update:
        dataset["dct:modified"] = {"@value": clock.iso(last_update), "@type": "xsd:dateTime"}
    return dataset


def _distribution(resource: Resource, base: str, home: str) -> dict:
    return {
        "@type": "dcat:Distribution",
        "dct:title": resource.share_channel,
        "dct:description": f"{resource.format}, served as JSON over the data-service API",
        "dcat:accessURL": {"@id": f"{base}{API}/resources/{resource.code}/records"},
        "dct:format": {"@id": f"{EU}/file-type/JSON", "@type": "dct:MediaTypeOrExtent"},
        "dcat:mediaType": {"@id": IANA_JSON, "@type": "dct:MediaType"},
        "dcatap:availability": {
            "@id": f"{EU}/planned-availability/STABLE",
            "@type": "skos:Concept",
            "skos:prefLabel": {"@value": "stable", "@language": "en"},
        },
        "dcat:accessService": {"@id": f"{home}#data-service"},
    }


def _data_service(
    datasets: list[dict], base: str, home: str, publisher: Department, openapi_version: str
) -> dict:
    """The hub's data-service API: one service for every shared resource of the export."""
    served = [dataset for dataset in datasets if dataset["dcat:distribution"]]
    themes = {theme["@id"]: theme for dataset in served for theme in dataset["dcat:theme"]}
    return {
        "@id": f"{home}#data-service",
        "@type": "dcat:DataService",
        "dct:title": _languages("数据共享交换平台数据服务接口", "The hub's data-service API"),
        "dct:description": _languages(
            "按键、按条件或批量读取共享政务信息资源的记录；每次调用须带已登记消费方的密钥。",
            "Records of the shared resources by key, by filter or in batches; every call "
            "carries the key of a registered consumer.",
        ),
        "dcat:endpointURL": {"@id": f"{base}{API}"},
        "dcat:endpointDescription": {"@id": f"{base}/openapi.json"},
        "dct:conformsTo": {
            "@id": f"https://spec.openapis.org/oas/v{openapi_version}",
            "@type": "dct:Standard",
        },
        "dct:publisher": agent(publisher, home),
        "dct:accessRights": _rights("RESTRICTED"),
        "dcat:keyword": _languages("数据共享", "data sharing"),
        "dcat:theme": list(themes.values()),
        "dcat:servesDataset": [{"@id": dataset["@id"]} for dataset in served],
    }


def _hub_scheme(home: str) -> dict:
    scheme = f"{home}#themes"
    return {
        "@id": scheme,
        "@type": "skos:ConceptScheme",
        "dct:title": _languages("数据共享交换平台信息资源分组", "The hub's resource groups"),
        "skos:hasTopConcept": [
            {
                "@id": f"{home}#theme-{group}",
                "@type": "skos:Concept",
                "skos:prefLabel": _languages(zh, en),
                "skos:inScheme": {"@id": scheme},
                "skos:topConceptOf": {"@id": scheme},
            }
            for group, (zh, en) in GROUPS.items()
        ],
    }


def _eu_scheme() -> dict:
    return {
        "@id": f"{EU}/data-theme",
        "@type": "skos:ConceptScheme",
        "dct:title": {"@value": "Data theme", "@language": "en"},
    }


def _eu_theme(code: str) -> dict:
    return {
        "@id": f"{EU}/data-theme/{code}",
        "@type": "skos:Concept",
        "skos:prefLabel": {"@value": EU_THEMES[code], "@language": "en"},
        "skos:inScheme": {"@id": f"{EU}/data-theme"},
    }


def _dates(catalog: Catalog, figures: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """The whole directory's: issued with its first resource; modified at its last publication
    (`gdx publish`), or the latest publication date of a resource when that is later (or
    nothing was published yet). None for a directory without resources."""
    days = sorted(resource.published_on for resource in catalog.resources.values())
    if not days:
        return {}
    modified = _date(days[-1])
    computed = [row["computed_at"] for row in figures.values() if row.get("computed_at")]
    if computed:
        last = clock.local(max(computed, key=clock.local))
        if last.date().isoformat() >= days[-1]:
            modified = {"@value": last.isoformat(), "@type": "xsd:dateTime"}
    return {"dct:issued": _date(days[0]), "dct:modified": modified}


def _rights(code: str) -> dict[str, str]:
    return {"@id": f"{EU}/access-right/{code}", "@type": "dct:RightsStatement"}


def _language(code: str) -> dict[str, str]:
    return {"@id": f"{EU}/language/{code}", "@type": "dct:LinguisticSystem"}


def _date(day: str) -> dict[str, str]:
    return {"@value": day, "@type": "xsd:date"}


def _languages(zh: str, en: str) -> list[dict[str, str]]:
    return [{"@value": zh, "@language": "zh"}, {"@value": en, "@language": "en"}]
