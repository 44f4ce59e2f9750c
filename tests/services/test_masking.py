"""What a consumer sees: masks from the declaration, secret fields never served."""

from __future__ import annotations

import datetime as dt

from catalog_schema import Resource
from services.masking import mask, present


def test_masks_keep_the_declared_head_and_tail(catalog):
    person = catalog.resource("population.person")
    assert mask("22010219900307123X", person.field("id_number")) == "220102********123X"
    assert mask("13812345678", person.field("phone")) == "138****5678"
    assert mask("已婚", person.field("marital_status")) == "**"
    assert mask("ab", person.field("id_number")) == "**"  # never shows more than it hides


def test_secret_fields_are_never_served_and_unmasked_grants_are_honoured(catalog):
    person = catalog.resource("population.person").model_dump()
    person["fields"][4]["sensitivity"] = "secret"  # ethnicity, for the test
    resource = Resource.model_validate(person)
    record = {
        "id_number": "22010219900307123X",
        "name": "李四",
        "birth_date": dt.date(1990, 3, 7),
        "ethnicity": "满族",
        "phone": "13812345678",
    }
    data, masked = present(resource, record)
    assert "ethnicity" not in data
    assert data["birth_date"] == "1990-03-07"
    assert masked == ["id_number", "phone"]
    data, masked = present(resource, record, unmasked=frozenset({"phone"}))
    assert data["phone"] == "13812345678" and masked == ["id_number"]
