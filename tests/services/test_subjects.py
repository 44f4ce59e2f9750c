"""A subject's licences and credit: one list shape (`items`, `next`), paged; a legal entity's
USCC in clear, a person's citizen ID masked."""

from __future__ import annotations

from gdx.pipeline import load_file
from tests.services.conftest import FOODS, LI, documented, write_csv
from tests.services.test_access import problem

LICENCE = "e_licence.licence"


def test_licences_of_an_entity(hub):
    body = hub.client().get(f"/api/v1/subjects/{FOODS}/licences").json()
    assert body["subject_type"] == "entity" and body["next"] is None
    by_id = {item["key"]: item for item in body["items"]}
    assert set(by_id) == {"BL01-1", "FB01-1"}
    assert by_id["FB01-1"]["data"]["status"] == "过期"  # derived from valid_until
    # a legal entity's code is public: the holder's USCC is shown in clear
    assert by_id["BL01-1"]["data"]["holder_id"] == FOODS
    assert "holder_id" not in by_id["BL01-1"]["masked_fields"]
    assert hub.client().get(f"/api/v1/subjects/{LI}/licences").json()["items"] == []


def _teacher_licences(hub, tmp_path, count: int) -> None:
    """`count` teacher's certificates held by 李四, a person."""
    rows = [
        {
            "licence_id": f"TC01-{n:02d}",
            "licence_type_code": "TC01",
            "licence_type_name": "教师资格证书",
            "licence_no": f"2019220010{n:06d}",
            "holder_type": "自然人",
            "holder_id": LI,
            "holder_name": "李四",
            "issuer_name": "长春市教育局",
            "issued_on": "2019-07-01",
            "valid_from": "2019-07-01",
            "status": "有效",
        }
        for n in range(count)
    ]
    path = write_csv(tmp_path / "teachers.csv", rows)
    load_file(path, LICENCE, "education", engine=hub.engine, catalog=hub.catalog)


def test_a_persons_citizen_id_stays_masked_by_the_same_field(hub, tmp_path):
    _teacher_licences(hub, tmp_path, 1)
    client = hub.client()
    body = client.get(f"/api/v1/subjects/{LI}/licences").json()
    (item,) = body["items"]
    assert item["data"]["holder_id"] == "220102********1235"
    assert item["masked_fields"] == ["holder_id"]
    # the same rule on every route that serves the field: by key, by query, in a batch
    url = f"/api/v1/resources/{LICENCE}/records"
    person = documented(hub.catalog.resource(LICENCE), client.get(f"{url}/TC01-00"))
    entity = documented(hub.catalog.resource(LICENCE), client.get(f"{url}/BL01-1"))
    assert person["data"]["holder_id"] == "220102********1235"
    assert entity["data"]["holder_id"] == FOODS and entity["masked_fields"] == []
    batch = client.post(f"{url}:batch", json={"keys": ["TC01-00", "BL01-1"]}).json()
    assert [i["data"]["holder_id"] for i in batch["items"]] == ["220102********1235", FOODS]
    queried = client.get(url, params={"holder_name": "李四"}).json()["items"]
    assert [i["data"]["holder_id"] for i in queried] == ["220102********1235"]
    # a grant that names the field shows the citizen ID too
    hub.grant("approval", LICENCE, ["holder_id"])
    (item,) = client.get(f"/api/v1/subjects/{LI}/licences").json()["items"]
    assert item["data"]["holder_id"] == LI and item["masked_fields"] == []


def test_licences_are_paged_with_a_cursor(hub, tmp_path):
    _teacher_licences(hub, tmp_path, 5)
    client = hub.client()
    url = f"/api/v1/subjects/{LI}/licences"
    first = client.get(url, params={"limit": 2}).json()
    seen = [item["key"] for item in first["items"]]
    link = first["next"]
    while link:
        page = client.get(link).json()
        seen += [item["key"] for item in page["items"]]
        link = page["next"]
    assert seen == [f"TC01-{n:02d}" for n in range(5)]
    exact = client.get(url, params={"limit": 5}).json()
    assert len(exact["items"]) == 5 and exact["next"] is None  # no empty last page
    # a cursor belongs to its subject and list
    cursor = first["next"].split("after=")[1]
    foreign = client.get(f"/api/v1/subjects/{FOODS}/licences", params={"after": cursor})
    assert "not a cursor" in problem(foreign, 422)["detail"]


def test_credit_of_an_entity(hub):
    body = hub.client().get(f"/api/v1/subjects/{FOODS}/credit").json()
    assert body["status"] == "warning"  # a penalty within the last 365 days
    assert [item["key"] for item in body["items"]] == ["CF-1"]  # CF-2 was removed from the list
    assert body["next"] is None
    person = hub.client().get(f"/api/v1/subjects/{LI}/credit").json()
    assert person["subject_type"] == "person" and person["items"] == []
    assert person["status"] == hub.catalog.resource("credit.record").subject_status.otherwise


def test_a_subject_must_be_an_id_or_a_uscc(hub):
    assert "neither" in problem(hub.client().get("/api/v1/subjects/12345/credit"), 422)["detail"]
