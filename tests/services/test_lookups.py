"""Records beyond one key: the filtered query with keyset paging and the batch look-up."""

from __future__ import annotations

import datetime as dt

from tests.services.conftest import LI, WANG, ZHANG
from tests.services.test_access import problem

QUERY = "/api/v1/resources/population.person/records"
BATCH = "/api/v1/resources/population.person/records:batch"


def test_equality_and_date_range(hub):
    client = hub.client()
    body = client.get(QUERY, params={"ethnicity": "汉族"}).json()
    assert [item["key"] for item in body["items"]] == [ZHANG, WANG]
    assert body["items"][1]["state"] == "ended"  # died: still served, marked ended
    assert body["items"][0]["data"]["id_number"] == "110105********002X"  # still masked
    ranged = client.get(
        QUERY, params={"birth_date_from": "1980-01-01", "birth_date_to": "1990-12-31"}
    )
    assert [item["key"] for item in ranged.json()["items"]] == [WANG, LI]
    assert client.get(QUERY, params={"birth_date_from": "2000-01-01"}).json()["items"] == []


def test_keyset_paging_walks_every_record_once(hub):
    client = hub.client()
    seen, url, params = [], QUERY, {"birth_date_from": "1900-01-01", "limit": "1"}
    while url:
        body = client.get(url, params=params).json()
        seen += [item["key"] for item in body["items"]]
        url, params = body["next"], None
    assert seen == sorted([ZHANG, LI, WANG])


def test_query_refusals(hub):
    client = hub.client()
    assert "at least one filter" in problem(client.get(QUERY), 422)["detail"]
    assert "sensitive field" in problem(client.get(QUERY, params={"phone": "1"}), 422)["detail"]
    assert (
        "not a query parameter" in problem(client.get(QUERY, params={"colour": "x"}), 422)["detail"]
    )
    problem(client.get(QUERY, params={"name": "张三", "limit": "101"}), 422)
    problem(client.get(QUERY, params={"birth_date_from": "yesterday"}), 422)
    problem(client.get(QUERY + "?name=a&name=b"), 422)


def test_batch_lookup(hub):
    client = hub.client()
    unknown = "220102199003071243"
    body = client.post(
        BATCH, json={"keys": [LI, "11010519491231002x", unknown, "nonsense", LI]}
    ).json()
    assert [item["key"] for item in body["items"]] == [LI, ZHANG]
    assert body["not_found"] == [unknown] and body["removed"] == []
    assert body["invalid"][0]["key"] == "nonsense" and "citizen_id" in body["invalid"][0]["detail"]


def test_batch_as_of_reads_history(hub):
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    body = hub.client().post(BATCH, json={"keys": [LI], "as_of": before}).json()
    assert body["items"] == [] and body["not_found"] == [LI]
    now = dt.datetime.now(dt.UTC).isoformat()
    assert [
        i["key"]
        for i in hub.client().post(BATCH, json={"keys": [LI], "as_of": now}).json()["items"]
    ] == [LI]


def test_batch_limits(hub):
    client = hub.client()
    problem(client.post(BATCH, json={"keys": [ZHANG] * 10_000}), 422)
    problem(client.post(BATCH, json={"keys": []}), 422)
    problem(client.post(BATCH, json={"keys": ["x" * 65]}), 422)
    ok = client.post(BATCH, json={"keys": [ZHANG] * 1000})
    assert ok.status_code == 200 and len(ok.json()["items"]) == 1
