"""Records of the base libraries by key, one route per declared resource."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from catalog_schema import Catalog, Resource
from quality.keys import BadKey, normalize_key, normalize_keys
from runtime import clock
from runtime.clock import zone
from services import formats
from services.access import PURPOSE_HEADER, Access, Call, CallDep, current_call
from services.deps import api_key_header
from services.masking import shown
from services.problems import DATA_CALL, responses
from services.rendering import Rendered
from services.routes.record_models import listed_model, record_model
from warehouse import records

__all__ = ["normalized_key", "record_model", "serve"]  # record_model: tests name it here


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
    from services.routes import record_queries  # it serves records as `serve` here does

    router = APIRouter(prefix="/api/v1/resources", tags=["records"])
    for resource in catalog.resources.values():
        # a resource not shared keeps its routes so that a call gets a clear 403, not a 404
        record_queries.add_query_route(router, resource)
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


KEY_MAX = 64


def _add_record_route(router: APIRouter, resource: Resource) -> None:
    spec = resource.key_field

    shape = formats.of_key(spec)

    def read_record(
        call: CallDep,
        key: str = Path(
            alias=spec.name,
            description=f"{spec.description} ({shape.says})",
            max_length=KEY_MAX,
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
            when = f" at {clock.iso(as_of)}" if as_of else ""
            raise call.deny(
                404, "not_found", f"no {resource.code} record with {spec.name} {value}{when}"
            )
        if record["_state"] == "removed":
            removed = clock.iso(record.get("_removed_at") or record.get("_valid_from"))
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

    read_record.gdx_record = True  # type: ignore[attr-defined]  # matched first: services.app
    router.add_api_route(
        f"/{resource.code}/records/{{{spec.name}}}",
        read_record,
        methods=["GET"],
        response_model=record_model(resource),  # the documented schema (OpenAPI)
        summary=f"One record by {spec.name} — {resource.name_en}",
        description=f"{resource.name_zh}: {resource.summary}",
        operation_id=f"read_{resource.table_name}",
        responses=responses(*DATA_CALL, 404),
    )


def lean(route: APIRoute) -> None:
    """Answer the plain form of a record call — GET, no query string, an API key, a key of at
    most KEY_MAX characters — without FastAPI's per-call dependency solving (the last profile:
    a tenth of the server's time): the same steps the declared dependencies take
    (`current_call`, then the endpoint in a thread, errors to the app's handlers), with none of
    them able to fail validation. Any other form (a query string, no key, HEAD, a longer key)
    goes to FastAPI's handler as declared, so every refusal is worded as before."""
    declared = route.app
    endpoint = route.endpoint
    alias = route.dependant.path_params[0].alias
    key_header = api_key_header.model.name

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        value = None
        if scope["method"] == "GET" and not scope.get("query_string"):
            value = scope["path_params"].get(alias)
        request = Request(scope, receive, send) if value and len(value) <= KEY_MAX else None
        key = request.headers.get(key_header) if request is not None else None
        if not key:
            await declared(scope, receive, send)
            return

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            call = await current_call(request, key, request.headers.get(PURPOSE_HEADER))
            response = await run_in_threadpool(endpoint, call, value, None)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(answer, request)(scope, receive, send)

    route.app = app
    route.gdx_declared_app = declared  # type: ignore[attr-defined]  # for the tests


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
            name: {**item, "supplied_at": clock.iso(item["supplied_at"])}
            for name, item in origin.items()
            if name in data
        }
    )
    return {
        "resource": resource.code,
        "key": key,
        "state": record["_state"],
        "as_of": clock.iso(as_of) if as_of else None,
        "data": data,
        "masked_fields": masked,
        "provenance": provenance,
        "batch_id": record["_batch_id"],
        "updated_at": clock.iso(record.get("_updated_at") or record["_valid_from"]),
    }


BATCH_MAX = 1000


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
                "as_of": clock.iso(as_of) if as_of else None,
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
        summary=f"Up to {BATCH_MAX} records by {spec.name} in one call — {resource.name_en}",
        description="Records in the order asked (duplicates once); keys that break the key "
        "field's rules are listed as invalid, unknown ones as not_found, records no department "
        "holds any more as removed.",
        operation_id=f"batch_{resource.table_name}",
        response_model=listed_model(resource, "batch"),  # the documented schema (OpenAPI)
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
