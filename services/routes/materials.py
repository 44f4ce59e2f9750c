"""Materials pre-fill: for a service item and an applicant, each application material as the
hub can supply it, so the applicant is asked only for the rest (凡是能通过网络共享复用的材料,
不得要求企业和群众重复提交)."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from catalog_schema import Catalog
from catalog_schema.models import Material, ServiceItem
from services.access import Call, CallDep, Denied, decide
from services.masking import present
from services.problems import DATA_CALL, responses
from services.rendering import Rendered
from services.routes.subjects import identify, subject_schema
from warehouse import records
from warehouse.ledger import now

Status = Literal["supplied", "not_available", "not_shareable", "from_applicant"]


class MaterialOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    status: Status = Field(
        description="supplied (the data is below); not_available (the resource holds nothing "
        "for this applicant); not_shareable (not shared, or conditional without your grant); "
        "from_applicant (no shared resource supplies it: the applicant hands it in)."
    )
    resource: str | None
    reason: str | None = None
    records: list[dict[str, Any]] = Field(
        [],
        description="The supplying record(s): the material's fields as your access serves "
        "them (one record, or every matching one for a list such as credit records).",
    )
    masked_fields: list[str] = []
    withheld_fields: list[str] = Field(
        [], description="Fields of the material your access does not serve."
    )


class Materials(BaseModel):
    service_item: str
    name_zh: str
    applicant: str
    items: list[MaterialOut] = Field(description="The service item's materials, in its order.")
    next: None = Field(description="Always null: a service item's materials come whole.")
    supplied: int = Field(description="Materials the applicant need not hand in.")
    to_collect: list[str] = Field(description="Codes of the materials still to ask for.")


def build_router(catalog: Catalog) -> APIRouter:
    router = APIRouter(prefix="/api/v1/service-items", tags=["service items"])

    @router.get(
        "/{code}/materials",
        response_model=Materials,
        summary="The application materials of a service item, pre-filled for an applicant",
        description="X-Purpose must be this service item's code.",
        responses=responses(*DATA_CALL, 404),
    )
    def materials(
        call: CallDep,
        code: str = Path(
            max_length=32,
            description="Code of the service item.",
            json_schema_extra={"enum": sorted(catalog.service_items)},
        ),
        applicant: str = Query(
            max_length=64,
            description="Citizen ID number or USCC of the applicant.",
            json_schema_extra=subject_schema(catalog),
        ),
    ) -> Rendered:
        with call.connect() as conn:
            item = catalog.service_items.get(code)
            if item is None:
                raise call.deny(404, "not_found", f"no service item {code[:32]!r} in the directory")
            if call.item.code != item.code:
                raise call.deny(
                    403,
                    "bad_purpose",
                    f"X-Purpose names service item {call.item.code}; the materials of {item.code} "
                    "serve only that item",
                )
            kind, key = identify(call, catalog, applicant)
            if item.applicant != "any" and kind != item.applicant:
                raise call.deny(
                    422,
                    "bad_request",
                    f"applicant: {item.code} ({item.name_zh}) is applied for by a "
                    f"{item.applicant}, not by a {kind}",
                )
            at = now()
            out = [
                _material(conn, call, catalog, item, material, key, at)
                for material in item.materials
            ]
        fields = [
            f"{material.resource}.{name}"
            for material, result in zip(item.materials, out, strict=True)
            if result["status"] == "supplied"
            for name in material.fields
            if name not in result["withheld_fields"]
        ]
        call.audit.update(resource=None, keys=[key], fields=fields)
        supplied = [result for result in out if result["status"] == "supplied"]
        # rendered as it stands (a decimal may be a number orjson writes with all its digits)
        return Rendered(
            {
                "service_item": item.code,
                "name_zh": item.name_zh,
                "applicant": key,
                "items": out,
                "next": None,
                "supplied": len(supplied),
                "to_collect": [r["code"] for r in out if r["status"] != "supplied"],
            }
        )

    return router


def _material(
    conn: sa.Connection,
    call: Call,
    catalog: Catalog,
    item: ServiceItem,
    material: Material,
    applicant: str,
    at,
) -> dict:
    result: dict[str, Any] = {
        "code": material.code,
        "name_zh": material.name_zh,
        "name_en": material.name_en,
        "resource": material.resource,
        "reason": None,
        "records": [],
        "masked_fields": [],
        "withheld_fields": [],
    }
    if material.resource is None:
        return {**result, "status": "from_applicant", "reason": "no shared resource supplies it"}
    resource = catalog.resource(material.resource)
    try:
        access = decide(conn, call.consumer, item, resource, at, call.held)
    except Denied as exc:
        return {**result, "status": "not_shareable", "reason": str(exc)}
    rows = records.matching(conn, resource, material.applicant_field, applicant, limit=1000)
    rows = [
        row
        for row in rows
        if row["_state"] == "active"
        and all(row.get(field) in values for field, values in material.where.items())
    ]
    if not rows:
        return {
            **result,
            "status": "not_available",
            "reason": f"{resource.code} holds no current record for this applicant",
        }
    served = tuple(name for name in material.fields if name in access.fields)
    if not served:
        return {
            **result,
            "status": "not_shareable",
            "reason": f"your access to {resource.code} serves none of the material's fields",
        }
    masked: set[str] = set()
    out = []
    for row in rows if material.many else rows[:1]:
        data, hidden = present(resource, row, access.unmasked, served)
        masked.update(hidden)
        out.append({"key": row[resource.key], "data": data})
    call.served(resource, [applicant], list(served), len(out))
    return {
        **result,
        "status": "supplied",
        "records": out,
        "masked_fields": sorted(masked),
        "withheld_fields": [name for name in material.fields if name not in served],
    }
