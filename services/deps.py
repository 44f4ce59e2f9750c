"""Dependencies of the routes: the engine, the catalog and the calling consumer."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from catalog_schema import Catalog
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
    engine: EngineDep, key: Annotated[str | None, Security(api_key_header)]
) -> Consumer:
    unauthorized = {"WWW-Authenticate": 'APIKey header="X-API-Key"'}
    if not key:
        raise HTTPException(401, "missing X-API-Key header", headers=unauthorized)
    with engine.connect() as conn:
        consumer = consumers.by_key(conn, key)
    if consumer is None:
        raise HTTPException(401, "unknown or revoked API key", headers=unauthorized)
    return consumer


ConsumerDep = Annotated[Consumer, Depends(current_consumer)]
