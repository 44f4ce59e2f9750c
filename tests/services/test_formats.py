"""The declared shapes: exactly the values the server reads, derived from the declarations."""

from __future__ import annotations

import datetime as dt

from catalog_schema import FieldSpec
from services import formats
from tests.services.conftest import FOODS, LI, ZHANG

BATCH = "/api/v1/resources/population.person/records:batch"
PERSON = "/api/v1/resources/population.person/records/"


def test_the_date_patterns_are_the_calendar():
    day = dt.date(1896, 1, 1)
    while day.year <= 2404:  # leap years every 4, not 1900 nor 2100, but 2000 and 2400
        for month_day in (day.isoformat(), f"{day.year}-02-29", f"{day.year}-{day.month:02d}-31"):
            try:
                real = dt.date.fromisoformat(month_day) is not None
            except ValueError:
                real = False
            assert formats.DATE.matches(month_day) is real, month_day
            assert formats.AS_OF.matches(month_day) is (real and 1900 <= day.year <= 2999)
        day += dt.timedelta(days=1)
    for wrong in ("0", "20261101", "2026-11-1", "2026-11-01 12:00", "0999-01-01", "2026-11-01\n"):
        assert not formats.DATE.matches(wrong) and not formats.AS_OF.matches(wrong), wrong


def test_as_of_is_an_iso_time_never_a_number():
    for good in (
        "2026-11-01",
        "2026-11-01T12:00",
        "2026-11-01T12:00:00.5Z",
        "2999-12-31T23:59+08:00",
    ):
        assert formats.parse_as_of(good) is not None, good
    for bad in ("0", "1700000000", "3000-01-01", "1899-12-31T23:59", "2026-11-01T24:00"):
        assert formats.parse_as_of(bad) is None, bad


def test_key_shapes_follow_the_key_fields_rules(catalog):
    assert formats.of_key(catalog.resource("population.person").key_field) is formats.CITIZEN_ID
    assert formats.of_key(catalog.resource("legal_entity.organization").key_field) is formats.USCC
    assert formats.of_key(catalog.resource("credit.record").key_field) is formats.KEY_TEXT
    imported = FieldSpec(name="code", label_zh="代码", description="x", rules=["uscc"])
    assert formats.of_key(imported) is formats.USCC
    assert formats.CITIZEN_ID.matches(ZHANG) and formats.CITIZEN_ID.matches(ZHANG.lower())
    assert formats.CITIZEN_ID.matches("110105491231002")  # an old 15-digit number
    assert not formats.CITIZEN_ID.matches(f" {ZHANG}") and not formats.CITIZEN_ID.matches("１" * 18)
    assert formats.USCC.matches(FOODS) and not formats.USCC.matches(FOODS.lower())
    assert formats.KEY_TEXT.matches("CF-1") and formats.KEY_TEXT.matches("案 1")
    for bad in (" CF-1", "CF-1\u3000", "a/b", "x\x00y", ""):
        assert not formats.KEY_TEXT.matches(bad), bad


def test_the_document_declares_what_the_server_checks(hub):
    document = hub.client().get("/openapi.json").json()
    read = document["paths"][PERSON + "{id_number}"]["get"]
    key, as_of, purpose = read["parameters"]
    assert key["schema"]["pattern"] == formats.CITIZEN_ID.pattern
    assert key["schema"]["format"] == "citizen-id"
    assert as_of["schema"]["pattern"] == formats.AS_OF_PATTERN
    assert purpose["required"] and purpose["schema"]["enum"] == sorted(hub.catalog.service_items)
    assert set(read["responses"]) == {"200", "400", "401", "403", "404", "408", "413", "422"} | {
        "429",
        "503",
    }
    assert read["responses"]["401"]["headers"]["WWW-Authenticate"]["required"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    batch = document["components"]["schemas"]["BatchLookup"]
    assert batch["additionalProperties"] is False


def test_the_server_refuses_what_the_document_refuses(hub):
    client = hub.client()
    as_number = client.post(BATCH, json={"keys": [LI], "as_of": 0})
    assert as_number.status_code == 422  # not 1970
    assert client.post(BATCH, json={"keys": [LI], "extra": 1}).status_code == 422
    spaced = client.get(PERSON + f"%20{LI}")
    assert spaced.status_code == 422 and "id_number: expected" in spaced.json()["detail"]
    assert client.get(PERSON + LI.lower()).status_code in (200, 404)
    filtered = client.get(PERSON[:-1], params={"birth_date": "19900307"})
    assert filtered.status_code == 422 and "birth_date" in filtered.json()["detail"]
    assert client.get(PERSON[:-1], params={"birth_date": "1990-03-07"}).json()["items"]


def test_an_unserved_method_is_405_naming_every_method_of_the_path(hub):
    answer = hub.client().options("/api/v1/access-requests")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, POST"
    assert answer.headers["content-type"] == "application/problem+json"
