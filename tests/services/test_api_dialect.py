"""The API speaks one dialect, held by walking /openapi.json: every operation, whatever it is
asked, answers an error as problem+json with a detail that says what was wrong; a made-up
resource, id or key is 404; a body that is not JSON is 400 and one with an unknown field 422
naming it; an unknown query parameter is 422 naming it; every request body refuses properties
it does not declare; every list is `{"items": [...], "next": ...}`; summaries read well."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.services.conftest import FOOD_PERMIT, PURPOSE, SECRETS
from tests.services.schemathesis_hooks import _citizen_id, _uscc

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")
UNKNOWN_CITIZEN = _citizen_id(110105, dt.date(1980, 1, 1), 777, False)
UNKNOWN_USCC = _uscc("91220402", "MA0000XA")
UNKNOWN_QUERY = "zz_unknown"


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _bodies(document: dict, schema: dict) -> list[dict]:
    """The object schemas a body may be (an optional body is `anyOf` it and null)."""
    schema = _resolve(document, schema)
    if "anyOf" in schema:
        return [found for part in schema["anyOf"] for found in _bodies(document, part)]
    return [] if schema.get("type") == "null" else [schema]


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _made_up(parameter: dict) -> str:
    """A value of the parameter's shape that names nothing the hub holds."""
    schema = parameter.get("schema", {})
    if schema.get("type") == "integer":
        return str(schema.get("maximum", 2**31 - 1))
    formats = {schema.get("format")} | {
        part.get("format") for part in schema.get("anyOf", []) if isinstance(part, dict)
    }
    if "citizen-id" in formats:
        return UNKNOWN_CITIZEN
    if "uscc" in formats:
        return UNKNOWN_USCC
    if parameter["name"] == "code" and "enum" not in schema:
        return "nope.unknown"
    if parameter["name"] == "code":
        return "999999999999"
    return "ZZ-UNKNOWN-1"


def _url(path: str, operation: dict) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", _made_up(parameter))
    return path


def _purpose(path: str) -> str:
    return FOOD_PERMIT if path.startswith("/api/v1/service-items/999") else PURPOSE


def assert_problem(response, status: int | None = None) -> dict:
    """An error as RFC 9457 says, with a detail that is more than the status's phrase."""
    if status is not None:
        assert response.status_code == status, (response.request.url, response.text)
    assert response.status_code >= 400, (response.request.url, response.text)
    assert response.headers["content-type"] == PROBLEM, (response.request.url, response.text)
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"}, body
    assert body["status"] == response.status_code and body["title"]
    assert body["detail"] and body["detail"] != body["title"], body
    return body


@pytest.fixture
def walked(hub):
    client = hub.client()
    document = client.get("/openapi.json").json()
    return hub, client, document


def test_the_document_declares_one_dialect(walked):
    _, _, document = walked
    operations = _operations(document)
    assert len(operations) > 30
    doubled = re.compile(r"\b(\w+?)s?\W+\1s?\b", re.IGNORECASE)
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("summary") and not doubled.search(operation["summary"]), where
        for status, response in operation["responses"].items():
            if int(status) >= 400:  # every error is a Problem
                content = response.get("content", {})
                assert list(content) == [PROBLEM], (where, status)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if not schema:
                continue
            schema = _resolve(document, schema)
            assert schema.get("type") != "array", f"{where}: a bare list"
            if method == "get" and not path.endswith("}"):  # a collection
                _one_list_shape(document, where, schema)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            for schema in _bodies(document, body["schema"]):
                assert schema.get("additionalProperties") is False, f"{where}: {schema}"


def _one_list_shape(document: dict, where: str, schema: dict) -> None:
    """A list of objects is `items`, beside a `next` link (null on the last page)."""
    properties = schema.get("properties", {})
    lists = [
        name
        for name, value in properties.items()
        if value.get("type") == "array"
        and _resolve(document, value.get("items", {})).get("type", "object") == "object"
    ]
    if not lists:
        return
    assert lists == ["items"], f"{where}: lists {lists}"
    assert "next" in properties and {"items", "next"} <= set(schema.get("required", [])), where


def test_every_operation_refuses_in_problems(walked):
    hub, client, document = walked
    conditional = "human_resources.insurance_payment"
    hub.grant("approval", conditional, [f.name for f in hub.catalog.resource(conditional).fields])
    not_shared = tuple(
        f"/api/v1/resources/{code}/"
        for code, resource in hub.catalog.resources.items()
        if resource.share_type == "not_shared"
    )
    assert not_shared
    for method, path, operation in _operations(document):
        where = f"{method.upper()} {path}"
        url = _url(path, operation)
        headers = {"X-Purpose": _purpose(url)}
        # an unknown query parameter is refused, and named
        asked = client.request(method, url, params={UNKNOWN_QUERY: "1"}, headers=headers)
        assert UNKNOWN_QUERY in assert_problem(asked, 422)["detail"], where
        if "requestBody" in operation:
            broken = client.request(
                method,
                url,
                content=b'{"keys": [',
                headers={**headers, "Content-Type": "application/json"},
            )
            assert "not valid JSON" in assert_problem(broken, 400)["detail"], where
            extra = client.request(method, url, json={UNKNOWN_QUERY: 1}, headers=headers)
            detail = assert_problem(extra, 422)["detail"]
            assert f"unknown field '{UNKNOWN_QUERY}'" in detail, (where, detail)
        # a made-up id, code or key: 404 (a subject's lists answer empty), never a bare error
        made_up = client.request(method, url, headers=headers)
        if made_up.status_code >= 400:
            assert_problem(made_up)
        if method == "get" and path.endswith("}"):
            assert_problem(made_up, 403 if path.startswith(not_shared) else 404)
        # a method the path does not serve
        other = "put" if method != "put" else "patch"
        assert "is not a method of" in assert_problem(client.request(other, url), 405)["detail"]


def test_a_made_up_resource_or_path_is_a_problem_that_names_it(walked):
    hub, client, _ = walked
    for tail in ("records/1", "records", "records:batch"):
        body = assert_problem(client.get(f"/api/v1/resources/nope.unknown/{tail}"), 404)
        assert "no resource 'nope.unknown' in the directory" in body["detail"]
    assert "no route GET /nowhere" in assert_problem(client.get("/nowhere"), 404)["detail"]
    # the same without a key: a path no route serves is no secret
    anonymous = hub.client()
    anonymous.headers.pop("X-API-Key")
    assert_problem(anonymous.get("/api/v1/resources/nope.unknown/records/1"), 404)
    assert_problem(anonymous.get("/api/v1/catalog", params={UNKNOWN_QUERY: 1}), 422)


def test_every_list_answers_items_and_next(walked):
    """Walked with real values: every collection the document lists answers the one shape."""
    hub, client, document = walked
    hub.grant("approval", "human_resources.insurance_payment", ["months_paid", "name"])
    values: dict[str, Any] = {
        "/api/v1/resources/population.person/records": {"name": "张三"},
        "/api/v1/resources/legal_entity.organization/records": {"status": "存续"},
        "/api/v1/resources/e_licence.licence/records": {"status": "有效"},
        "/api/v1/resources/credit.record/records": {"category": "行政处罚"},
        "/api/v1/resources/human_resources.insurance_payment/records": {"months_paid": "160"},
        "/api/v1/service-items/{code}/materials": {"applicant": UNKNOWN_CITIZEN},
    }
    checked = 0
    for method, path, operation in _operations(document):
        schema = operation["responses"].get("200", {}).get("content", {})
        if method != "get" or path.endswith("}") or "application/json" not in schema:
            continue
        properties = _resolve(document, schema["application/json"].get("schema", {}))
        if "items" not in properties.get("properties", {}) or SECRETS in path:
            continue  # (a resource not shared answers 403)
        url = path.replace("{code}", PURPOSE).replace("{subject}", UNKNOWN_USCC)
        answer = client.get(url, params=values.get(path, {}))
        assert answer.status_code == 200, (path, answer.text)
        body = answer.json()
        assert isinstance(body["items"], list) and "next" in body, path
        checked += 1
    assert checked >= 10  # 5 record queries, the directory, service items, access requests...
