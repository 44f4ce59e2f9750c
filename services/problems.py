"""Errors as `application/problem+json` (RFC 9457)."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services import metrics

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
        metrics.denied(request, "bad_request")
        _remember(request)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return problem(422, f"{where}: {first['msg']}" if where else first["msg"])


PROBLEM_RESPONSES = {
    status: {"description": HTTPStatus(status).phrase, "content": {MEDIA_TYPE: {}}}
    for status in (400, 401, 403, 404, 422, 429)
}


def _remember(request: Request) -> None:
    """For the audit record of a call refused before its handler ran: the resource its path
    names and the consumer its key belongs to."""
    audit = request.state.audit if hasattr(request.state, "audit") else {}
    request.state.audit = audit
    parts = request.url.path.split("/")
    if len(parts) > 4 and parts[1:4] == ["api", "v1", "resources"]:
        audit.setdefault("resource", parts[4][:80])
    key = request.headers.get("X-API-Key")
    if key and "consumer" not in audit:
        from warehouse import consumers

        with request.app.state.engine.connect() as conn:
            consumer = consumers.by_key(conn, key)
        if consumer is not None:
            audit.update(consumer_id=consumer.id, consumer=consumer.name)
    purpose = request.headers.get("X-Purpose")
    if purpose:
        audit.setdefault("purpose", purpose[:40])
