"""Quarantine rows are stored as given, by COPY on PostgreSQL and by INSERT on SQLite."""

from __future__ import annotations

import datetime as dt

from warehouse import quarantine
from warehouse.engine import writing
from warehouse.tables import for_resource

AWKWARD = {"姓名": 'tab\there, "quoted", back\\slash', "地址": "line\nbreak\r\n", "空": ""}


def test_rows_round_trip_whatever_they_hold(engine, catalog):
    tables = for_resource(catalog.resource("population.person"))
    at = dt.datetime(2026, 11, 22, 8, 30, tzinfo=dt.UTC)
    rows = [
        (3, "11010519491231002X", ["name.required", "gender.in_set"], AWKWARD, -(2**63)),
        (None, None, ["malformed_row"], {"_text": "a\\tb", "_reason": "2 fields"}, None),
        (7, "", [], {}, 2**63 - 1),
    ]
    with writing(engine) as conn:
        quarantine.add(conn, tables, "b1", "public_security", at, rows)
    with engine.connect() as conn:
        stored = quarantine.for_batch(conn, tables, "b1")
    got = [
        (r["line"], r["record_key"], r["rules"], r["raw"], r["raw_hash"])
        for r in sorted(stored, key=lambda r: r["id"])
    ]
    assert got == rows
    assert all(r["created_at"].replace(tzinfo=dt.UTC) == at for r in stored)
    assert {(r["batch_id"], r["department"]) for r in stored} == {("b1", "public_security")}
