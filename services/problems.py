"""Errors as `application/problem+json` (RFC 9457)."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from services import metrics
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
        return problem(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the consumer is looked up in a thread, never on the event loop
        refused = await run_in_threadpool(_remember, request)
        if refused is not None:  # a consumer over its rate is refused as on any other call
            return problem(refused.status_code, str(refused.detail), refused.headers)
        metrics.denied(request, "bad_request")
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return problem(422, f"{where}: {first['msg']}" if where else first["msg"])


PROBLEM_RESPONSES = {
    status: {"description": HTTPStatus(status).phrase, "content": {MEDIA_TYPE: {}}}
    for status in (400, 401, 403, 404, 422, 429)
}


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
