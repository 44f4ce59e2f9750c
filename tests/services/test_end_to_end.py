"""What an approval system does, end to end: find a resource in the directory, request
conditional access, get approved, verify an applicant, pre-fill the materials of a service item —
and the audit log holds every call and verifies."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.services.conftest import LI, PURPOSE
from warehouse import audit

PAYMENT = "human_resources.insurance_payment"


def test_an_approval_system_from_directory_to_materials(hub):
    system = hub.client()
    admin = hub.client("hr_admin", purpose=None)
    calls = 0

    def call(client: TestClient, method: str, url: str, **kwargs):
        nonlocal calls
        calls += 1
        return client.request(method, url, **kwargs)

    # 1. the directory names the conditional resource, its conditions and its endpoints
    found = call(system, "GET", "/api/v1/catalog", params={"q": "社会保险"}).json()
    assert PAYMENT in [item["code"] for item in found["items"]]
    entry = call(system, "GET", f"/api/v1/catalog/{PAYMENT}").json()
    assert entry["share_type"] == "conditional" and entry["share_conditions"]
    item = call(system, "GET", f"/api/v1/service-items/{PURPOSE}").json()
    assert any(
        m.get("resource") == PAYMENT or (m.get("supplied_by") or {}).get("code") == PAYMENT
        for m in item["materials"]
    )

    # 2. without a grant the contributions are not shareable
    before = call(
        system, "GET", f"/api/v1/service-items/{PURPOSE}/materials", params={"applicant": LI}
    ).json()
    assert before["to_collect"] == ["contribution_record", "transfer_form"]

    # 3. request access; the provider's administrator approves it
    filed = call(
        system,
        "POST",
        "/api/v1/access-requests",
        json={
            "resource": PAYMENT,
            "fields": ["insured_region", "insurance_types", "first_paid_on", "months_paid"],
            "purpose": "办理基本医疗保险关系转移接续时核验参保缴费情况",
            "service_item": PURPOSE,
            "requested_until": (dt.date.today() + dt.timedelta(days=60)).isoformat(),
        },
    )
    assert filed.status_code == 201, filed.text
    request = filed.json()
    assert request["status"] == "pending" and request["decide_by"]
    waiting = call(admin, "GET", "/api/v1/access-requests", params={"status": "pending"}).json()
    assert request["id"] in [row["id"] for row in waiting["items"]]
    approved = call(admin, "POST", f"/api/v1/access-requests/{request['id']}/approve", json={})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    # 4. verify the applicant, then pre-fill: only the form is left to collect
    verdict = call(
        system, "POST", "/api/v1/verify/citizen", json={"id_number": LI, "name": "李四"}
    ).json()
    assert verdict["verdict"] == "match"
    after = call(
        system, "GET", f"/api/v1/service-items/{PURPOSE}/materials", params={"applicant": LI}
    ).json()
    assert after["to_collect"] == ["transfer_form"]
    contribution = after["items"][1]["records"][0]["data"]
    assert contribution["months_paid"] == 160 and "monthly_base" not in contribution

    # 5. the audit log holds every call, in order, and verifies
    with hub.engine.connect() as conn:
        check = audit.verify(conn)
        rows = audit.query(conn, limit=1000)
    assert check.ok and check.records == calls
    assert [row["status"] for row in rows].count(201) == 1
    materials = [
        row for row in rows if row["path"].startswith(f"/api/v1/service-items/{PURPOSE}/m")
    ]
    assert [row["consumer"] for row in materials] == ["approval", "approval"]
    assert all(row["purpose"] == PURPOSE and row["keys"] == [LI] for row in materials)
    assert f"{PAYMENT}.months_paid" in materials[1]["fields"]
    assert f"{PAYMENT}.months_paid" not in materials[0]["fields"]
