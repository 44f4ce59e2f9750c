"""Dependencies of the routes: the engine, the catalog and the calling consumer."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from catalog_schema import Catalog
from services import metrics
from warehouse import consumers
from warehouse.consumers import Consumer

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Key issued by `gdx consumers add`."
)


def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


EngineDep = Annotated[sa.Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]


def current_consumer(
    request: Request, engine: EngineDep, key: Annotated[str | None, Security(api_key_header)]
) -> Consumer:
    unauthorized = {"WWW-Authenticate": 'APIKey header="X-API-Key"'}
    if not key:
        metrics.denied(request, "unauthenticated")
        raise HTTPException(401, "missing X-API-Key header", headers=unauthorized)
    with engine.connect() as conn:
        consumer = consumers.by_key(conn, key)
    if consumer is None:
        metrics.denied(request, "unauthenticated")
        raise HTTPException(401, "unknown or revoked API key", headers=unauthorized)
    if not hasattr(request.state, "audit"):
        request.state.audit = {}
    request.state.audit.update(consumer_id=consumer.id, consumer=consumer.name)
    limiter = getattr(request.app.state, "limiter", None)
    retry = limiter.take(consumer.id) if limiter is not None else None
    if retry is not None:
        metrics.denied(request, "rate_limited")
        raise HTTPException(
            429,
            f"rate limit of {limiter.rate:g} calls per second exceeded"
            f" for consumer {consumer.name}",
            headers={"Retry-After": str(retry)},
        )
    return consumer


ConsumerDep = Annotated[Consumer, Depends(current_consumer)]
