"""The `detail` of the refusals FastAPI and Starlette answer on their own — no route for the
path, a method the path does not serve, a body that is not JSON or not of the documented shape,
a query parameter the route does not take — worded like the hub's own: naming the field or
parameter and what it should be."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from pydantic import BaseModel

API = "/api/v1/"
RESOURCES = API + "resources/"
#: FastAPI's detail for a body it could not read at all (not UTF-8, say)
UNPARSED_BODY = "There was an error parsing the body"


def no_route(request: Request) -> str:
    """A path no route serves: say so, and where the routes (or resources) are listed."""
    method, path = request.method, request.url.path
    shown = path if len(path) <= 120 else path[:117] + "..."
    detail = f"no route {method} {shown}"
    catalog = getattr(request.app.state, "catalog", None)
    if path.startswith(RESOURCES) and catalog is not None:
        code = path[len(RESOURCES) :].split("/", 1)[0]
        if code and code not in catalog.resources:
            return f"{detail}: no resource {code[:80]!r} in the directory (GET /api/v1/catalog)"
    return f"{detail} (the API's routes: /openapi.json, /docs)"


def not_allowed(request: Request, allowed: str) -> str:
    return f"{request.method} is not a method of {request.url.path[:120]}; it serves {allowed}"


def validation(request: Request, errors: Sequence[Any]) -> tuple[int, str]:
    """The status and detail of a request refused by validation (its first error, an unknown
    field before any other): 400 for a body that is not JSON, else 422."""
    if not errors:
        return 422, "invalid request"
    # an unknown field first: it is most often a misspelt one, which is then also "missing"
    unknown = [error for error in errors if error.get("type") == "extra_forbidden"]
    error = (unknown or errors)[0]
    kind, loc = error.get("type", ""), tuple(error.get("loc", ()))
    if kind == "json_invalid":
        position = loc[1] if len(loc) > 1 else None
        why = (error.get("ctx") or {}).get("error") or "JSON decode error"
        at = f" at character {position}" if isinstance(position, int) else ""
        return 400, f"body: not valid JSON ({why}{at})"
    where = _where(loc)
    if kind == "extra_forbidden":
        field = str(loc[-1])[:64] if loc else "?"
        if loc and loc[0] == "query":
            return 422, str(error.get("msg"))
        known = _body_fields(request)
        takes = f" (it takes {', '.join(known)})" if known else ""
        parent = _where(loc[:-1]) or "body"
        return 422, f"{parent}: unknown field {field!r}{takes}"
    if kind == "missing":
        if loc == ("body",):
            return 422, "body: required (a JSON object)"
        return 422, f"{where}: required"
    if kind in ("model_attributes_type", "dict_type", "model_type") and loc[:1] == ("body",):
        if len(loc) == 1:
            return 422, "body: expected a JSON object (Content-Type: application/json)"
    message = str(error.get("msg", "invalid"))
    return 422, f"{where}: {message}" if where else message


def _where(loc: Sequence[Any]) -> str:
    """`body.fields[3]`, `query.limit`, `path.request_id`: where a value is."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _body_fields(request: Request) -> list[str]:
    """The fields of the route's body model, as the document names them."""
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    model = _model(getattr(getattr(body, "field_info", None), "annotation", None))
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for argument in typing.get_args(annotation):
            found = _model(argument)
            if found is not None:
                return found
    return None
