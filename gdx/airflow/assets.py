"""The Airflow side of the base libraries: one Asset per library (collection tasks update it,
the publish DAG runs when one changes) and one pool per library (loads into one library queue
instead of fighting for its lock)."""

from __future__ import annotations

from catalog_schema.models import DEPARTMENT_GROUP, LIBRARIES


def asset_uri(library: str) -> str:
    if library == DEPARTMENT_GROUP:
        return "gdx://departments/resources"
    return f"gdx://base-library/{library}"


def pool_name(library: str) -> str:
    return f"gdx_{library}"


def library_asset(library: str):
    from airflow.sdk import Asset

    return Asset(name=f"gdx_{library}", uri=asset_uri(library), group="base-library")


def pools() -> dict[str, dict]:
    """The pools `gdx init` creates: one slot each, so one load per library at a time."""
    return {
        pool_name(library): {
            "slots": 1,
            "description": f"gdx: loads into the {library} base library, one at a time",
            "include_deferred": False,
        }
        for library in (*LIBRARIES, DEPARTMENT_GROUP)
    }
