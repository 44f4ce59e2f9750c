"""Access requests and grants: filing rules, the 10-working-day deadline, who decides, the
state machine, and `active` (revocation and expiry act at once), on both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from catalog_schema import Catalog, load_catalog
from catalog_schema.catalog import DEFAULT_DIR
from warehouse import consumers, grants
from warehouse.grants import GrantError, working_days_after

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 9, 28, 10, 0, tzinfo=SHANGHAI)  # a Monday before National Day
INSURANCE = "human_resources.insurance_payment"  # conditional, provider human_resources
TRANSFER = "000212017000"  # 基本医疗保险关系转移接续
RETIREMENT = "000212005000"  # 职工基本养老保险待遇申领
UNTIL = dt.date(2026, 12, 31)
SECRET_SALARY = "human_resources.salary_detail"


def not_shared_catalog(folder: Path) -> Catalog:
    """The packaged catalog plus an imported resource that is not shared (不予共享)."""
    data = yaml.safe_load(
        (DEFAULT_DIR / "resources" / f"{INSURANCE}.yaml").read_text(encoding="utf-8")
    )
    data |= {
        "code": SECRET_SALARY,
        "name_zh": "工资明细",
        "name_en": "Salary details",
        "share_type": "not_shared",
        "share_conditions": "涉及个人隐私，不予共享",
        "related": [],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{SECRET_SALARY}.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )
    return load_catalog(None, folder)


@pytest.fixture
def people(engine):
    """An approval system of government services, another one, and two administrators."""
    with engine.begin() as conn:
        system, _ = consumers.add(conn, "one-network", "government_services")
        other, _ = consumers.add(conn, "kiosk", "government_services")
        hr_admin, _ = consumers.add(conn, "hr-admin", "human_resources", "admin")
        ps_admin, _ = consumers.add(conn, "ps-admin", "public_security", "admin")
    return {"system": system, "other": other, "hr": hr_admin, "ps": ps_admin}


def _file(engine, catalog, consumer, fields=("months_paid",), item=TRANSFER, until=UNTIL, **kw):
    with engine.begin() as conn:
        return grants.file(
            conn,
            catalog,
            consumer,
            kw.pop("resource", INSURANCE),
            list(fields),
            kw.pop("purpose", "医保关系转移接续时核验参保缴费情况"),
            item,
            until,
            now=kw.pop("now", NOW),
        )


def _do(engine, action, *args, **kw):
    with engine.begin() as conn:
        return getattr(grants, action)(conn, *args, now=kw.pop("now", NOW), **kw)


# --- working days -----------------------------------------------------------------------------


def test_working_days_skip_the_weekend():
    assert working_days_after(dt.date(2026, 11, 6), 1) == dt.date(2026, 11, 9)  # Fri → Mon
    assert working_days_after(dt.date(2026, 11, 6), 10) == dt.date(2026, 11, 20)
    assert working_days_after(dt.date(2026, 11, 7), 10) == dt.date(2026, 11, 20)  # a Saturday
    assert working_days_after(dt.date(2026, 11, 9), 0) == dt.date(2026, 11, 9)


def test_working_days_skip_national_day_and_count_the_saturday_worked():
    # Sep 29, 30; Oct 1–7 off; Oct 8, 9, Sat 10 (worked in lieu), 12–16
    assert working_days_after(dt.date(2026, 9, 28), 10) == dt.date(2026, 10, 16)
    assert working_days_after(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)


def test_working_days_over_the_spring_festival():
    # Sat Feb 14 worked, Feb 15–23 off, Sat Feb 28 worked
    assert working_days_after(dt.date(2026, 2, 13), 1) == dt.date(2026, 2, 14)
    assert working_days_after(dt.date(2026, 2, 13), 10) == dt.date(2026, 3, 5)


def test_working_days_reject_a_negative_count():
    with pytest.raises(ValueError, match="n:"):
        working_days_after(dt.date(2026, 1, 5), -1)


# --- filing -----------------------------------------------------------------------------------


def test_file_sets_provider_and_deadline(engine, catalog, people):
    found = _file(engine, catalog, people["system"], fields=["monthly_base", "months_paid"])
    assert found["status"] == "pending" and found["provider"] == "human_resources"
    assert found["department"] == "government_services" and found["consumer"] == "one-network"
    assert found["fields"] == ["months_paid", "monthly_base"]  # declaration order
    assert found["decide_by"] == dt.date(2026, 10, 16)  # over National Day
    assert found["filed_at"] == NOW.astimezone(dt.UTC)
    assert found["overdue"] is False and found["expired"] is False
    assert found["expires_at"] is None


def test_the_deadline_counts_from_the_local_date(engine, catalog, people):
    # 17:00 UTC on Thursday is 01:00 on Friday in Shanghai: 10 working days from Friday
    late = dt.datetime(2026, 11, 5, 17, 0, tzinfo=dt.UTC)
    found = _file(engine, catalog, people["system"], now=late)
    assert found["decide_by"] == dt.date(2026, 11, 20)


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"resource": "population.nobody"}, 422, "resource: 'population.nobody'"),
        ({"resource": SECRET_SALARY}, 403, "不予共享"),
        ({"fields": []}, 422, "fields: name at least one"),
        ({"fields": ["months_paid", "nope"]}, 422, "fields: 'nope' is not a field"),
        ({"resource": "legal_entity.organization", "fields": ["legal_rep_id"]}, 422, "secret"),
        ({"item": "999999999"}, 422, "service_item: '999999999'"),
        ({"purpose": "   "}, 422, "purpose: state what"),
        ({"purpose": "用" * 501}, 422, "purpose: at most 500"),
        ({"until": dt.date(2026, 9, 28)}, 422, "requested_until: 2026-09-28 is not after today"),
        ({"until": dt.date(2027, 9, 29)}, 422, "requested_until: 2027-09-29 is more than a year"),
    ],
)
def test_file_validations(engine, people, tmp_path, change, status, message):
    catalog = not_shared_catalog(tmp_path / "imports")
    with pytest.raises(GrantError) as caught:
        _file(engine, catalog, people["system"], **change)
    assert caught.value.status == status
    assert message in str(caught.value)


def test_a_year_ahead_is_allowed(engine, catalog, people):
    assert _file(engine, catalog, people["system"], until=dt.date(2027, 9, 28))["id"]


def test_an_administrator_does_not_file(engine, catalog, people):
    with pytest.raises(GrantError) as caught:
        _file(engine, catalog, people["hr"])
    assert caught.value.status == 403 and "administrator" in caught.value.message


# --- deciding ---------------------------------------------------------------------------------


def test_approve_sets_the_end_of_the_last_day(engine, catalog, people):
    filed = _file(engine, catalog, people["system"])
    found = _do(engine, "approve", filed["id"], "human_resources", "hr-admin", reason="符合条件")
    assert found["status"] == "approved" and found["decided_by"] == "hr-admin"
    assert found["reason"] == "符合条件" and found["decided_at"] == NOW.astimezone(dt.UTC)
    assert found["expires_at"] == dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)  # 24:00 +08


def test_approve_for_a_shorter_period_but_never_longer(engine, catalog, people):
    filed = _file(engine, catalog, people["system"])
    with pytest.raises(GrantError) as caught:
        _do(engine, "approve", filed["id"], "human_resources", "a", until=dt.date(2027, 1, 1))
    assert caught.value.status == 422 and "until: 2027-01-01 is later" in caught.value.message
    with pytest.raises(GrantError) as caught:
        _do(engine, "approve", filed["id"], "human_resources", "a", until=dt.date(2026, 9, 27))
    assert caught.value.status == 422 and "has passed" in caught.value.message
    found = _do(engine, "approve", filed["id"], "human_resources", "a", until=dt.date(2026, 10, 31))
    assert found["expires_at"] == dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.UTC)


def test_only_the_provider_decides(engine, catalog, people):
    filed = _file(engine, catalog, people["system"])
    for action, extra in (("approve", {}), ("refuse", {"reason": "x"})):
        with pytest.raises(GrantError) as caught:
            _do(engine, action, filed["id"], "public_security", "ps-admin", **extra)
        assert caught.value.status == 403 and "human_resources" in caught.value.message
    with pytest.raises(GrantError) as caught:
        _do(engine, "approve", 999, "human_resources", "hr-admin")
    assert caught.value.status == 404


def test_state_machine(engine, catalog, people):
    first = _file(engine, catalog, people["system"])["id"]
    second = _file(engine, catalog, people["system"])["id"]
    with pytest.raises(GrantError) as caught:
        _do(engine, "revoke", first, "human_resources", "hr-admin", reason="x")
    assert caught.value.status == 409 and "is pending" in caught.value.message
    _do(engine, "approve", first, "human_resources", "hr-admin")
    for action, extra in (("approve", {}), ("refuse", {"reason": "x"})):
        with pytest.raises(GrantError) as caught:
            _do(engine, action, first, "human_resources", "hr-admin", **extra)
        assert caught.value.status == 409 and "is approved" in caught.value.message
    with pytest.raises(GrantError) as caught:
        _do(engine, "revoke", first, "public_security", "ps-admin", reason="x")
    assert caught.value.status == 403
    revoked = _do(engine, "revoke", first, "human_resources", "hr-admin", reason="项目结束")
    assert revoked["status"] == "revoked" and revoked["revoke_reason"] == "项目结束"
    assert revoked["revoked_by"] == "hr-admin" and revoked["revoked_at"]
    refused = _do(engine, "refuse", second, "human_resources", "hr-admin", reason="超出用途")
    assert refused["status"] == "refused" and refused["reason"] == "超出用途"
    with pytest.raises(GrantError) as caught:
        _do(engine, "approve", second, "human_resources", "hr-admin")
    assert caught.value.status == 409 and "is refused" in caught.value.message


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_refusal_and_revocation_state_a_reason(engine, catalog, people, reason):
    filed = _file(engine, catalog, people["system"])["id"]
    with pytest.raises(GrantError) as caught:
        _do(engine, "refuse", filed, "human_resources", "hr-admin", reason=reason)
    assert caught.value.status == 422 and caught.value.message.startswith("reason:")
    _do(engine, "approve", filed, "human_resources", "hr-admin")
    with pytest.raises(GrantError) as caught:
        _do(engine, "revoke", filed, "human_resources", "hr-admin", reason=reason)
    assert caught.value.status == 422


def test_the_consumer_withdraws_its_own_pending_request(engine, catalog, people):
    filed = _file(engine, catalog, people["system"])["id"]
    with pytest.raises(GrantError) as caught:
        _do(engine, "withdraw", filed, people["other"].id)
    assert caught.value.status == 404
    found = _do(engine, "withdraw", filed, people["system"].id)
    assert found["status"] == "withdrawn" and found["revoked_by"] == "one-network"
    with pytest.raises(GrantError) as caught:
        _do(engine, "withdraw", filed, people["system"].id)
    assert caught.value.status == 409


# --- active grants ----------------------------------------------------------------------------


def _active(engine, consumer, at, item=TRANSFER):
    with engine.connect() as conn:
        return grants.active(conn, consumer.id, INSURANCE, item, at)


def test_active_until_the_end_of_the_last_day(engine, catalog, people):
    system = people["system"]
    filed = _file(engine, catalog, system, fields=["months_paid", "monthly_base"])["id"]
    assert _active(engine, system, NOW) is None  # pending
    _do(engine, "approve", filed, "human_resources", "hr-admin")
    grant = _active(engine, system, NOW)
    assert grant == grants.Grant(
        (filed,),
        frozenset({"months_paid", "monthly_base"}),
        dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC),
    )
    last_second = dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)
    assert _active(engine, system, last_second) is not None
    assert _active(engine, system, dt.datetime(2027, 1, 1, tzinfo=SHANGHAI)) is None
    assert _active(engine, system, NOW, item=RETIREMENT) is None  # another purpose
    assert _active(engine, people["other"], NOW) is None  # another consumer


def test_a_revoked_grant_stops_at_once(engine, catalog, people):
    filed = _file(engine, catalog, people["system"])["id"]
    _do(engine, "approve", filed, "human_resources", "hr-admin")
    assert _active(engine, people["system"], NOW) is not None
    _do(engine, "revoke", filed, "human_resources", "hr-admin", reason="停止使用")
    assert _active(engine, people["system"], NOW) is None


def test_active_grants_unite_their_fields(engine, catalog, people):
    system = people["system"]
    first = _file(engine, catalog, system, fields=["months_paid"])["id"]
    second = _file(engine, catalog, system, fields=["monthly_base", "insured_region"])["id"]
    third = _file(engine, catalog, system, fields=["employer_uscc"])["id"]
    other_item = _file(engine, catalog, system, fields=["name"], item=RETIREMENT)["id"]
    _do(engine, "approve", first, "human_resources", "a", until=dt.date(2026, 10, 31))
    _do(engine, "approve", second, "human_resources", "a")
    _do(engine, "refuse", third, "human_resources", "a", reason="不需要")
    _do(engine, "approve", other_item, "human_resources", "a")
    grant = _active(engine, system, NOW)
    assert grant.ids == (first, second)
    assert grant.fields == {"months_paid", "monthly_base", "insured_region"}
    assert grant.expires_at == dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)
    later = _active(engine, system, dt.datetime(2026, 11, 15, tzinfo=SHANGHAI))
    assert later.ids == (second,) and later.fields == {"monthly_base", "insured_region"}


def _caller(engine, key, at, item=TRANSFER):
    with engine.connect() as conn:
        return grants.caller(conn, key, item, at)


def test_the_caller_and_its_grants_in_one_read(engine, catalog, people):
    with engine.begin() as conn:
        consumer, key = consumers.add(conn, "portal", "government_services")
    first = _file(engine, catalog, consumer, fields=["months_paid"])["id"]
    second = _file(engine, catalog, consumer, fields=["monthly_base"])["id"]
    person = _file(engine, catalog, consumer, resource="population.person", fields=["id_number"])[
        "id"
    ]
    other_item = _file(engine, catalog, consumer, fields=["name"], item=RETIREMENT)["id"]
    _do(engine, "approve", first, "human_resources", "a", until=dt.date(2026, 10, 31))
    _do(engine, "approve", second, "human_resources", "a")
    _do(engine, "approve", person, "public_security", "a")
    _do(engine, "approve", other_item, "human_resources", "a")
    found, held = _caller(engine, key, NOW)
    assert found == consumer
    # the same answers as `active`, for every resource, now and later
    later = dt.datetime(2026, 11, 15, tzinfo=SHANGHAI)
    with engine.connect() as conn:
        for resource in (INSURANCE, "population.person", "legal_entity.organization"):
            for at in (NOW, later):
                assert held.active(resource, at) == grants.active(
                    conn, consumer.id, resource, TRANSFER, at
                )
    assert held.active(INSURANCE, NOW).ids == (first, second)
    assert held.active(INSURANCE, later).ids == (second,)
    assert held.covers(TRANSFER, NOW) and not held.covers(RETIREMENT, NOW)
    assert not held.covers(TRANSFER, NOW - dt.timedelta(seconds=1))  # before the read
    # without a purpose: the consumer alone; an unknown purpose: no grants
    with engine.connect() as conn:
        assert grants.caller(conn, key, None, NOW) == (consumer, None)
        assert grants.caller(conn, key, "nonexistent", NOW)[1].rows == ()
        assert grants.caller(conn, "gdx_wrong", TRANSFER, NOW) is None


def test_the_caller_read_sees_a_revocation_at_once(engine, catalog, people):
    with engine.begin() as conn:
        consumer, key = consumers.add(conn, "portal", "government_services")
    filed = _file(engine, catalog, consumer)["id"]
    _do(engine, "approve", filed, "human_resources", "hr-admin")
    assert _caller(engine, key, NOW)[1].active(INSURANCE, NOW).ids == (filed,)
    _do(engine, "revoke", filed, "human_resources", "hr-admin", reason="停止使用")
    assert _caller(engine, key, NOW)[1].active(INSURANCE, NOW) is None
    with engine.begin() as conn:
        consumers.revoke_named(conn, "portal")
    assert _caller(engine, key, NOW) is None  # a revoked key


# --- listing ----------------------------------------------------------------------------------


def test_listing_shows_deadline_overdue_and_expired(engine, catalog, people):
    approved = _file(engine, catalog, people["system"])["id"]
    pending = _file(engine, catalog, people["other"])["id"]
    _do(engine, "approve", approved, "human_resources", "a", until=dt.date(2026, 10, 9))
    person = _file(
        engine, catalog, people["system"], resource="population.person", fields=["id_number"]
    )
    with engine.connect() as conn:
        mine = grants.listing(conn, provider="human_resources", now=NOW)
        assert [item["id"] for item in mine] == [pending, approved]  # newest first
        assert grants.listing(conn, provider="public_security", now=NOW)[0]["id"] == person["id"]
        own = grants.listing(conn, consumer_id=people["other"].id, now=NOW)
        assert [item["id"] for item in own] == [pending]
        later = dt.datetime(2026, 10, 20, tzinfo=SHANGHAI)  # past Oct 16 and Oct 9
        shown = {item["id"]: item for item in grants.listing(conn, now=later)}
        assert shown[pending]["overdue"] is True and shown[pending]["status"] == "pending"
        assert shown[approved]["status"] == "expired" and shown[approved]["expired"] is True
        assert shown[approved]["overdue"] is False
        expired = grants.listing(conn, status="expired", now=later)
        assert [item["id"] for item in expired] == [approved]
        assert grants.listing(conn, status="approved", now=later) == []
        assert [i["id"] for i in grants.listing(conn, status="approved", now=NOW)] == [approved]
        assert grants.get(conn, approved, now=later)["status"] == "expired"
        assert grants.get(conn, 12345) is None
        with pytest.raises(GrantError) as caught:
            grants.listing(conn, status="lost")
        assert caught.value.status == 422 and "status:" in caught.value.message
