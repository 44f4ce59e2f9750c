"""The access-request API: a consumer files, the provider's administrator decides; who may see
and decide what; errors as problem+json; on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from quality.dates import today
from services.app import create_app
from tests.services.conftest import is_local
from tests.warehouse.test_grants import SECRET_SALARY, not_shared_catalog
from warehouse import consumers, grants
from warehouse.grants import working_days_after

URL = "/api/v1/access-requests"
INSURANCE = "human_resources.insurance_payment"
TRANSFER = "000212017000"


@pytest.fixture
def api(engine, tmp_path):
    """A client and the keys of an approval system, another one and two administrators."""
    catalog = not_shared_catalog(tmp_path / "imports")
    keys = {}
    with engine.begin() as conn:
        for name, department, role in (
            ("system", "government_services", "consumer"),
            ("other", "civil_affairs", "consumer"),
            ("hr", "human_resources", "admin"),
            ("ps", "public_security", "admin"),
        ):
            _, keys[name] = consumers.add(conn, name, department, role)
    app = create_app(engine, catalog)
    seen: list[dict] = []

    @app.middleware("http")
    async def keep_audit(request, call_next):
        response = await call_next(request)
        seen.append(dict(getattr(request.state, "audit", {})))
        return response

    client = TestClient(app)
    client.keys = keys
    client.audits = seen
    return client


def _as(api, who: str) -> dict[str, str]:
    return {"X-API-Key": api.keys[who]}


def _body(**change) -> dict:
    return {
        "resource": INSURANCE,
        "fields": ["months_paid", "monthly_base"],
        "purpose": "医保关系转移接续时核验参保缴费情况",
        "service_item": TRANSFER,
        "requested_until": (today() + dt.timedelta(days=90)).isoformat(),
    } | change


def _problem(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["detail"]


def _filed(api, who: str = "system") -> dict:
    response = api.post(URL, json=_body(), headers=_as(api, who))
    assert response.status_code == 201, response.text
    return response.json()


def test_a_consumer_files_a_request(api):
    found = _filed(api)
    assert found["status"] == "pending" and found["provider"] == "human_resources"
    assert found["consumer"] == "system" and found["department"] == "government_services"
    assert found["fields"] == ["months_paid", "monthly_base"]
    assert found["decide_by"] == working_days_after(today(), 10).isoformat()
    assert found["overdue"] is False and found["expires_at"] is None
    assert api.audits[-1] | {"consumer_id": 0} == {
        "consumer_id": 0,
        "consumer": "system",
        "resource": INSURANCE,
        "reason": "file: 医保关系转移接续时核验参保缴费情况",
    }


def test_who_sees_which_requests(api):
    filed = _filed(api)["id"]
    theirs = _filed(api, "other")["id"]

    def ids(who: str, query: str = "") -> list[int]:
        response = api.get(URL + query, headers=_as(api, who))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["next"] is None
        return [item["id"] for item in body["items"]]

    assert ids("system") == [filed]
    assert ids("other") == [theirs]
    assert ids("hr") == [theirs, filed]
    assert ids("ps") == []
    assert ids("hr", "?status=approved") == []
    assert ids("hr", "?status=pending") == [theirs, filed]
    _problem(api.get(URL + "?status=lost", headers=_as(api, "hr")), 422)
    assert api.get(f"{URL}/{filed}", headers=_as(api, "system")).json()["id"] == filed
    assert api.get(f"{URL}/{filed}", headers=_as(api, "hr")).status_code == 200
    assert "no access request" in _problem(
        api.get(f"{URL}/{filed}", headers=_as(api, "other")), 404
    )
    _problem(api.get(f"{URL}/{filed}", headers=_as(api, "ps")), 404)
    _problem(api.get(f"{URL}/99999", headers=_as(api, "system")), 404)
    _problem(api.get(f"{URL}/abc", headers=_as(api, "system")), 422)
    # a misspelt filter is refused, not ignored (it would list every request)
    assert "stauts" in _problem(api.get(URL + "?stauts=pending", headers=_as(api, "hr")), 422)
    assert "twice" in _problem(api.get(URL + "?limit=1&limit=2", headers=_as(api, "hr")), 422)


def test_requests_are_listed_in_pages_newest_first(api):
    filed = [_filed(api)["id"] for _ in range(3)]
    seen, link, pages = [], f"{URL}?status=pending&limit=2", 0
    while link:
        page = api.get(link, headers=_as(api, "system")).json()
        seen += [item["id"] for item in page["items"]]
        link, pages = page["next"], pages + 1
    assert seen == filed[::-1] and pages == 2
    whole = api.get(URL + "?limit=3", headers=_as(api, "system")).json()
    assert len(whole["items"]) == 3 and whole["next"] is None  # no empty last page


def test_request_times_are_local_with_their_offset(api):
    request = _filed(api)
    assert is_local(request["filed_at"]) and request["decided_at"] is None
    approved = api.post(f"{URL}/{request['id']}/approve", json={}, headers=_as(api, "hr")).json()
    assert is_local(approved["decided_at"]) and is_local(approved["expires_at"])
    # the end of the grant's last day in the province's zone: midnight, local
    expires = dt.datetime.fromisoformat(approved["expires_at"])
    last_day = dt.date.fromisoformat(approved["requested_until"])
    assert (expires.date(), expires.time()) == (last_day + dt.timedelta(days=1), dt.time())


def test_the_provider_approves_and_the_grant_is_active(api, engine):
    filed = _filed(api)["id"]
    until = (today() + dt.timedelta(days=30)).isoformat()
    response = api.post(
        f"{URL}/{filed}/approve",
        json={"reason": "符合条件", "until": until},
        headers=_as(api, "hr"),
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["status"] == "approved" and found["decided_by"] == "hr"
    assert found["reason"] == "符合条件" and found["expires_at"]
    assert api.audits[-1]["resource"] == INSURANCE and api.audits[-1]["consumer"] == "hr"
    with engine.connect() as conn:
        system = api.get(f"{URL}/{filed}", headers=_as(api, "system")).json()["consumer_id"]
        grant = grants.active(conn, system, INSURANCE, TRANSFER, dt.datetime.now(dt.UTC))
    assert grant.fields == {"months_paid", "monthly_base"}
    again = api.post(f"{URL}/{filed}/approve", headers=_as(api, "hr"))
    assert "is approved" in _problem(again, 409)
    revoked = api.post(f"{URL}/{filed}/revoke", json={"reason": "停止"}, headers=_as(api, "hr"))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    with engine.connect() as conn:
        assert grants.active(conn, system, INSURANCE, TRANSFER, dt.datetime.now(dt.UTC)) is None


def test_approval_without_a_body_takes_the_requested_period(api):
    filed = _filed(api)
    found = api.post(f"{URL}/{filed['id']}/approve", headers=_as(api, "hr")).json()
    assert found["status"] == "approved"
    assert found["requested_until"] == filed["requested_until"]
    later = (today() + dt.timedelta(days=400)).isoformat()
    other = _filed(api)["id"]
    response = api.post(f"{URL}/{other}/approve", json={"until": later}, headers=_as(api, "hr"))
    assert "later than the consumer asked" in _problem(response, 422)


def test_refuse_with_a_reason(api):
    filed = _filed(api)["id"]
    response = api.post(
        f"{URL}/{filed}/refuse", json={"reason": "超出用途"}, headers=_as(api, "hr")
    )
    assert response.status_code == 200
    assert response.json()["status"] == "refused" and response.json()["reason"] == "超出用途"
    assert api.audits[-1]["reason"] == f"refuse access request {filed}: 超出用途"


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}])
def test_refuse_without_a_reason_is_422(api, body):
    filed = _filed(api)["id"]
    response = api.post(f"{URL}/{filed}/refuse", json=body, headers=_as(api, "hr"))
    assert "reason" in _problem(response, 422)


def test_a_consumer_cannot_decide(api):
    filed = _filed(api)["id"]
    response = api.post(f"{URL}/{filed}/approve", headers=_as(api, "system"))
    assert "data administrator" in _problem(response, 403)
    assert "data administrator" in api.audits[-1]["reason"]


def test_another_departments_administrator_cannot_decide(api):
    filed = _filed(api)["id"]
    for action, body in (("approve", None), ("refuse", {"reason": "x"})):
        response = api.post(f"{URL}/{filed}/{action}", json=body, headers=_as(api, "ps"))
        assert "addressed to human_resources" in _problem(response, 403)


def test_the_consumer_withdraws(api):
    filed = _filed(api)["id"]
    _problem(api.post(f"{URL}/{filed}/withdraw", headers=_as(api, "other")), 404)
    response = api.post(f"{URL}/{filed}/withdraw", headers=_as(api, "system"))
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"


def test_a_resource_not_shared_cannot_be_requested(api):
    response = api.post(
        URL, json=_body(resource=SECRET_SALARY, fields=["name"]), headers=_as(api, "system")
    )
    assert "不予共享" in _problem(response, 403)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"fields": ["months_paid"] * 101}, "fields"),
        ({"fields": ["x" * 65]}, "fields"),
        ({"fields": []}, "fields"),
        ({"fields": ["nope"]}, "fields: 'nope'"),
        ({"purpose": "用" * 501}, "purpose"),
        ({"purpose": " "}, "purpose"),
        ({"service_item": "nope"}, "service_item"),
        ({"requested_until": "tomorrow"}, "requested_until"),
        ({"requested_until": "2020-01-01"}, "requested_until"),
        ({"resource": "legal_entity.organization", "fields": ["legal_rep_id"]}, "secret"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_requests_are_422(api, change, where):
    response = api.post(URL, json=_body(**change), headers=_as(api, "system"))
    assert where in _problem(response, 422)


def test_an_administrator_does_not_file(api):
    assert "administrator" in _problem(api.post(URL, json=_body(), headers=_as(api, "hr")), 403)


def test_without_a_key_is_401(api):
    _problem(api.post(URL, json=_body()), 401)
    _problem(api.get(URL), 401)
