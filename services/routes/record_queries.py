"""The filtered query of a resource's records: equality on public fields, ranges on dates,
keyset paging with sealed cursors; every parameter declared with its field's shape."""

from __future__ import annotations

import datetime as dt
import decimal
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from catalog_schema import Resource
from services import cursor, formats
from services.access import CallDep
from services.problems import DATA_CALL, responses
from services.rendering import Rendered
from services.routes.record_models import listed_model
from services.routes.records import serve
from warehouse import records

PAGE_DEFAULT, PAGE_MAX = 20, 100
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


def add_query_route(router: APIRouter, resource: Resource) -> None:
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
        summary=f"Records matching filters (keyset paging) — {resource.name_en}",
        description=(
            f"Equality on any public field ({equality})"
            ", ranges on dates (`<field>_from`, `<field>_to`, inclusive), at least one filter; "
            f"`limit` (1–{PAGE_MAX}, default {PAGE_DEFAULT}); `next` is the link to the following "
            "page, its `after` an opaque cursor valid for the same filters. Removed records are "
            "not listed; an item's `key` is the key field as served (masked when sensitive)."
        ),
        operation_id=f"query_{resource.table_name}",
        response_model=listed_model(resource, "page"),  # the documented schema (OpenAPI)
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
