"""Share types enforced: every consumer × share type × grant state, the purpose header, and
bad input in every parameter — each refusal a 4xx problem, never a 500 or a leak."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest

from tests.services.conftest import LI, PURPOSE, SECRETS, ZHANG, documented

PERSON = "/api/v1/resources/population.person/records/"
PAYMENT = "/api/v1/resources/human_resources.insurance_payment/records/"
CASES = f"/api/v1/resources/{SECRETS}/records/"
GRANTED = ["months_paid", "monthly_base", "insured_region"]


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


# grant state -> (unconditional: sensitive unmasked?, conditional: served?)
STATES = {
    "none": (False, False),
    "pending": (False, False),
    "approved": (True, True),
    "refused": (False, False),
    "expired": (False, False),
    "revoked": (False, False),
    "other_purpose": (False, False),
    "other_consumer": (False, False),
}


def _make(hub, state: str, resource: str, fields: list[str]) -> None:
    if state == "none":
        return
    if state in {"pending", "refused", "approved"}:
        hub.grant("approval", resource, fields, status=state)
    elif state == "expired":
        hub.grant("approval", resource, fields, expires_in=dt.timedelta(seconds=-1))
    elif state == "revoked":
        hub.grant("approval", resource, fields, revoked=True)
    elif state == "other_purpose":
        hub.grant("approval", resource, fields, purpose="000212005000")
    elif state == "other_consumer":
        hub.grant("other", resource, fields)


@pytest.mark.parametrize("state", list(STATES))
def test_matrix(hub, state):
    unmasks, serves = STATES[state]
    _make(hub, state, "population.person", ["household_address"])
    _make(hub, state, "human_resources.insurance_payment", GRANTED)
    client = hub.client()

    person = client.get(PERSON + ZHANG)
    data = documented(hub.catalog.resource("population.person"), person)["data"]
    assert data["name"] == "张三" and data["id_number"] == "110105********002X"
    if unmasks:
        assert data["household_address"] == "北京市朝阳区建国路1号"
        assert "household_address" not in person.json()["masked_fields"]
    else:
        assert data["household_address"] != "北京市朝阳区建国路1号"
        assert "household_address" in person.json()["masked_fields"]

    payment = client.get(PAYMENT + LI)
    if serves:
        served = documented(hub.catalog.resource("human_resources.insurance_payment"), payment)
        served = served["data"]
        assert set(served) == set(GRANTED)  # only what the grant names
        assert served["monthly_base"] == 8200 and served["months_paid"] == 160  # numbers
        assert payment.json()["masked_fields"] == []
    else:
        body = problem(payment, 403)
        assert "access request" in body["detail"] and "8200" not in payment.text
        if state in {"expired", "revoked"}:
            assert state in body["detail"]  # says why the grant stopped working

    cases = client.get(CASES + "A-1")
    assert "不予共享" in problem(cases, 403)["detail"] and "机密" not in cases.text


def test_other_consumer_never_sees_a_grant_it_does_not_hold(hub):
    hub.grant("approval", "human_resources.insurance_payment", GRANTED)
    problem(hub.client("other").get(PAYMENT + LI), 403)
    assert hub.client("approval").get(PAYMENT + LI).status_code == 200


def test_a_revocation_acts_on_the_next_call(hub):
    request = hub.grant("approval", "human_resources.insurance_payment", GRANTED)
    client = hub.client()
    assert client.get(PAYMENT + LI).status_code == 200
    from warehouse.tables import access_request

    with hub.engine.begin() as conn:
        conn.execute(
            access_request.update()
            .where(access_request.c.id == request)
            .values(status="revoked", revoked_at=dt.datetime.now(dt.UTC))
        )
    problem(client.get(PAYMENT + LI), 403)


def test_secret_fields_are_never_served_even_when_granted(hub):
    hub.grant("approval", "legal_entity.organization", ["legal_rep_id", "name"])
    from tests.services.conftest import FOODS

    body = hub.client().get(f"/api/v1/resources/legal_entity.organization/records/{FOODS}").json()
    assert "legal_rep_id" not in body["data"]


def test_purpose_is_required_and_must_be_declared(hub):
    body = problem(hub.client(purpose=None).get(PERSON + ZHANG), 400)
    assert "X-Purpose" in body["detail"]
    forged = hub.client(purpose="999999999999").get(PERSON + ZHANG)
    assert "not a service item" in problem(forged, 400)["detail"]
    injected = hub.client(purpose="1' OR '1'='1").get(PERSON + ZHANG)
    problem(injected, 400)


def test_unknown_and_revoked_keys(hub):
    client = hub.client()
    problem(client.get(PERSON + "220102199003071243"), 404)
    problem(client.get(PERSON + "not-an-id"), 422)
    with hub.engine.begin() as conn:
        from warehouse import consumers

        consumers.revoke_named(conn, "approval")
    problem(client.get(PERSON + ZHANG), 401)
    missing = hub.client()
    missing.headers.pop("X-API-Key")
    problem(missing.get(PERSON + ZHANG), 401)


ATTACKS = [
    "1 OR 1=1",
    "'; DROP TABLE population_person; --",
    "x" * 5000,
    "%00",
    "\u0000",
    "../../etc/passwd",
]


@pytest.mark.parametrize("value", ATTACKS)
def test_attacks_in_every_parameter_are_4xx(hub, value):
    client = hub.client()
    responses = [
        client.get(PERSON + quote(value, safe="")),
        client.get(PERSON + ZHANG, params={"as_of": value}),
        client.get("/api/v1/resources/population.person/records", params={"name": value}),
        client.get("/api/v1/resources/population.person/records", params={value[:50]: "x"}),
        client.get(
            "/api/v1/resources/population.person/records",
            params={"name": "张三", "limit": value},
        ),
        client.post("/api/v1/resources/population.person/records:batch", json={"keys": [value]}),
        client.post("/api/v1/verify/citizen", json={"id_number": value, "name": value}),
        client.get(f"/api/v1/subjects/{quote(value, safe='')}/credit"),
        client.get(f"/api/v1/service-items/{PURPOSE}/materials", params={"applicant": value}),
    ]
    for response in responses:
        assert 200 <= response.status_code < 500, (response.request.url, response.text)
        assert response.status_code != 500
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
    with hub.engine.connect() as conn:
        import sqlalchemy as sa

        assert conn.execute(sa.text("SELECT count(*) FROM population_person")).scalar() == 3


def test_every_refusal_is_audited_with_its_reason(hub):
    from warehouse import audit

    client = hub.client()
    anonymous = hub.client(purpose=None)
    anonymous.headers.pop("X-API-Key")
    statuses = [
        client.get(PAYMENT + LI).status_code,  # conditional, no grant
        client.get(CASES + "A-1").status_code,  # not shared
        hub.client(purpose="999999999999").get(PERSON + ZHANG).status_code,  # forged purpose
        anonymous.get(PERSON + ZHANG).status_code,  # no key
        client.post(
            "/api/v1/resources/population.person/records:batch", json={"keys": [ZHANG] * 10_000}
        ).status_code,
    ]
    assert statuses == [403, 403, 400, 401, 422]
    with hub.engine.connect() as conn:
        rows = audit.query(conn, limit=100)
        assert audit.verify(conn).ok
    assert [row["status"] for row in rows] == statuses
    assert rows[0]["consumer"] == "approval" and rows[0]["purpose"] == PURPOSE
    assert rows[0]["resource"] == "human_resources.insurance_payment" and rows[0]["keys"] == [LI]
    assert "access request" in rows[0]["reason"] and "不予共享" in rows[1]["reason"]
    assert rows[3]["consumer"] is None and rows[3]["reason"]
    assert rows[4]["consumer"] == "approval" and rows[4]["resource"] == "population.person"
    assert all(row["fields"] == [] for row in rows)  # nothing left the hub


def test_control_characters_in_request_texts_are_422(hub):
    body = {
        "resource": "human_resources.insurance_payment",
        "fields": ["months_paid"],
        "purpose": "a\u0000b",
        "service_item": PURPOSE,
        "requested_until": (dt.date.today() + dt.timedelta(days=9)).isoformat(),
    }
    problem(hub.client().post("/api/v1/access-requests", json=body), 422)


def test_a_licence_not_found_is_audited_with_the_number_asked(hub):
    from warehouse import audit

    claim = {"licence_no": "JY99999999", "holder_id": "91220402Q01892388C"}
    assert hub.client().post("/api/v1/verify/licence", json=claim).json()["verdict"] == "not_found"
    with hub.engine.connect() as conn:
        (row,) = audit.query(conn, limit=5)
    assert row["keys"] == ["JY99999999"] and row["resource"] == "e_licence.licence"
