"""The hub's web application: the data-service API (services/) with the portal (portal/)
mounted beside it. `gdx serve` and `gdx demo` serve this."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI

from catalog_schema import Catalog


def create_app(engine: sa.Engine | None = None, catalog: Catalog | None = None) -> FastAPI:
    from portal import app as portal
    from services.app import create_app as api

    app = api(engine, catalog)
    portal.install(app)
    return app
