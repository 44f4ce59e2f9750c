"""Verification returns a verdict, never the data."""

from __future__ import annotations

import pytest

from tests.services.conftest import FOODS, LI, REVOKED, WANG, ZHANG
from tests.services.test_access import problem


@pytest.mark.parametrize(
    ("claim", "verdict", "state"),
    [
        ({"id_number": ZHANG, "name": "张三"}, "match", "active"),
        ({"id_number": "11010519491231002x", "name": " 张 三 "}, "match", "active"),
        ({"id_number": LI, "name": "张三"}, "mismatch", "active"),
        ({"id_number": WANG, "name": "王五"}, "match", "ended"),
        ({"id_number": "220102199003071243", "name": "张三"}, "not_found", None),
    ],
)
def test_citizen(hub, claim, verdict, state):
    body = hub.client().post("/api/v1/verify/citizen", json=claim).json()
    assert body == {"verdict": verdict, "state": state}


def test_entity(hub):
    client = hub.client()
    ok = client.post(
        "/api/v1/verify/entity", json={"uscc": FOODS, "name": "长春市禾丰食品有限公司"}
    )
    assert ok.json() == {"verdict": "match", "state": "active"}
    gone = client.post(
        "/api/v1/verify/entity", json={"uscc": REVOKED, "name": "通化市旧货贸易有限公司"}
    )
    assert gone.json() == {"verdict": "match", "state": "ended"}
    problem(
        client.post("/api/v1/verify/entity", json={"uscc": "91220402Q01892388X", "name": "x"}), 422
    )


@pytest.mark.parametrize(
    ("number", "holder", "verdict"),
    [
        ("220104000012345", FOODS, "valid"),
        ("JY12201040001234", FOODS, "expired"),  # valid_until 2025-01-01
        ("220502000054321", REVOKED, "revoked"),
        ("220104000012345", REVOKED, "not_found"),  # the right number, another holder
        ("000", FOODS, "not_found"),
    ],
)
def test_licence(hub, number, holder, verdict):
    body = (
        hub.client()
        .post("/api/v1/verify/licence", json={"licence_no": number, "holder_id": holder})
        .json()
    )
    assert body["verdict"] == verdict
    assert set(body) == {"verdict", "status_zh"}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        # a holder that is neither a citizen ID nor a USCC could never match: a typo is a
        # refusal naming the field, never a silent not_found
        ({"licence_no": "220104000012345", "holder_id": "91220402Q0189238"}, "holder_id"),
        ({"licence_no": "220104000012345", "holder_id": "91220402Q01892388X"}, "holder_id"),
        ({"licence_no": "220104000012345"}, "body.holder_id: required"),
        # a misspelt field is named first: it is why the right one is missing
        ({"licence_no": "220104000012345", "holder": FOODS}, "unknown field 'holder'"),
        (
            {"licence_no": "220104000012345", "holder_id": FOODS, "type": "BL01"},
            "unknown field 'type' (it takes licence_no, holder_id)",
        ),
    ],
)
def test_a_licence_claim_of_the_wrong_shape_is_422(hub, body, said):
    detail = problem(hub.client().post("/api/v1/verify/licence", json=body), 422)["detail"]
    assert said in detail


def test_verification_needs_a_purpose_and_a_key(hub):
    problem(
        hub.client(purpose=None).post(
            "/api/v1/verify/citizen", json={"id_number": ZHANG, "name": "张三"}
        ),
        400,
    )
    client = hub.client()
    client.headers.pop("X-API-Key")
    problem(client.post("/api/v1/verify/citizen", json={"id_number": ZHANG, "name": "张三"}), 401)
    problem(hub.client().post("/api/v1/verify/citizen", json={"id_number": ZHANG}), 422)
