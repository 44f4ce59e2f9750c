"""Rendered record bodies: the bytes Starlette's JSONResponse would send."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest
from fastapi.responses import JSONResponse

from services.rendering import Rendered

BODY = {
    "resource": "population.person",
    "items": [
        {"name": "张三", "address": "北京市朝阳区*****", "note": 'a "quote" \\ and \n\t\x01\x7f'},
        {"name": None, "masked_fields": [], "wide": "ＡＢＣ\u2028\u00e9😀"},
    ],
    "next": None,
    "count": 2,
    "flag": True,
}


def test_the_same_bytes_as_starlette():
    assert Rendered(BODY).body == JSONResponse(BODY).body


def test_times_dates_and_decimals_as_the_hub_shows_them(monkeypatch):
    monkeypatch.setenv("GDX_TIMEZONE", "Asia/Shanghai")
    naive = dt.datetime(2026, 11, 22, 8, 30)  # SQLite keeps UTC times naive
    body = Rendered(
        {"at": naive, "on": dt.date(1949, 12, 31), "base": decimal.Decimal("8200.0000")}
    ).body
    assert body == b'{"at":"2026-11-22T16:30:00+08:00","on":"1949-12-31","base":8200}'


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ("531.5500", b"531.55"),  # no trailing zeros
        ("-0.0100", b"-0.01"),
        ("0.0000", b"0"),
        ("1E+2", b"100"),
        ("9999999999999999.9999", b"9999999999999999.9999"),  # beyond a double: every digit
        ("1234567890123456", b"1234567890123456"),
        ("123456789012345678901", b"123456789012345678901"),  # wider than 64 bits: its digits
        ("-9223372036854775809", b"-9223372036854775809"),
    ],
)
def test_decimals_are_json_numbers_with_their_digits(stored, sent):
    body = Rendered({"n": decimal.Decimal(stored)}).body
    assert body == b'{"n":' + sent + b"}"
    assert isinstance(json.loads(body)["n"], int | float)


def test_a_time_is_local_with_its_offset(monkeypatch):
    monkeypatch.setenv("GDX_TIMEZONE", "America/New_York")
    aware = dt.datetime(2026, 7, 1, 12, 0, 0, 5, tzinfo=dt.UTC)
    assert Rendered({"at": aware}).body == b'{"at":"2026-07-01T08:00:00.000005-04:00"}'


def test_anything_else_is_an_error():
    with pytest.raises(TypeError):
        Rendered({"x": object()})
