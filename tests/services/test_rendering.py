"""Rendered record bodies: the bytes Starlette's JSONResponse would send."""

from __future__ import annotations

import datetime as dt
import decimal

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


def test_times_dates_and_decimals_as_the_hub_shows_them():
    naive = dt.datetime(2026, 11, 22, 8, 30)  # SQLite keeps UTC times naive
    body = Rendered(
        {"at": naive, "on": dt.date(1949, 12, 31), "base": decimal.Decimal("8200.0000")}
    ).body
    assert body == b'{"at":"2026-11-22T08:30:00+00:00","on":"1949-12-31","base":"8200.0000"}'


def test_anything_else_is_an_error():
    with pytest.raises(TypeError):
        Rendered({"x": object()})
