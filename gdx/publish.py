"""`gdx publish`: recompute the directory's published figures of every resource."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Catalog, configured_catalog
from warehouse import directory
from warehouse import engine as engines


def publish(*, engine: sa.Engine | None = None, catalog: Catalog | None = None) -> list[dict]:
    catalog = catalog or configured_catalog()
    engine = engine or engines.create()
    with engines.writing(engine) as conn:
        return directory.publish(conn, catalog, dt.datetime.now(dt.UTC))
