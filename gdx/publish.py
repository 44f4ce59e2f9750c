"""`gdx publish`: recompute the directory's published figures of every resource."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Catalog
from warehouse import directory, settings
from warehouse import engine as engines


def publish(*, engine: sa.Engine | None = None, catalog: Catalog | None = None) -> list[dict]:
    catalog = catalog or settings.catalog()
    engine = engine or engines.create()
    with engines.writing(engine) as conn:
        return directory.publish(conn, catalog, dt.datetime.now(dt.UTC))
