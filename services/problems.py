"""Errors as `application/problem+json` (RFC 9457)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from services import details, metrics
from services.deps import over_the_rate

MEDIA_TYPE = "application/problem+json"


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_problem(request: Request, exc: HTTPException) -> JSONResponse:
        counted = getattr(request.state, "denial_counted", False)
        if not counted and exc.status_code in metrics.REASON_OF_STATUS:
            metrics.denied(request, metrics.REASON_OF_STATUS[exc.status_code])
        headers = getattr(exc, "headers", None)
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = details.no_route(request)  # Starlette's: no route (or file) for the path
        elif exc.status_code == 405:
            allowed = allowed_methods(request)
            headers = {**(headers or {}), "Allow": allowed}
            detail = details.not_allowed(request, allowed)
        elif exc.status_code == 400 and detail == details.UNPARSED_BODY:
            detail = "body: not UTF-8 JSON"
        return problem(exc.status_code, detail, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the consumer is looked up in a thread, never on the event loop
        refused = await run_in_threadpool(_remember, request)
        if refused is not None:  # a consumer over its rate is refused as on any other call
            return problem(refused.status_code, str(refused.detail), refused.headers)
        metrics.denied(request, "bad_request")
        return problem(*details.validation(request, exc.errors()))


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette names only those of the
    first route that matches the path, though GET and POST of one path are two routes)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


#: What each error status means, as the document says it.
MEANING = {
    400: "X-Purpose missing or not a service item of the directory; or a body that is not "
    "UTF-8 JSON.",
    404: "No such record, request, resource or service item; or no route for the path.",
    401: "No X-API-Key, or an unknown or revoked one.",
    403: "Not allowed: the share type, the caller's grants or role.",
    408: "The request's body did not arrive in full within GDX_BODY_TIMEOUT_SECONDS.",
    409: "The access request is not in a state that allows this.",
    413: "The request's body is larger than the hub accepts.",
    422: "Malformed input: a value outside its declared type, length or pattern, a rule of the "
    "field it names, an unknown or repeated query parameter, a body field not declared.",
    429: "The consumer's rate limit (GDX_RATE_LIMIT) is spent: retry after Retry-After seconds.",
    503: "The call's audit record could not be written, so the call was not answered.",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    429: {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True}},
    503: {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True}},
}


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = Field(description="Always about:blank: the status says what it is.")
    title: str = Field(description="The status's phrase.")
    status: int
    detail: str = Field(description="What was wrong, naming the field or parameter.")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of a route's errors: problem+json with the Problem schema (its
    definition goes into the document's components: services.openapi)."""
    return {
        status: {
            "description": MEANING[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in sorted(statuses)
    }


# a data call (records, verification, subjects, materials): purpose, key, grants, input, rate
DATA_CALL = (400, 401, 403, 422, 429)
# a directory call: a consumer's key, input, rate
KEYED_CALL = (401, 422, 429)


def _remember(request: Request) -> HTTPException | None:
    """For the audit record of a call refused before its handler ran: the resource its path
    names and the consumer its key belongs to. A call of a known consumer takes one of its
    calls from the rate limiter like any other: the 429 when it has none left."""
    audit = request.state.audit if hasattr(request.state, "audit") else {}
    request.state.audit = audit
    parts = request.url.path.split("/")
    if len(parts) > 4 and parts[1:4] == ["api", "v1", "resources"]:
        audit.setdefault("resource", parts[4][:80])
    refused = None
    key = request.headers.get("X-API-Key")
    if key and "consumer" not in audit:
        from warehouse import consumers

        with request.app.state.engine.connect() as conn:
            consumer = consumers.by_key(conn, key)
        if consumer is not None:
            audit.update(consumer_id=consumer.id, consumer=consumer.name)
            refused = over_the_rate(request, consumer)
    purpose = request.headers.get("X-Purpose")
    if purpose:
        audit.setdefault("purpose", purpose[:40])
    return refused
