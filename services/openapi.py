"""The OpenAPI document, completed with what the routes alone do not say: the statuses the
middlewares answer (408 and 413 for any body, 503 when a call's audit record cannot be written),
the Problem schema of every error, and the values the directory declares (the service items
X-Purpose names, the departments a directory filter names)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from catalog_schema import Catalog
from services.audit import PREFIX
from services.problems import Problem, responses

DIRECTORY = PREFIX + "catalog"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def install(app: FastAPI, catalog: Catalog) -> None:
    """Serve the completed document at /openapi.json (built once, on the first call)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=declared(app.routes),
            )
            app.openapi_schema = complete(document, catalog)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def declared(routes: list) -> list:
    """`routes` in the order they were declared (services.app.records_first moves some to the
    front for speed); routes added later keep theirs, after them."""
    last = len(routes)
    return sorted(routes, key=lambda route: getattr(route, "gdx_declared", last))


def complete(document: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema()
    components.pop("HTTPValidationError", None)  # refusals are problems, never FastAPI's
    components.pop("ValidationError", None)
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            answered = operation.setdefault("responses", {})
            extra = (408, 413, 503) if path.startswith(PREFIX) else (408, 413)
            if "422" in answered and "application/json" in answered["422"].get("content", {}):
                extra += (422,)  # FastAPI's own entry: the handler answers a problem
            for status, response in responses(*extra).items():
                if status == 422 or str(status) not in answered:
                    answered[str(status)] = response
            for parameter in operation.get("parameters", []):
                _declared_values(path, parameter, catalog)
    return document


def _declared_values(path: str, parameter: dict[str, Any], catalog: Catalog) -> None:
    """Name the values the directory declares for a parameter that takes one of them."""
    if parameter["in"] == "header" and parameter["name"].lower() == "x-purpose":
        parameter["required"] = True  # a data call without it is refused (400)
        parameter["schema"] = {"type": "string", "enum": sorted(catalog.service_items)}
    elif path.startswith(DIRECTORY) and parameter["name"] == "provider":
        parameter["schema"] = {"type": "string", "enum": sorted(catalog.departments)}
