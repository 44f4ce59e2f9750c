"""Reading golden records for the data-service interfaces."""

from __future__ import annotations

import sqlalchemy as sa

from catalog_schema import Resource
from warehouse.tables import for_resource


def by_key(conn: sa.Connection, resource: Resource, key: str) -> dict | None:
    golden = for_resource(resource).golden
    row = conn.execute(sa.select(golden).where(golden.c[resource.key] == key)).first()
    return dict(row._mapping) if row else None


def count(conn: sa.Connection, resource: Resource) -> int:
    golden = for_resource(resource).golden
    return conn.execute(sa.select(sa.func.count()).select_from(golden)).scalar_one()
