"""The record route's lean path (services.routes.records.lean) answers as FastAPI's declared
handler does: the same status, headers that matter and body, for every form of call it takes
and for those it hands on; the audit record is written for each."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.services.conftest import LI, SECRETS, WANG, ZHANG
from warehouse.tables import audit_log

PERSON = "/api/v1/resources/population.person/records/"
PAYMENT = "/api/v1/resources/human_resources.insurance_payment/records/"
CASES = f"/api/v1/resources/{SECRETS}/records/"

CALLS = [
    ("record", PERSON + LI, {}),
    ("unknown record", PERSON + "220102199003071243", {}),
    ("dead", PERSON + WANG, {}),
    ("bad key shape", PERSON + "not-an-id", {}),
    ("key too long", PERSON + "1" * 65, {}),
    ("conditional without grant", PAYMENT + LI, {}),
    ("not shared", CASES + "A-1", {}),
    ("no purpose", PERSON + ZHANG, {"X-Purpose": None}),
    ("unknown purpose", PERSON + ZHANG, {"X-Purpose": "999999999999"}),
    ("unknown key", PERSON + ZHANG, {"X-API-Key": "gdx_nobody"}),
    ("no key", PERSON + ZHANG, {"X-API-Key": None}),
    ("as_of", PERSON + LI + "?as_of=2020-01-01", {}),
    ("unknown parameter", PERSON + LI + "?stauts=1", {}),
    ("control characters", PERSON + "%01" + LI, {}),
]


def _lean_routes(app):
    return [route for route in app.router.routes if hasattr(route, "gdx_declared_app")]


def test_every_record_route_is_lean_and_matched_first(hub):
    routes = _lean_routes(hub.app)
    assert len(routes) == len(hub.catalog.resources)
    assert hub.app.router.routes[: len(routes)] == routes


@pytest.mark.parametrize(("name", "path", "headers"), CALLS, ids=[c[0] for c in CALLS])
def test_the_lean_path_answers_as_the_declared_handler(hub, name, path, headers):
    def answer():
        client = hub.client()
        for header, value in headers.items():
            if value is None:
                client.headers.pop(header)
            else:
                client.headers[header] = value
        response = client.get(path)
        return response.status_code, response.headers.get("content-type"), response.text

    def audited():
        with hub.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar()

    before = audited()
    lean = answer()
    assert audited() == before + 1
    routes = _lean_routes(hub.app)
    swapped = [(route, route.app) for route in routes]
    try:
        for route in routes:
            route.app = route.gdx_declared_app
        declared = answer()
    finally:
        for route, app in swapped:
            route.app = app
    assert audited() == before + 2
    assert lean[0] < 500, lean
    if name == "record":
        assert lean[0] == 200
    assert lean == declared
