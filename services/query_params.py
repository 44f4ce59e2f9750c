"""A query parameter a route does not take, or one given twice, is refused (422) as an unknown
field of a body is: a misspelt filter (`?stauts=pending`) must not silently answer everything.

An app-wide dependency, so it runs before the route's own (the key is asked for after the
request's form is judged). A route that declares its query parameters in the document itself
(`openapi_extra`, the filtered query of records) checks them itself, with its own wording.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


async def known_query(request: Request) -> None:
    """Refuse a query parameter the matched route does not declare, or one given twice."""
    if not request.scope.get("query_string"):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return  # the documentation's pages take what their scripts add
    taken = _taken(route)
    if taken is None:
        return
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if name not in taken:
            takes = f"it takes {', '.join(taken)}" if taken else "it takes none"
            message = (
                f"query parameter {name[:64]!r}: not a parameter of {request.method} "
                f"{route.path_format} ({takes})"
            )
        elif name in seen:
            message = f"query parameter {name!r}: given twice"
        else:
            seen.add(name)
            continue
        raise RequestValidationError(
            [{"type": "extra_forbidden", "loc": ("query", name), "msg": message, "input": value}]
        )


_UNSET = object()


def _taken(route: APIRoute) -> tuple[str, ...] | None:
    """The query parameters `route` declares, or None when the route checks its own (worked
    out once per route, kept on it)."""
    found = getattr(route, "_gdx_query_parameters", _UNSET)
    if found is _UNSET:
        extra = (route.openapi_extra or {}).get("parameters") or []
        if any(parameter.get("in") == "query" for parameter in extra):
            found = None
        else:
            flat = get_flat_dependant(route.dependant)
            found = tuple(dict.fromkeys(param.alias for param in flat.query_params))
        route._gdx_query_parameters = found  # type: ignore[attr-defined]
    return found  # type: ignore[return-value]
