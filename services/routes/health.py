"""Liveness and readiness."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.deps import EngineDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health of the service and its database")
def healthz(engine: EngineDep) -> JSONResponse:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        return JSONResponse({"status": "unavailable", "database": reason}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
