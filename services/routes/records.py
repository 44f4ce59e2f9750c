"""Records of the base libraries by key, one route per declared resource."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field, create_model

from catalog_schema import Catalog, Resource
from quality.normalize import normalize_column
from quality.rules import bound_rules
from services.deps import ConsumerDep, EngineDep
from services.masking import plain, present
from services.problems import PROBLEM_RESPONSES
from warehouse import records


class RecordPublic(BaseModel):
    resource: str = Field(description="Code of the resource in the directory.")
    key: str = Field(description="The record's key, normalised.")
    data: Any
    masked_fields: list[str] = Field(description="Sensitive fields shown masked.")
    batch_id: str = Field(description="Batch that last changed the record.")
    updated_at: str = Field(description="When the record last changed (UTC).")


def record_model(resource: Resource) -> type[BaseModel]:
    """The data schema of a resource's records, generated from its declaration."""
    fields: dict[str, Any] = {
        spec.name: (
            str | None,
            Field(
                None, title=spec.label_zh, description=f"{spec.description} [{spec.sensitivity}]"
            ),
        )
        for spec in resource.fields
        if spec.sensitivity != "secret"
    }
    data = create_model(f"{_camel(resource.code)}Data", **fields)
    return create_model(f"{_camel(resource.code)}Record", __base__=RecordPublic, data=(data, ...))


def normalized_key(resource: Resource, raw: str) -> str:
    """The key as stored; 422 when it breaks a rule of the key field."""
    spec = resource.key_field
    if any(ord(char) < 32 for char in raw):
        raise HTTPException(422, f"{spec.name}: control characters are not allowed")
    value = normalize_column(spec, pa.array([raw], pa.string()))
    table = pa.table({spec.name: value})
    failed = [
        rule.name
        for rule in bound_rules(resource, [spec.name])
        if rule.field.name == spec.name and rule.check(table)[0]
    ]
    if failed or value[0].as_py() is None:
        reason = ", ".join(failed) or "required"
        raise HTTPException(422, f"{spec.name}: not a valid {spec.label_zh} ({reason})")
    return value[0].as_py()


def build_router(catalog: Catalog) -> APIRouter:
    router = APIRouter(prefix="/api/v1/resources", tags=["records"])
    for resource in catalog.resources.values():
        _add_record_route(router, resource)
    return router


def _add_record_route(router: APIRouter, resource: Resource) -> None:
    spec = resource.key_field

    def read_record(
        consumer: ConsumerDep,
        engine: EngineDep,
        key: str = Path(alias=spec.name, description=spec.description, max_length=64),
    ) -> dict:
        value = normalized_key(resource, key)
        with engine.connect() as conn:
            record = records.by_key(conn, resource, value)
        if record is None:
            raise HTTPException(404, f"no {resource.code} record with {spec.name} {value}")
        data, masked = present(resource, record)
        return {
            "resource": resource.code,
            "key": value,
            "data": data,
            "masked_fields": masked,
            "batch_id": record["_batch_id"],
            "updated_at": plain(record["_updated_at"]),
        }

    router.add_api_route(
        f"/{resource.code}/records/{{{spec.name}}}",
        read_record,
        methods=["GET"],
        response_model=record_model(resource),
        summary=f"One {resource.name_en} record by {spec.name}",
        description=f"{resource.name_zh}: {resource.summary}",
        operation_id=f"read_{resource.table_name}",
        responses=PROBLEM_RESPONSES,
    )


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.replace(".", "_").split("_"))
