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
    assert [item["data"]["name"] for item in body["items"]] == ["张三", "王五"]
    # the key of a query's item is the key field as served: masked, never in clear
    assert [item["key"] for item in body["items"]] == ["110105********002X", "220102********0021"]
    assert ZHANG not in str(body) and WANG not in str(body)
    assert body["items"][1]["state"] == "ended"  # died: still served, marked ended
    assert body["items"][0]["data"]["id_number"] == "110105********002X"  # still masked
    ranged = client.get(
        QUERY, params={"birth_date_from": "1980-01-01", "birth_date_to": "1990-12-31"}
    )
    assert [item["data"]["name"] for item in ranged.json()["items"]] == ["王五", "李四"]
    assert client.get(QUERY, params={"birth_date_from": "2000-01-01"}).json()["items"] == []


def test_keyset_paging_walks_every_record_once(hub):
    client = hub.client()
    seen, url, params = [], QUERY, {"birth_date_from": "1900-01-01", "limit": "1"}
    while url:
        body = client.get(url, params=params).json()
        seen += [item["data"]["name"] for item in body["items"]]
        url, params = body["next"], None
        assert url is None or LI not in url  # the cursor is opaque
    assert seen == ["张三", "王五", "李四"]  # in key order, each once


def test_a_cursor_works_only_for_its_own_query(hub):
    client = hub.client()
    first = client.get(QUERY, params={"birth_date_from": "1900-01-01", "limit": "1"}).json()
    cursor = first["next"].split("after=")[1]
    other = client.get(QUERY + f"?ethnicity=%E6%B1%89%E6%97%8F&after={cursor}")
    assert "not a cursor of this query" in problem(other, 422)["detail"]
    problem(client.get(QUERY, params={"birth_date_from": "1900-01-01", "after": LI}), 422)


def test_odd_numbers_dates_and_times_are_422(hub):
    client = hub.client()
    problem(client.get(QUERY, params={"name": "张三", "limit": "²"}), 422)
    problem(client.get(QUERY, params={"birth_date": "0000-01-01"}), 422)
    for as_of in ["0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00"]:
        problem(client.get(f"{QUERY}/{ZHANG}", params={"as_of": as_of}), 422)
        problem(client.post(BATCH, json={"keys": [ZHANG], "as_of": as_of}), 422)
    hub.grant("approval", "human_resources.insurance_payment", ["months_paid", "name"])
    payments = "/api/v1/resources/human_resources.insurance_payment/records"
    for number in ["NaN", "sNaN", "Infinity", "1e999", "1E+999999999", "1E-999999999"]:
        problem(client.get(payments, params={"months_paid": number}), 422)
    found = client.get(payments, params={"months_paid": "160"}).json()["items"]
    assert [item["data"] for item in found] == [{"name": "李四", "months_paid": 160}]
    assert found[0]["key"] is None  # id_number is not in the grant: not even as the key


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
