"""Records of the base libraries by key, one route per declared resource."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field, create_model

from catalog_schema import Catalog, Resource
from quality.dates import zone
from quality.keys import BadKey, normalize_key
from services.deps import ConsumerDep, EngineDep
from services.masking import plain, present
from services.problems import PROBLEM_RESPONSES
from warehouse import records


class Provenance(BaseModel):
    department: str = Field(description="Department whose value the record holds.")
    source: str | None = Field(description="Registered source of that delivery.")
    batch_id: str = Field(description="Batch that supplied the value.")
    supplied_at: str | None = Field(description="When that batch committed (UTC).")


class RecordPublic(BaseModel):
    resource: str = Field(description="Code of the resource in the directory.")
    key: str = Field(description="The record's key, normalised.")
    state: str = Field(
        description="active, or ended (a declared end: 注销, 吊销, a death date); a removed "
        "record (no department holds it any more) is 404 unless read as_of an earlier time."
    )
    as_of: str | None = Field(description="The point in time read, when one was asked for.")
    data: Any
    masked_fields: list[str] = Field(description="Sensitive fields shown masked.")
    provenance: dict[str, Provenance] | None = Field(
        description="Per served non-empty field, who supplied its current value (current "
        "reads only)."
    )
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
    try:
        return normalize_key(resource, raw)
    except BadKey as exc:
        raise HTTPException(422, str(exc)) from None


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
        as_of: Annotated[
            dt.datetime | None,
            Query(
                description="Read the record as it was at this time (ISO 8601; without an "
                "offset it is the province's local time, setting GDX_TIMEZONE)."
            ),
        ] = None,
    ) -> dict:
        value = normalized_key(resource, key)
        with engine.connect() as conn:
            if as_of is None:
                record = records.by_key(conn, resource, value)
                origin = records.provenance(conn, resource, record) if record else {}
            else:
                record, origin = records.as_of(conn, resource, value, _aware(as_of)), None
        if record is None:
            when = f" at {as_of.isoformat()}" if as_of else ""
            raise HTTPException(404, f"no {resource.code} record with {spec.name} {value}{when}")
        if record["_state"] == "removed":
            removed = plain(record.get("_removed_at") or record.get("_valid_from"))
            raise HTTPException(
                404,
                f"{resource.code} record {value} was removed at {removed}: no department "
                "holds it any more (as_of an earlier time reads it)",
            )
        data, masked = present(resource, record)
        served = (
            origin
            if origin is None
            else {
                name: {**item, "supplied_at": plain(item["supplied_at"])}
                for name, item in origin.items()
                if name in data
            }
        )
        return {
            "resource": resource.code,
            "key": value,
            "state": record["_state"],
            "as_of": _aware(as_of).isoformat() if as_of else None,
            "data": data,
            "masked_fields": masked,
            "provenance": served,
            "batch_id": record["_batch_id"],
            "updated_at": plain(record.get("_updated_at") or record["_valid_from"]),
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


def _aware(moment: dt.datetime) -> dt.datetime:
    """A time without an offset is the province's local time."""
    return moment if moment.tzinfo else moment.replace(tzinfo=zone())


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.replace(".", "_").split("_"))
