"""The directory (资源目录) for every signed-in person: search and filters, one resource's page
with its live figures and how to call it, and the directory's downloads (CSV, DCAT-AP).

The search and filters are the API's (catalog_schema.directory.select); the downloads are the
API's exports (services/routes/catalog.py) with the page's filters applied."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from catalog_schema import Catalog, dcat, directory
from catalog_schema.directory_csv import csv_text
from catalog_schema.models import Resource, ServiceItem
from portal import charts, pages
from portal.session import PortalError, SessionDep
from runtime import clock, settings
from warehouse import freshness
from warehouse.directory import published

router = APIRouter()
MAX_QUERY = 100
SHARE_TYPES = {
    code: (zh, en)
    for (code, zh), en in zip(
        directory.SHARE_TYPES_ZH.items(),
        ("unconditional", "conditional", "not shared"),
        strict=True,
    )
}
OPEN_ATTRIBUTES = {
    code: (zh, en)
    for (code, zh), en in zip(
        directory.OPEN_ATTRIBUTES_ZH.items(),
        ("open", "open on conditions", "not open"),
        strict=True,
    )
}
UPDATE_CYCLES = {code: (zh, code) for code, zh in directory.UPDATE_CYCLES_ZH.items()}
SENSITIVITY = {"public": ("公开", "public"), "sensitive": ("敏感", "sensitive"),
               "secret": ("涉密", "secret")}  # fmt: skip
TYPES = {"text": ("字符型", "text"), "date": ("日期型", "date"), "decimal": ("数值型", "decimal")}


def choices(catalog: Catalog) -> dict[str, dict[str, tuple[str, str]]]:
    """Each filter's allowed values and their labels (zh, en), in the order of the form."""
    providers = sorted({resource.provider for resource in catalog.resources.values()})
    return {
        "library": dict(dcat.GROUPS),
        "provider": {
            code: (catalog.department(code).name_zh, catalog.department(code).name_en)
            for code in providers
        },
        "share_type": SHARE_TYPES,
        "update_cycle": UPDATE_CYCLES,
        "open_attribute": OPEN_ATTRIBUTES,
    }


def chosen_filters(request: Request, catalog: Catalog) -> tuple[dict[str, str | None], dict]:
    """The filters of the query string, and an error per value that is not one of the choices."""
    params = request.query_params
    errors: dict[str, str] = {}
    q = (params.get("q") or "").strip() or None
    if q and len(q) > MAX_QUERY:
        errors["q"] = f"关键词最多{MAX_QUERY}个字。 Search words: at most {MAX_QUERY} characters."
        q = q[:MAX_QUERY]
    filters: dict[str, str | None] = {"q": q}
    for name, allowed in choices(catalog).items():
        value = params.get(name) or None
        if value is not None and value not in allowed:
            errors[name] = f"请从列表中选择。 Choose one of the list ({name}: {value[:40]!r})."
            value = None
        filters[name] = value
    return filters, errors


def _query(filters: dict[str, str | None]) -> str:
    chosen = {name: value for name, value in filters.items() if value}
    return "?" + urlencode(chosen) if chosen else ""


@router.get("/directory")
def directory_page(request: Request, session: SessionDep):
    catalog = request.app.state.catalog
    filters, errors = chosen_filters(request, catalog)
    resources = [] if errors else directory.select(catalog, **filters)
    with request.app.state.engine.connect() as conn:
        figures = freshness.live(conn, catalog, clock.now())
    return pages.render(
        request,
        "directory.html",
        status=422 if errors else 200,
        errors=errors,
        filters=filters,
        choices=choices(catalog),
        resources=resources,
        figures=figures,
        query=_query(filters),
        share_types=SHARE_TYPES,
        cycles=UPDATE_CYCLES,
    )


def _filters_or_refuse(request: Request, catalog: Catalog) -> dict[str, str | None]:
    filters, errors = chosen_filters(request, catalog)
    if errors:
        raise PortalError(422, " ".join(errors.values()), "无法处理 Cannot be processed")
    return filters


def _download(response: Response, request: Request, name: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return pages.guarded(response, request)


@router.get("/directory.csv")
def directory_csv(request: Request, session: SessionDep):
    """The compilation guide's CSV, as GET /api/v1/catalog.csv gives it."""
    catalog = request.app.state.catalog
    resources = directory.select(catalog, **_filters_or_refuse(request, catalog))
    text = csv_text(resources, catalog)
    response = Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8")
    return _download(response, request, "directory.csv")


@router.get("/directory.jsonld")
def directory_jsonld(request: Request, session: SessionDep):
    """DCAT-AP, the document GET /api/v1/catalog.jsonld gives (its published figures)."""
    catalog = request.app.state.catalog
    resources = directory.select(catalog, **_filters_or_refuse(request, catalog))
    code = settings.get("GDX_CATALOG_PUBLISHER")
    publisher = catalog.departments.get(code)
    if publisher is None:
        raise PortalError(
            500,
            f"The setting GDX_CATALOG_PUBLISHER names no declared department ({code!r}): "
            "the hub's operator must correct it.",
        )
    with request.app.state.engine.connect() as conn:
        figures = published(conn)
    document = dcat.dcat_catalog(
        catalog,
        resources,
        figures,
        str(request.base_url),
        publisher=publisher,
        openapi_version=request.app.openapi_version,
    )
    response = JSONResponse(document, media_type="application/ld+json")
    return _download(response, request, "directory.jsonld")


def purpose_for(catalog: Catalog, resource: Resource) -> ServiceItem | None:
    """A service item to name in X-Purpose: one whose materials this resource supplies, else the
    first of the list."""
    items = [catalog.service_items[code] for code in sorted(catalog.service_items)]
    for item in items:
        if any(material.resource == resource.code for material in item.materials):
            return item
    return items[0] if items else None


@router.get("/directory/{code}")
def resource_page(request: Request, session: SessionDep, code: str):
    catalog = request.app.state.catalog
    resource = catalog.resources.get(code)
    if resource is None:
        raise PortalError(
            404,
            f"目录中没有这个资源。 The directory has no resource {code[:80]!r}.",
            "资源不存在 No such resource",
        )
    with request.app.state.engine.connect() as conn:
        figures = freshness.live(conn, catalog, clock.now()).get(code)
        batches = freshness.recent_batches(conn, code)
    lang = pages.language(request)
    chart = charts.bars(
        [(pages.when(b["started_at"]), round(b["pass_rate"] * 100, 2)) for b in batches],
        "最近批次的质量合格率" if lang == "zh" else "Pass rate of the recent batches",
        unit="%",
        top=100,
        bad=[b["rejected"] > 0 for b in batches],
    )
    purpose = purpose_for(catalog, resource)
    return pages.render(
        request,
        "resource.html",
        resource=resource,
        provider=catalog.department(resource.provider),
        library=dcat.GROUPS[resource.group],
        figures=figures,
        batches=batches,
        chart=chart,
        endpoints=directory.endpoints(resource),
        purpose=purpose,
        base=str(request.base_url).rstrip("/"),
        related=[(other, catalog.resources.get(other)) for other in resource.related],
        share_types=SHARE_TYPES,
        cycles=UPDATE_CYCLES,
        open_attributes=OPEN_ATTRIBUTES,
        sensitivity=SENSITIVITY,
        types=TYPES,
    )
