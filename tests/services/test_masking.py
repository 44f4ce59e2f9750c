"""What a consumer sees: masks from the declaration, secret fields never served."""

from __future__ import annotations

import datetime as dt
import decimal

from catalog_schema import Resource
from services.masking import described, mask, present


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


def test_a_legal_entitys_code_is_shown_a_persons_id_is_masked(catalog):
    """By the declared field and the holder's type, whatever the route."""
    licence = catalog.resource("e_licence.licence")
    entity = {"licence_id": "BL01-1", "holder_type": "法人", "holder_id": "91220402Q01892388C"}
    person = {"licence_id": "TC01-1", "holder_type": "自然人", "holder_id": "220102199003071235"}
    data, masked = present(licence, entity)
    assert data["holder_id"] == "91220402Q01892388C" and masked == []
    data, masked = present(licence, person)
    assert data["holder_id"] == "220102********1235" and masked == ["holder_id"]
    unknown = {**person, "holder_type": None}  # no type: treated as personal, masked
    assert present(licence, unknown)[1] == ["holder_id"]
    assert "法人" in described(licence.field("holder_id"))


def test_a_sensitive_uscc_field_is_never_masked(catalog):
    organisation = catalog.resource("legal_entity.organization").model_dump()
    uscc = next(f for f in organisation["fields"] if f["name"] == "uscc")
    uscc["sensitivity"] = "sensitive"  # declared so by mistake: still a legal entity's code
    resource = Resource.model_validate(organisation)
    data, masked = present(resource, {"uscc": "91220402Q01892388C"})
    assert data["uscc"] == "91220402Q01892388C" and masked == []


def test_a_masked_decimal_is_masked_from_its_digits(catalog):
    payment = catalog.resource("human_resources.insurance_payment").model_dump()
    base = next(f for f in payment["fields"] if f["name"] == "monthly_base")
    base |= {"sensitivity": "sensitive", "mask": {"keep_head": 1, "keep_tail": 0}}
    resource = Resource.model_validate(payment)
    data, masked = present(resource, {"monthly_base": decimal.Decimal("8200.5000")})
    assert data["monthly_base"] == "8*****" and masked == ["monthly_base"]
    data, _ = present(
        resource, {"monthly_base": decimal.Decimal("8200.5000")}, frozenset({"monthly_base"})
    )
    assert data["monthly_base"] == 8200.5
