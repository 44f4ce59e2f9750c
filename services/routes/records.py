"""Records of the base libraries by key, one route per declared resource."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from catalog_schema import Catalog, Resource
from quality.dates import zone
from quality.keys import BadKey, normalize_key, normalize_keys
from services import cursor, formats
from services.access import Access, Call, CallDep
from services.masking import plain, shown
from services.problems import DATA_CALL, responses
from services.rendering import Rendered
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


def normalized_key(call: Call, resource: Resource, raw: str) -> str:
    """The key as stored; 422 when it is not of the key field's declared shape or breaks a rule
    of the key field."""
    spec = resource.key_field
    shape = formats.of_key(spec)
    if not shape.matches(raw):
        raise call.deny(422, "bad_request", f"{spec.name}: expected {shape.says}")
    try:
        return normalize_key(resource, raw)
    except BadKey as exc:
        raise call.deny(422, "bad_request", str(exc)) from None


def build_router(catalog: Catalog) -> APIRouter:
    router = APIRouter(prefix="/api/v1/resources", tags=["records"])
    for resource in catalog.resources.values():
        # a resource not shared keeps its routes so that a call gets a clear 403, not a 404
        _add_query_route(router, resource)
        _add_batch_route(router, resource)
        _add_record_route(router, resource)
    return router


AS_OF_MAX = 40
AsOf = Annotated[
    str | None,
    Query(
        alias="as_of",
        max_length=AS_OF_MAX,
        description=f"Read the record as it was at this time: {formats.AS_OF.says}.",
        json_schema_extra=formats.AS_OF.schema(),
    ),
]


def _add_record_route(router: APIRouter, resource: Resource) -> None:
    spec = resource.key_field

    shape = formats.of_key(spec)

    def read_record(
        call: CallDep,
        key: str = Path(
            alias=spec.name,
            description=f"{spec.description} ({shape.says})",
            max_length=64,
            json_schema_extra=shape.schema(),
        ),
        raw_as_of: AsOf = None,
    ) -> Rendered:
        call.audit.update(resource=resource.code, keys=[key[:64]])
        with call.connect() as conn:
            as_of = checked_as_of(call, raw_as_of)
            value = normalized_key(call, resource, key)
            call.audit["keys"] = [value]
            access = call.access(conn, resource)
            if as_of is None:
                record, origin = records.with_provenance(conn, resource, value)
            else:
                record, origin = records.as_of(conn, resource, value, _aware(as_of)), None
        if record is None:
            when = f" at {as_of.isoformat()}" if as_of else ""
            raise call.deny(
                404, "not_found", f"no {resource.code} record with {spec.name} {value}{when}"
            )
        if record["_state"] == "removed":
            removed = plain(record.get("_removed_at") or record.get("_valid_from"))
            raise call.deny(
                404,
                "not_found",
                f"{resource.code} record {value} was removed at {removed}: no department "
                "holds it any more (as_of an earlier time reads it)",
            )
        served = serve(resource, value, record, access, origin, as_of)
        call.served(resource, [value], list(served["data"]), 1)
        # rendered as it stands: `serve` builds the documented shape with JSON-ready values
        # (tests hold it to the model), so the model's validation would only cost time
        return Rendered(served)

    router.add_api_route(
        f"/{resource.code}/records/{{{spec.name}}}",
        read_record,
        methods=["GET"],
        response_model=record_model(resource),  # the documented schema (OpenAPI)
        summary=f"One {resource.name_en} record by {spec.name}",
        description=f"{resource.name_zh}: {resource.summary}",
        operation_id=f"read_{resource.table_name}",
        responses=responses(*DATA_CALL, 404),
    )


def serve(
    resource: Resource,
    key: str,
    record: dict,
    access: Access,
    origin: dict | None,
    as_of: dt.datetime | None = None,
) -> dict:
    """A record as it leaves the hub: the fields the access allows, masked where it says."""
    data, masked = shown(access.plan, record)
    provenance = (
        None
        if origin is None
        else {
            name: {**item, "supplied_at": plain(item["supplied_at"])}
            for name, item in origin.items()
            if name in data
        }
    )
    return {
        "resource": resource.code,
        "key": key,
        "state": record["_state"],
        "as_of": _aware(as_of).isoformat() if as_of else None,
        "data": data,
        "masked_fields": masked,
        "provenance": provenance,
        "batch_id": record["_batch_id"],
        "updated_at": plain(record.get("_updated_at") or record["_valid_from"]),
    }


PAGE_DEFAULT, PAGE_MAX = 20, 100
BATCH_MAX = 1000
VALUE_MAX = 200


def _filters(resource: Resource) -> dict[str, tuple[str, str]]:
    """Query parameters of a resource's filtered query: {param: (field, kind)}; kind is `eq`,
    `from` or `to` (ranges on date fields). Only public fields filter."""
    filters: dict[str, tuple[str, str]] = {}
    for spec in resource.fields:
        if spec.sensitivity != "public":
            continue
        filters[spec.name] = (spec.name, "eq")
        if spec.type == "date":
            filters[f"{spec.name}_from"] = (spec.name, "from")
            filters[f"{spec.name}_to"] = (spec.name, "to")
    return filters


def _add_query_route(router: APIRouter, resource: Resource) -> None:
    filters = _filters(resource)
    equality = ", ".join(name for name, (_, kind) in filters.items() if kind == "eq")

    def query_records(request: Request, call: CallDep) -> Rendered:
        call.audit["resource"] = resource.code
        with call.connect() as conn:
            params = request.query_params
            equals: dict[str, object] = {}
            ranges: dict[str, tuple[object, object]] = {}
            limit, after = PAGE_DEFAULT, None
            for name in params:
                values = params.getlist(name)
                if len(values) > 1:
                    raise call.deny(422, "bad_request", f"query parameter {name} given twice")
                value = values[0]
                if len(value) > VALUE_MAX:
                    raise call.deny(
                        422, "bad_request", f"{name}: longer than {VALUE_MAX} characters"
                    )
                if name == "limit":
                    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= PAGE_MAX:
                        raise call.deny(
                            422, "bad_request", f"limit: a whole number from 1 to {PAGE_MAX}"
                        )
                    limit = int(value)
                elif name == "after":
                    after = value
                elif name in filters:
                    field, kind = filters[name]
                    typed = _typed(call, resource, field, name, value)
                    if kind == "eq":
                        equals[field] = typed
                    else:
                        low, high = ranges.get(field, (None, None))
                        ranges[field] = (typed, high) if kind == "from" else (low, typed)
                else:
                    raise call.deny(422, "bad_request", _unknown_parameter(resource, name))
            if not equals and not ranges:
                raise call.deny(
                    422,
                    "bad_request",
                    f"a query of {resource.code} needs at least one filter on a public field "
                    f"({', '.join(sorted(filters))}); look records up by key otherwise",
                )
            scope = _scope(resource, params)
            if after is not None:
                after = cursor.unseal(scope, after)
                if after is None:
                    raise call.deny(
                        422,
                        "bad_request",
                        "after: not a cursor of this query (take `next` as given)",
                    )
            access = call.access(conn, resource)
            hidden = [field for field in [*equals, *ranges] if field not in access.fields]
            if hidden:
                raise call.deny(
                    403,
                    "no_grant",
                    f"{hidden[0]}: not a field your access to {resource.code} "
                    "serves, so not a filter either",
                )
            found = records.query(conn, resource, equals, ranges, after, limit)
        keys = [row[resource.key] for row in found]
        items = [
            serve(resource, key, row, access, None) for key, row in zip(keys, found, strict=True)
        ]
        for item in items:  # a query shows the key only as the key field is served
            item["key"] = item["data"].get(resource.key)
        call.served(resource, keys, list(access.fields), len(items))
        following = None
        if len(items) == limit:
            query = {k: v for k, v in params.items() if k != "after"}
            query["after"] = cursor.seal(scope, keys[-1])
            following = f"{request.url.path}?{urlencode(query)}"
        return Rendered({"resource": resource.code, "items": items, "next": following})

    router.add_api_route(
        f"/{resource.code}/records",
        query_records,
        methods=["GET"],
        summary=f"{resource.name_en} records matching filters (keyset paging)",
        description=(
            f"Equality on any public field ({equality})"
            ", ranges on dates (`<field>_from`, `<field>_to`, inclusive), at least one filter; "
            f"`limit` (1–{PAGE_MAX}, default {PAGE_DEFAULT}); `next` is the link to the following "
            "page, its `after` an opaque cursor valid for the same filters. Removed records are "
            "not listed; an item's `key` is the key field as served (masked when sensitive)."
        ),
        operation_id=f"query_{resource.table_name}",
        responses=responses(*DATA_CALL),
        openapi_extra={"parameters": _parameters(resource, filters)},
    )


_COMPARED = {"eq": "equal to", "from": "on or after", "to": "on or before"}


def _parameters(resource: Resource, filters: dict[str, tuple[str, str]]) -> list[dict]:
    """The query parameters of a resource's query as the document declares them: each filter
    with the shape of its field (a date, a number, text), the page size and the cursor."""
    declared = []
    for name, (field, kind) in filters.items():
        shape = formats.of_filter(resource.field(field))
        declared.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": f"Records whose {field} is {_COMPARED[kind]} this: {shape.says}.",
                "schema": {"type": "string", "maxLength": VALUE_MAX, **shape.schema()},
            }
        )
    page = {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT}
    cursor_schema = {"type": "string", "maxLength": VALUE_MAX, **formats.CURSOR.schema()}
    return [
        *declared,
        {"name": "limit", "in": "query", "required": False, "schema": page},
        {
            "name": "after",
            "in": "query",
            "required": False,
            "description": "The cursor of the previous page's `next` link, for the same filters.",
            "schema": cursor_schema,
        },
    ]


def _scope(resource: Resource, params) -> str:
    """What a cursor belongs to: the resource and the filters (not the page size)."""
    kept = sorted((k, v) for k, v in params.multi_items() if k not in {"after", "limit"})
    return f"{resource.code}?{urlencode(kept)}"


def _typed(call, resource: Resource, field: str, param: str, value: str) -> object:
    """A filter's value as its field's type; 422 unless it has the declared shape."""
    spec = resource.field(field)
    shape = formats.of_filter(spec)
    if not shape.matches(value):
        raise call.deny(422, "bad_request", f"{param}: expected {shape.says}")
    if spec.type == "date":
        return dt.date.fromisoformat(value)
    if spec.type == "decimal":
        return decimal.Decimal(value)
    return value


def _unknown_parameter(resource: Resource, name: str) -> str:
    spec = next((spec for spec in resource.fields if spec.name == name), None)
    if spec is not None:
        return f"{name}: a {spec.sensitivity} field of {resource.code} is not a filter"
    return f"{name[:64]}: not a query parameter of {resource.code}"


class BatchLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1,
        max_length=BATCH_MAX,
        description=f"1 to {BATCH_MAX} keys, each judged on its own: one that breaks the key "
        "field's rules is listed under `invalid`.",
    )
    as_of: str | None = Field(
        None,
        max_length=AS_OF_MAX,
        description=f"Read the records as they were at this time: {formats.AS_OF.says}.",
        json_schema_extra=formats.AS_OF.schema(),
    )


def _add_batch_route(router: APIRouter, resource: Resource) -> None:
    spec = resource.key_field

    def batch_lookup(body: BatchLookup, call: CallDep) -> Rendered:
        call.audit["resource"] = resource.code
        with call.connect() as conn:
            as_of = checked_as_of(call, body.as_of)
            normalized = normalize_keys(resource, body.keys)
            invalid = [
                {"key": raw, "detail": str(value)}
                for raw, value in zip(body.keys, normalized, strict=True)
                if isinstance(value, BadKey)
            ]
            wanted = list(dict.fromkeys(v for v in normalized if not isinstance(v, BadKey)))
            access = call.access(conn, resource)
            if as_of is None:
                found = records.by_keys(conn, resource, wanted) if wanted else {}
            else:
                found = records.by_keys_as_of(conn, resource, wanted, as_of) if wanted else {}
        items, missing, removed = [], [], []
        for key in wanted:
            record = found.get(key)
            if record is None:
                missing.append(key)
            elif record["_state"] == "removed":
                removed.append(key)
            else:
                items.append(serve(resource, key, record, access, None, as_of))
        call.served(resource, wanted, list(access.fields), len(items))
        return Rendered(
            {
                "resource": resource.code,
                "as_of": as_of.isoformat() if as_of else None,
                "items": items,
                "not_found": missing,
                "removed": removed,
                "invalid": invalid,
            }
        )

    router.add_api_route(
        f"/{resource.code}/records:batch",
        batch_lookup,
        methods=["POST"],
        summary=f"Up to {BATCH_MAX} {resource.name_en} records by {spec.name} in one call",
        description="Records in the order asked (duplicates once); keys that break the key "
        "field's rules are listed as invalid, unknown ones as not_found, records no department "
        "holds any more as removed.",
        operation_id=f"batch_{resource.table_name}",
        responses=responses(*DATA_CALL),
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    """A time without an offset is the province's local time."""
    return moment if moment.tzinfo else moment.replace(tzinfo=zone())


def checked_as_of(call, raw: str | None) -> dt.datetime | None:
    """The time `as_of` names, aware; 422 unless it has the declared shape (an ISO 8601 date or
    time from 1900 to 2999: never a number of seconds since 1970)."""
    if raw is None:
        return None
    moment = formats.parse_as_of(raw)
    if moment is None:
        raise call.deny(422, "bad_request", f"as_of: expected {formats.AS_OF.says}")
    return _aware(moment)


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.replace(".", "_").split("_"))
