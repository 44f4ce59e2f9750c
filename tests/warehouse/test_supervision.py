"""Supervision figures (warehouse.supervision) on the services' small hub, on both backends:
access requests in known states at known times, API calls made through the API, and the
fixture's deliveries."""

from __future__ import annotations

import datetime as dt

import pytest

from gdx.pipeline import load_file
from runtime.clock import zone
from tests.services.conftest import LI, PURPOSE, ZHANG, Hub, hub, write_csv  # noqa: F401
from warehouse import grants, supervision
from warehouse.consumers import Consumer

PAYMENT = "human_resources.insurance_payment"
PERSON = "/api/v1/resources/population.person/records/"
PAYMENT_RECORD = f"/api/v1/resources/{PAYMENT}/records/"
PAYMENT_ROW = {
    "id_number": LI,
    "name": "李四",
    "insured_region": "220102",
    "insurance_types": "职工基本养老保险、职工基本医疗保险",
    "first_paid_on": "2012-07-01",
    "months_paid": "161",
    "last_paid_month": "2026-11",
    "monthly_base": "8200",
    "employer_uscc": "91220402Q01892388C",
}
NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=zone())  # a Friday


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=zone())


def requests_in_known_states(hub: Hub) -> None:  # noqa: F811
    """Filed and decided at known times (local, GDX_TIMEZONE):

    approved 2 working days after filing; refused after 4; approved after 14 (past its
    deadline, 2026-11-16); approved across the National Day holidays (2026-09-30 to 10-09: 2
    working days, before the last 30 days); pending past its deadline; pending within it;
    withdrawn (never decided)."""
    approval = Consumer(hub.ids["approval"], "approval", "government_services")
    with hub.engine.begin() as conn:

        def filed(day: str) -> int:
            return grants.file(
                conn, hub.catalog, approval, PAYMENT, ["name"], "社保转移", PURPOSE,
                dt.date(2027, 6, 30), now=at(day),
            )["id"]  # fmt: skip

        def approved(request_id: int, day: str) -> None:
            grants.approve(conn, request_id, "human_resources", "hr", now=at(day))

        approved(filed("2026-11-16"), "2026-11-18")
        grants.refuse(
            conn, filed("2026-11-16"), "human_resources", "hr", "不符合", now=at("2026-11-20")
        )
        late = filed("2026-11-02")
        approved(late, "2026-11-20")
        approved(filed("2026-09-30"), "2026-10-09")
        filed("2026-11-02")
        filed("2026-12-01")
        grants.withdraw(conn, filed("2026-11-16"), hub.ids["approval"], now=at("2026-11-17"))


def test_working_days_count_as_the_deadline_does():
    assert supervision.working_days(dt.date(2026, 11, 16), dt.date(2026, 11, 16)) == 0
    assert supervision.working_days(dt.date(2026, 11, 16), dt.date(2026, 11, 18)) == 2
    assert supervision.working_days(dt.date(2026, 9, 30), dt.date(2026, 10, 9)) == 2
    assert supervision.working_days(dt.date(2026, 10, 9), dt.date(2026, 10, 12)) == 2  # Sat worked
    filed = dt.date(2026, 11, 2)
    deadline = grants.working_days_after(filed, grants.DECISION_WORKING_DAYS)
    assert supervision.working_days(filed, deadline) == grants.DECISION_WORKING_DAYS


def test_periods_are_local_days_ending_today():
    late_evening = dt.datetime(2026, 12, 4, 23, 30, tzinfo=zone())
    period = supervision.Period.ending(late_evening.astimezone(dt.UTC), 7)
    assert (period.first, period.last) == (dt.date(2026, 11, 28), dt.date(2026, 12, 4))
    assert period.start == dt.datetime(2026, 11, 28, tzinfo=zone())
    with pytest.raises(ValueError):
        supervision.Period.ending(NOW, 14)


def test_decisions_median_and_overdue(hub):  # noqa: F811
    requests_in_known_states(hub)
    with hub.engine.connect() as conn:
        month = supervision.requests(conn, hub.catalog, supervision.Period.ending(NOW, 30), NOW)
        quarter = supervision.requests(
            conn, hub.catalog, supervision.Period.ending(NOW, 90), NOW, "human_resources"
        )
        elsewhere = supervision.requests(
            conn, hub.catalog, supervision.Period.ending(NOW, 90), NOW, "public_security"
        )
    assert month == [
        {
            "department": "human_resources",
            "resource": PAYMENT,
            "decided": 3,  # 2, 4 and 14 working days
            "median_working_days": 4,
            "decided_late": 1,
            "pending_overdue": 1,
        }
    ]
    assert quarter[0]["decided"] == 4  # and the one across the holidays: 2 working days
    assert quarter[0]["median_working_days"] == 3  # (2 + 4) / 2
    assert quarter[0]["decided_late"] == 1
    assert quarter[0]["pending_overdue"] == 1
    assert elsewhere == []


def test_calls_and_denials_per_local_day(hub):  # noqa: F811
    assert hub.client("approval").get(PERSON + ZHANG).status_code == 200
    assert hub.client("approval").get(PERSON + LI).status_code == 200
    assert hub.client("approval", purpose=None).get(PERSON + ZHANG).status_code == 400
    assert hub.client("approval").get(PAYMENT_RECORD + LI).status_code == 403  # no grant
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(zone()).date()
    with hub.engine.connect() as conn:
        week = supervision.calls(conn, hub.catalog, supervision.Period.ending(now, 7), now)
        provider = supervision.calls(
            conn, hub.catalog, supervision.Period.ending(now, 7), now, "human_resources"
        )
        other = supervision.calls(
            conn, hub.catalog, supervision.Period.ending(now, 30), now, "civil_affairs"
        )
    assert [row["day"] for row in week] == [today - dt.timedelta(days=n) for n in range(6, -1, -1)]
    assert week[-1] == {"day": today, "calls": 4, "denied": 2}
    assert sum(row["calls"] for row in week) == 4
    assert provider[-1] == {"day": today, "calls": 1, "denied": 1}  # its resource, not granted
    assert len(other) == 30 and sum(row["calls"] for row in other) == 0


def deliver_payments(hub: Hub, tmp_path) -> None:  # noqa: F811
    """A delivery of the registered source human_resources.payments (the fixture's loads are
    manual, of no source: they do not count for a source's freshness, as in `gdx status`)."""
    path = write_csv(tmp_path / "payments-source.csv", [PAYMENT_ROW])
    load_file(
        path, PAYMENT, "human_resources", engine=hub.engine, catalog=hub.catalog,
        source="human_resources.payments",
    )  # fmt: skip


def test_freshness_against_the_update_cycle(hub, tmp_path):  # noqa: F811
    deliver_payments(hub, tmp_path)
    with hub.engine.connect() as conn:
        rows = supervision.freshness(conn, hub.catalog, dt.datetime.now(dt.UTC), "human_resources")
        later = supervision.freshness(
            conn,
            hub.catalog,
            dt.datetime.now(dt.UTC) + dt.timedelta(days=47),
            "human_resources",
        )
    shown = {row["source"]: (row["cycle"], row["late"], row["quarantined"]) for row in rows}
    assert shown == {
        "human_resources.insured": ("hourly", True, 0),  # never delivered
        "human_resources.payments": ("monthly", False, 0),  # delivered just now
    }
    # sorted by department, then resource
    assert [row["resource"] for row in rows] == [PAYMENT, "population.person"]
    assert rows[0]["last_success"] is not None and rows[1]["last_success"] is None
    assert {row["source"]: row["late"] for row in later}["human_resources.payments"] is True


def test_quality_pass_rate_and_waiting_rows(hub, tmp_path):  # noqa: F811
    bad = write_csv(
        tmp_path / "more-credit.csv",
        [
            {
                "record_id": "CF-3",
                "subject_type": "法人",
                "subject_id": "91220402Q01892388C",
                "subject_name": "长春市禾丰食品有限公司",
                "category": "行政处罚",
                "content": "罚款",
                "authority": "长春市市场监督管理局",
                "decided_on": "2024-01-01",
                "valid_until": "2099-01-01",
                "status": "有效",
            },
            {
                "record_id": "",  # required: quarantined
                "subject_type": "法人",
                "subject_id": "91220402Q01892388C",
                "subject_name": "长春市禾丰食品有限公司",
                "category": "行政处罚",
                "content": "罚款",
                "authority": "长春市市场监督管理局",
                "decided_on": "2024-01-01",
                "valid_until": "2099-01-01",
                "status": "有效",
            },
        ],
    )
    summary = load_file(
        bad, "credit.record", "development_reform", engine=hub.engine, catalog=hub.catalog
    )
    assert summary.rows_quarantined == 1
    with hub.engine.connect() as conn:
        everyone = supervision.quality(conn, hub.catalog)
        mine = supervision.quality(conn, hub.catalog, "development_reform")
    by_resource = {row["resource"]: row for row in everyone}
    assert by_resource["population.person"] == {
        "department": "public_security",
        "resource": "population.person",
        "rows_checked": 4,  # 3 people, 1 death
        "rejected": 0,
        "pass_rate": 1.0,
        "quarantined": 0,
    }
    # the fixture's 2 credit records, then 1 good and 1 bad
    assert mine == [
        {
            "department": "development_reform",
            "resource": "credit.record",
            "rows_checked": 4,
            "rejected": 1,
            "pass_rate": 0.75,
            "quarantined": 1,
        }
    ]
