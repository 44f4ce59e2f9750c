"""A subject's licences and credit."""

from __future__ import annotations

from tests.services.conftest import FOODS, LI
from tests.services.test_access import problem


def test_licences_of_an_entity(hub):
    body = hub.client().get(f"/api/v1/subjects/{FOODS}/licences").json()
    assert body["subject_type"] == "entity"
    by_id = {item["key"]: item for item in body["licences"]}
    assert set(by_id) == {"BL01-1", "FB01-1"}
    assert by_id["FB01-1"]["data"]["status"] == "过期"  # derived from valid_until
    assert by_id["BL01-1"]["data"]["holder_id"] != FOODS  # sensitive: masked
    assert hub.client().get(f"/api/v1/subjects/{LI}/licences").json()["licences"] == []


def test_credit_of_an_entity(hub):
    body = hub.client().get(f"/api/v1/subjects/{FOODS}/credit").json()
    assert body["status"] == "warning"  # a penalty within the last 365 days
    assert [item["key"] for item in body["live_records"]] == [
        "CF-1"
    ]  # CF-2 was removed from the list
    person = hub.client().get(f"/api/v1/subjects/{LI}/credit").json()
    assert person["subject_type"] == "person" and person["live_records"] == []
    assert person["status"] == hub.catalog.resource("credit.record").subject_status.otherwise


def test_a_subject_must_be_an_id_or_a_uscc(hub):
    assert "neither" in problem(hub.client().get("/api/v1/subjects/12345/credit"), 422)["detail"]
