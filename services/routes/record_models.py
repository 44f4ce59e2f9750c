"""The documented schemas of records (OpenAPI): a record as served, generated from its
resource's declaration, and the answers that list records (a query's page, a batch). The record
routes render their JSON as served; tests hold it to these models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from catalog_schema import Resource
from services.formats import Time
from services.masking import described


class Provenance(BaseModel):
    department: str = Field(description="Department whose value the record holds.")
    source: str | None = Field(description="Registered source of that delivery.")
    batch_id: str = Field(description="Batch that supplied the value.")
    supplied_at: Time | None = Field(description="When that batch committed.")


class RecordPublic(BaseModel):
    resource: str = Field(description="Code of the resource in the directory.")
    key: str = Field(description="The record's key, normalised.")
    state: str = Field(
        description="active, or ended (a declared end: 注销, 吊销, a death date); a removed "
        "record (no department holds it any more) is 404 unless read as_of an earlier time."
    )
    as_of: Time | None = Field(description="The point in time read, when one was asked for.")
    data: Any
    masked_fields: list[str] = Field(description="Sensitive fields shown masked.")
    provenance: dict[str, Provenance] | None = Field(
        description="Per served non-empty field, who supplied its current value (current "
        "reads only)."
    )
    batch_id: str = Field(description="Batch that last changed the record.")
    updated_at: Time = Field(description="When the record last changed.")


_MODELS: dict[tuple[str, int, str], type[BaseModel]] = {}


def record_model(resource: Resource) -> type[BaseModel]:
    """The data schema of a resource's records, generated from its declaration (one class per
    resource, however many routes name it)."""
    found = _MODELS.get((resource.code, id(resource), "record"))
    if found is None:
        found = _MODELS[(resource.code, id(resource), "record")] = _record_model(resource)
    return found


def listed_model(resource: Resource, kind: str) -> type[BaseModel]:
    """The answer of a resource's filtered query (`page`) or batch (`batch`): its records as
    `items`; in a page an item's key is the key field as served (null when not served)."""
    found = _MODELS.get((resource.code, id(resource), kind))
    if found is not None:
        return found
    camel = _camel(resource.code)
    if kind == "page":
        item = create_model(
            f"{camel}Listed",
            __base__=record_model(resource),
            key=(str | None, Field(description="The key field as served: masked, or null.")),
        )
        found = create_model(
            f"{camel}Page",
            resource=(str, ...),
            items=(list[item], ...),
            next=(str | None, Field(description="Link to the next page; null on the last one.")),
        )
    else:
        found = create_model(
            f"{camel}Batch",
            resource=(str, ...),
            as_of=(Time | None, ...),
            items=(list[record_model(resource)], Field(description="In the order asked.")),
            not_found=(list[str], ...),
            removed=(list[str], Field(description="No department holds these any more.")),
            invalid=(list[InvalidKey], ...),
        )
    _MODELS[(resource.code, id(resource), kind)] = found
    return found


class InvalidKey(BaseModel):
    key: str = Field(description="The key as given.")
    detail: str = Field(description="The rule it breaks.")


def _record_model(resource: Resource) -> type[BaseModel]:
    fields: dict[str, Any] = {
        spec.name: (
            # a masked decimal is text (stars); a decimal served is a JSON number
            (float | str | None) if spec.type == "decimal" else (str | None),
            Field(None, title=spec.label_zh, description=f"{spec.description} [{described(spec)}]"),
        )
        for spec in resource.fields
        if spec.sensitivity != "secret"
    }
    data = create_model(f"{_camel(resource.code)}Data", **fields)
    return create_model(f"{_camel(resource.code)}Record", __base__=RecordPublic, data=(data, ...))


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.replace(".", "_").split("_"))
