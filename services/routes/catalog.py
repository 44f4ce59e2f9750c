"""The published directory (政务信息资源目录) and the sharing responsibility list: readable by
every registered consumer, so that approval-system integrators browse it with their key."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from catalog_schema import dcat, directory
from catalog_schema.directory_csv import csv_text
from catalog_schema.models import DEPARTMENT_GROUP, LIBRARIES, ShareType
from runtime import settings
from services.deps import CatalogDep, ConsumerDep, EngineDep
from services.formats import Time
from services.problems import KEYED_CALL, responses
from warehouse.directory import published

PAGE_DEFAULT, PAGE_MAX = 20, 100
GROUPS = (*LIBRARIES, DEPARTMENT_GROUP)

router = APIRouter(prefix="/api/v1", tags=["directory"])


class Provider(BaseModel):
    code: str
    name_zh: str
    name_en: str
    uscc: str | None = Field(description="The department's USCC: the directory's provider code.")


class DataItem(BaseModel):
    name: str
    label_zh: str
    type: str = Field(description="text, date or decimal.")
    sensitivity: str = Field(
        description="public; sensitive (served masked unless a grant names it — but a legal "
        "entity's USCC is always shown); secret (listed, never served)."
    )
    description: str


class Figures(BaseModel):
    records: int = Field(description="Golden records served (active or ended).")
    last_update: Time | None = Field(description="When a record last changed.")
    last_collected: Time | None = Field(description="Last successful collection.")
    fresh: bool = Field(description="Collected within 1.5 update cycles.")
    pass_rate: float | None = Field(description="Share of rows read that passed every rule.")
    open_conflicts: int = Field(description="Fields on which departments still disagree.")
    computed_at: Time = Field(description="When `gdx publish` computed these figures.")


class Endpoint(BaseModel):
    method: str
    path: str
    does: str


class Entry(BaseModel):
    code: str
    library: str = Field(description="The base library, or `departments` for a department's own.")
    imported: bool = Field(description="Added by a department with `gdx catalog import`.")
    name_zh: str
    name_en: str
    summary: str
    classification: str
    grain: str
    key: str
    format: str
    provider: Provider
    share_type: ShareType
    share_type_zh: str
    share_conditions: str | None
    share_channel: str
    open_attribute: str
    update_cycle: str
    published_on: str
    fields: list[DataItem]
    related: list[str]
    figures: Figures | None = Field(description="Null until the directory is first published.")
    endpoints: list[Endpoint] = Field(description="Routes that serve it; none if not shared.")


class EntryPage(BaseModel):
    items: list[Entry]
    next: str | None = Field(description="Link to the next page; null on the last one.")


class SuppliedBy(BaseModel):
    code: str
    name_zh: str
    share_type: ShareType
    provider: str


class Material(BaseModel):
    code: str
    name_zh: str
    name_en: str
    supplied_by: SuppliedBy | None = Field(
        description="The shared resource that supplies it; null: the applicant hands it in."
    )
    applicant_field: str | None
    fields: list[str]
    where: dict[str, list[str]]
    many: bool


class ServiceItem(BaseModel):
    code: str = Field(description="Also the purpose a consumer names in X-Purpose.")
    name_zh: str
    name_en: str
    department: Provider
    applicant: str
    materials: list[Material]
    shared: int = Field(description="Materials a shared resource supplies.")


class ServiceItemList(BaseModel):
    items: list[ServiceItem]
    next: None = Field(description="Always null: the list comes whole.")


def directory_filters(
    catalog: CatalogDep,
    library: Annotated[
        str | None,
        Query(
            max_length=40,
            description=f"One of {', '.join(GROUPS)}.",
            json_schema_extra={"enum": list(GROUPS)},
        ),
    ] = None,
    provider: Annotated[
        str | None,
        # the document lists the declared departments (services.openapi)
        Query(max_length=80, description="Code of the providing department."),
    ] = None,
    share_type: Annotated[ShareType | None, Query()] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Part of a name (zh or en), the summary, the code or a field's label.",
        ),
    ] = None,
) -> dict[str, str | None]:
    """The directory's filters, checked: an unknown library or department is 422."""
    if library is not None and library not in GROUPS:
        raise HTTPException(422, f"library: {library!r} is not one of {', '.join(GROUPS)}")
    if provider is not None and provider not in catalog.departments:
        raise HTTPException(422, f"provider: no declared department {provider!r}")
    return {"library": library, "provider": provider, "share_type": share_type, "q": q}


FiltersDep = Annotated[dict, Depends(directory_filters)]


def _figures(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    """The figures `gdx publish` last stored, per resource code."""
    with engine.connect() as conn:
        return published(conn)


@router.get(
    "/catalog.jsonld",
    summary="The directory as DCAT-AP (JSON-LD)",
    description="DCAT-AP 3.0.1: a dcat:Catalog with one dcat:Dataset per resource and the "
    "dcat:DataService that serves the shared ones; the list's filters apply.",
    response_class=JSONResponse,
    responses={200: {"content": {"application/ld+json": {}}}, **responses(*KEYED_CALL)},
)
def catalog_jsonld(
    request: Request,
    consumer: ConsumerDep,
    engine: EngineDep,
    catalog: CatalogDep,
    filters: FiltersDep,
) -> JSONResponse:
    code = settings.get("GDX_CATALOG_PUBLISHER")
    publisher = catalog.departments.get(code)
    if publisher is None:  # a setting the operator must fix, not the caller
        raise HTTPException(500, f"GDX_CATALOG_PUBLISHER: no declared department {code!r}")
    document = dcat.dcat_catalog(
        catalog,
        directory.select(catalog, **filters),
        _figures(engine),
        str(request.base_url),
        publisher=publisher,
        openapi_version=request.app.openapi_version,
    )
    return JSONResponse(document, media_type="application/ld+json")


@router.get(
    "/catalog.csv",
    summary="The directory as CSV in the columns of the compilation guide",
    description="UTF-8 with a byte order mark (Excel), values in the guide's Chinese terms; "
    "信息项信息 lists each data item as `label(name:数据类型:敏感级别)`, e.g. "
    "`姓名(name:字符型:公开)`, the key first. `gdx catalog import` reads it back.",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **responses(*KEYED_CALL)},
)
def catalog_csv(consumer: ConsumerDep, catalog: CatalogDep, filters: FiltersDep) -> Response:
    text = csv_text(directory.select(catalog, **filters), catalog)
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="catalog.csv"'},
    )


@router.get(
    "/catalog",
    response_model=EntryPage,
    summary="The shared-resource directory, filtered, in code order (keyset paging)",
    responses=responses(*KEYED_CALL),
)
def list_catalog(
    request: Request,
    consumer: ConsumerDep,
    engine: EngineDep,
    catalog: CatalogDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Entries per page.")] = PAGE_DEFAULT,
    after: Annotated[
        str | None, Query(max_length=80, description="The last code of the previous page.")
    ] = None,
) -> dict:
    resources, more = directory.page(directory.select(catalog, **filters), after, limit)
    figures = _figures(engine)
    items = [directory.entry(r, catalog, figures.get(r.code)) for r in resources]
    following = None
    if more:
        query = {name: value for name, value in filters.items() if value is not None}
        query |= {"limit": limit, "after": resources[-1].code}
        following = f"{request.url.path}?{urlencode(query)}"
    return {"items": items, "next": following}


@router.get(
    "/catalog/{code}",
    response_model=Entry,
    summary="One resource of the directory with its figures and endpoints",
    responses=responses(*KEYED_CALL, 404),
)
def read_entry(
    consumer: ConsumerDep,
    engine: EngineDep,
    catalog: CatalogDep,
    code: Annotated[str, Path(max_length=80, description="Resource code.")],
) -> dict:
    resource = catalog.resources.get(code)
    if resource is None:
        raise HTTPException(404, f"no resource {code!r} in the directory")
    return directory.entry(resource, catalog, _figures(engine).get(code))


@router.get(
    "/service-items",
    response_model=ServiceItemList,
    summary="The sharing responsibility list: service items, their materials and suppliers",
    responses=responses(*KEYED_CALL),
)
def list_service_items(consumer: ConsumerDep, catalog: CatalogDep) -> dict:
    items = [catalog.service_items[code] for code in sorted(catalog.service_items)]
    return {"items": [directory.service_item(item, catalog) for item in items], "next": None}


@router.get(
    "/service-items/{code}",
    response_model=ServiceItem,
    summary="One service item: its materials and the resource that supplies each",
    responses=responses(*KEYED_CALL, 404),
)
def read_service_item(
    consumer: ConsumerDep,
    catalog: CatalogDep,
    code: Annotated[str, Path(max_length=32, description="Code of the service item.")],
) -> dict:
    item = catalog.service_items.get(code)
    if item is None:
        raise HTTPException(404, f"no service item {code!r} in the directory")
    return directory.service_item(item, catalog)
