"""Materials pre-fill: supplied, not available, not shareable, or handed in by the applicant."""

from __future__ import annotations

from tests.services.conftest import FOOD_PERMIT, FOODS, LI, PURPOSE, ZHANG
from tests.services.test_access import problem

URL = "/api/v1/service-items/{}/materials"


def statuses(body: dict) -> dict[str, str]:
    return {item["code"]: item["status"] for item in body["items"]}


def test_insurance_transfer_without_and_with_a_grant(hub):
    client = hub.client()
    body = client.get(URL.format(PURPOSE), params={"applicant": LI}).json()
    assert statuses(body) == {
        "identity": "supplied",
        "contribution_record": "not_shareable",  # conditional, no grant yet
        "transfer_form": "from_applicant",
    }
    assert body["to_collect"] == ["contribution_record", "transfer_form"]
    identity = body["items"][0]["records"][0]["data"]
    assert identity["name"] == "李四" and identity["id_number"] == "220102********1235"
    assert body["items"][0]["masked_fields"] == ["id_number"]

    hub.grant("approval", "human_resources.insurance_payment", ["months_paid", "insured_region"])
    body = client.get(URL.format(PURPOSE), params={"applicant": LI}).json()
    contribution = body["items"][1]
    assert contribution["status"] == "supplied" and body["supplied"] == 2
    assert contribution["records"][0]["data"] == {
        "insured_region": "220102",
        "months_paid": 160,
    }
    assert "monthly_base" in contribution["withheld_fields"]


def test_no_data_is_not_available(hub):
    hub.grant("approval", "human_resources.insurance_payment", ["months_paid"])
    body = hub.client().get(URL.format(PURPOSE), params={"applicant": ZHANG}).json()
    assert statuses(body)["contribution_record"] == "not_available"


def test_food_permit_for_an_entity(hub):
    body = (
        hub.client(purpose=FOOD_PERMIT)
        .get(URL.format(FOOD_PERMIT), params={"applicant": FOODS})
        .json()
    )
    assert statuses(body) == {
        "business_licence": "supplied",
        "entity_registration": "supplied",
        "credit_record": "supplied",
        "application_form": "from_applicant",
        "food_safety_rules": "from_applicant",
    }
    licence = body["items"][0]["records"]
    assert [item["key"] for item in licence] == [
        "BL01-1"
    ]  # the food permit is not the business licence
    assert (
        len(body["items"][2]["records"]) == 1
    )  # the live credit record; the removed one is not live... kept by state


def test_refusals(hub):
    client = hub.client()
    assert (
        "person"
        in problem(client.get(URL.format(PURPOSE), params={"applicant": FOODS}), 422)["detail"]
    )
    problem(
        client.get(URL.format(FOOD_PERMIT), params={"applicant": FOODS}), 403
    )  # purpose differs
    problem(client.get(URL.format("000000000000"), params={"applicant": LI}), 404)
    problem(client.get(URL.format(PURPOSE)), 422)
