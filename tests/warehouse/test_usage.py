"""API calls per local day, from the audit log, on both backends."""

from __future__ import annotations

import datetime as dt

from warehouse import audit, consumers, usage
from warehouse.engine import writing

# 2026-12-05 23:30 and 2026-12-06 00:30 in Shanghai (UTC+8)
LATE = dt.datetime(2026, 12, 5, 15, 30, tzinfo=dt.UTC)
EARLY = dt.datetime(2026, 12, 5, 16, 30, tzinfo=dt.UTC)


def test_calls_and_denials_per_local_day(engine):
    with writing(engine) as conn:
        consumer, _ = consumers.add(conn, "approval", "government_services")
    records = [
        audit.Record("GET", "/r/1", 200, at=LATE, consumer_id=consumer.id, consumer="approval",
                     resource="population.person", purpose="P1"),
        audit.Record("GET", "/r/2", 200, at=EARLY, consumer_id=consumer.id, consumer="approval",
                     resource="population.person", purpose="P1"),
        audit.Record("GET", "/r/3", 403, at=EARLY, consumer_id=consumer.id, consumer="approval",
                     resource="population.person", purpose="P1"),
        audit.Record("GET", "/r/4", 200, at=EARLY, consumer_id=99, consumer="other",
                     resource="credit.record", purpose="P2"),
        # a portal action is not a call
        audit.Record("POST", "/portal/x", 200, at=EARLY, consumer_id=consumer.id,
                     action="key_rotated", person="i", department="government_services"),
    ]  # fmt: skip
    audit.write(engine, records)
    with engine.connect() as conn:
        found = usage.calls_per_day(conn, dt.date(2026, 12, 1), now=EARLY)
        mine = usage.calls_per_day(conn, dt.date(2026, 12, 6), consumer.id, now=EARLY)
    days = [(row["day"], row["consumer"], row["calls"], row["denied"]) for row in found]
    assert days == [
        (dt.date(2026, 12, 5), "approval", 1, 0),
        (dt.date(2026, 12, 6), "approval", 2, 1),
        (dt.date(2026, 12, 6), "other", 1, 0),
    ]
    assert found[1]["consumer_department"] == "government_services"
    assert [(row["day"], row["calls"], row["denied"]) for row in mine] == [
        (dt.date(2026, 12, 6), 2, 1)
    ]
