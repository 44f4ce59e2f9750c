"""Dependencies of the routes: the engine, the catalog and the calling consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from catalog_schema import Catalog
from services import metrics
from warehouse import callers, grants
from warehouse.consumers import Consumer
from warehouse.ledger import now

UNAUTHORIZED = {"WWW-Authenticate": 'APIKey header="X-API-Key"'}
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Key issued by `gdx consumers add`."
)


# async: run on the event loop, not handed to a thread as a plain `def` dependency would be
async def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


EngineDep = Annotated[sa.Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]


def require_key(request: Request, key: str | None) -> str:
    """The API key of the call; 401 when there is none (no database needed for that)."""
    if not key:
        metrics.denied(request, "unauthenticated")
        raise HTTPException(401, "missing X-API-Key header", headers=UNAUTHORIZED)
    return key


def authenticate(request: Request, conn: sa.Connection, key: str) -> Consumer:
    """The live consumer holding `key`, read on `conn` with its grants for the declared purpose
    (kept in `request.state.grants`), or taken from the process's cache of callers
    (warehouse.callers: PostgreSQL only, emptied by every change of a consumer or a grant);
    401 for an unknown or revoked key, 429 over the rate."""
    cache = getattr(request.app.state, "callers", None)
    read = grants.caller if cache is None else cache.caller
    found = read(conn, key, _declared_purpose(request), now())
    if found is None:
        metrics.denied(request, "unauthenticated")
        raise HTTPException(401, "unknown or revoked API key", headers=UNAUTHORIZED)
    consumer, request.state.grants = found
    audit = request.scope.setdefault("state", {}).setdefault("audit", {})  # request.state.audit
    audit.update(consumer_id=consumer.id, consumer=consumer.name)
    refused = over_the_rate(request, consumer)
    if refused is not None:
        raise refused
    return consumer


def install_callers(app: FastAPI) -> None:
    """The cache of callers for the app's engine (on PostgreSQL), listening while the app
    runs: until its listener has connected, and without a lifespan (a TestClient used
    without `with`), calls read their caller from the database."""
    cache = callers.for_engine(app.state.engine)
    app.state.callers = cache
    if cache is None:
        return
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        cache.start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            await asyncio.to_thread(cache.close)

    app.router.lifespan_context = lifespan


def over_the_rate(request: Request, consumer: Consumer) -> HTTPException | None:
    """Take one of the consumer's calls from the rate limiter: the 429 to raise when it has
    none left (counted), else None."""
    limiter = getattr(request.app.state, "limiter", None)
    retry = limiter.take(consumer.id) if limiter is not None else None
    if retry is None:
        return None
    metrics.denied(request, "rate_limited")
    return HTTPException(
        429,
        f"rate limit of {limiter.rate:g} calls per second exceeded for consumer {consumer.name}",
        headers={"Retry-After": str(retry)},
    )


@contextmanager
def authenticated(
    request: Request, engine: sa.Engine, key: str
) -> Iterator[tuple[sa.Connection, Consumer]]:
    """A connection with the caller authenticated on it first (`authenticate`): once more on a
    new connection when the pooled one turns out dead, as the API engine does not test every
    connection it takes from the pool (engine.create)."""
    for last in (False, True):
        conn = engine.connect()
        try:
            consumer = authenticate(request, conn, key)
            break
        except sa.exc.DBAPIError as exc:
            conn.close()
            if last or not exc.connection_invalidated:
                raise
        except BaseException:
            conn.close()
            raise
    with conn:
        yield conn, consumer


def current_consumer(
    request: Request, engine: EngineDep, key: Annotated[str | None, Security(api_key_header)]
) -> Consumer:
    with authenticated(request, engine, require_key(request, key)) as (_, consumer):
        return consumer


ConsumerDep = Annotated[Consumer, Depends(current_consumer)]


def _declared_purpose(request: Request) -> str | None:
    """The service item the call names (X-Purpose), when the directory declares it."""
    raw = request.headers.get("X-Purpose")
    item = request.app.state.catalog.service_items.get(raw.strip()) if raw else None
    return item.code if item is not None else None
