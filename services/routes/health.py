"""Liveness and readiness: `GET /healthz` checks the database, within a few seconds."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.problems import MEDIA_TYPE, problem

router = APIRouter(tags=["health"])

TIMEOUT_SECONDS = 3.0


def ping(engine: sa.Engine) -> None:
    """SELECT 1 on a connection of the pool (raises when the database does not answer).

    The API engine tests only idle connections before use (warehouse.engine.create): a pooled
    connection found dead (the database restarted) is tried once more on a new connection, so
    that the answer is about the database, not about a stale connection.
    """
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _start_ping(engine: sa.Engine) -> concurrent.futures.Future[None]:
    # a daemon thread, so that a database that never answers blocks neither a worker of the
    # thread pool nor the process's exit
    future: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        try:
            ping(engine)
        except BaseException as exc:  # handed to the waiting request
            future.set_exception(exc)
        else:
            future.set_result(None)

    threading.Thread(target=run, name="gdx-healthz", daemon=True).start()
    return future


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"] = Field(description="The database answered SELECT 1.")


UNAVAILABLE = "the database did not answer SELECT 1: "


@router.get(
    "/healthz",
    summary="Health of the service and its database",
    responses={
        200: {"model": Health, "description": "The database answered."},
        503: {
            "description": f"The database failed, or gave no answer within {TIMEOUT_SECONDS:g} "
            "s: the detail says which.",
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    },
)
async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers SELECT 1 within TIMEOUT_SECONDS, else 503 (problem+json)
    with the reason.

    While a check hangs, later calls wait for that same check instead of starting another.
    """
    state = request.app.state
    pending: concurrent.futures.Future[None] | None = getattr(state, "health_check", None)
    if pending is None or pending.done():
        pending = state.health_check = _start_ping(state.engine)
    try:
        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(pending)), TIMEOUT_SECONDS)
    except TimeoutError:
        return problem(503, f"{UNAVAILABLE}no answer within {TIMEOUT_SECONDS:g} s")
    except Exception as exc:  # any failure is the answer
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return problem(503, UNAVAILABLE + reason)
    return JSONResponse({"status": "ok", "database": "ok"})
