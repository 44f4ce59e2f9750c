"""Cross-library checks: staged values that are no key of the libraries they should refer to.

Counted as warnings, never rejections: the libraries fill at different times, so a licence may
arrive before its holder's record does.
"""

from __future__ import annotations

import sqlalchemy as sa

from catalog_schema import Catalog, Resource
from warehouse.tables import for_resource


def missing_references(
    conn: sa.Connection, catalog: Catalog, resource: Resource, stg: sa.Table, fields: list[str]
) -> dict[str, int]:
    """{`field.references`: staged rows whose value is in none of the referenced libraries}."""
    counts: dict[str, int] = {}
    for spec in resource.fields:
        if not spec.references or spec.name not in fields:
            continue
        value = stg.c[spec.name]
        known = [
            sa.exists().where(target.golden.c[target.resource.key] == value)
            for target in (for_resource(catalog.resource(code)) for code in spec.references)
        ]
        query = sa.select(sa.func.count()).where(value.is_not(None), ~sa.or_(*known))
        missing = conn.execute(query).scalar_one()
        if missing:
            counts[f"{spec.name}.references"] = missing
    return counts
