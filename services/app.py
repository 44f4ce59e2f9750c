"""The FastAPI application of the hub."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI

from catalog_schema import Catalog
from services import problems
from services.routes import health, records
from warehouse import engine as engines
from warehouse import settings


def create_app(engine: sa.Engine | None = None, catalog: Catalog | None = None) -> FastAPI:
    catalog = catalog or settings.catalog()
    app = FastAPI(
        title="gdx data-service API",
        summary="Verified base-library data for approval systems (数据共享交换平台).",
        version="0.1.0",
        docs_url="/docs",
    )
    app.state.engine = engine or engines.create()
    app.state.catalog = catalog
    problems.install(app)
    app.include_router(health.router)
    app.include_router(records.build_router(catalog))
    return app
