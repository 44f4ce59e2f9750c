"""The FastAPI application of the hub."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Depends, FastAPI

from catalog_schema import Catalog, configured_catalog
from services import audit, bodies, deps, docs, metrics, openapi, problems, query_params, ratelimit
from services.routes import access_requests, health, materials, records, subjects, verify
from services.routes import catalog as directory_routes
from warehouse import engine as engines
from warehouse import tables


def create_app(engine: sa.Engine | None = None, catalog: Catalog | None = None) -> FastAPI:
    catalog = catalog or configured_catalog()
    app = FastAPI(
        title="gdx data-service API",
        summary="Verified base-library data for approval systems (数据共享交换平台).",
        version="0.1.0",
        docs_url=None,  # services.docs serves /docs and /redoc without a CDN
        redoc_url=None,
        dependencies=[Depends(query_params.known_query)],
    )
    app.state.engine = engine or engines.create(serving=True)
    app.state.catalog = catalog
    for resource in catalog.resources.values():
        tables.for_resource(resource)  # built before the first call, not by racing threads
    app.state.limiter = ratelimit.from_settings()
    deps.install_callers(app)
    problems.install(app)
    # inside the metrics and the audit: a stalled or oversized body is counted and audited
    app.add_middleware(bodies.BodyGuard, timeout=bodies.timeout_setting())
    metrics.install(app)
    app.include_router(health.router)
    app.include_router(directory_routes.router)
    app.include_router(access_requests.router)
    app.include_router(metrics.router)
    app.include_router(records.build_router(catalog))
    app.include_router(verify.build_router(catalog))
    app.include_router(subjects.build_router(catalog))
    app.include_router(materials.build_router(catalog))
    audit.install(app, app.state.engine)  # outermost: every response waits for its record
    openapi.install(app, catalog)
    docs.install(app)
    records_first(app)
    return app


def records_first(app: FastAPI) -> None:
    """Match the record-by-key routes, the most called, before the other routes (and answer
    their plain form without FastAPI's dependency solving: records.lean). Starlette
    tries each route's pattern in turn, and they came after some thirty. No other route takes
    their paths (a literal resource code, then /records/ and one segment), so every request is
    routed as before; the OpenAPI document keeps the order of declaration (openapi.install)."""
    for position, route in enumerate(app.router.routes):
        route.gdx_declared = position  # type: ignore[attr-defined]
    hot = [
        route
        for route in app.router.routes
        if getattr(getattr(route, "endpoint", None), "gdx_record", False)
    ]
    app.router.routes[:] = hot + [route for route in app.router.routes if route not in hot]
    for route in hot:
        records.lean(route)
