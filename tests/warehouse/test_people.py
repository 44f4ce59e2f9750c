"""Portal accounts: scrypt passwords, lock-out, sessions, identity matching, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from warehouse import consumers, passwords, people
from warehouse.engine import writing
from warehouse.tables import person, portal_session

PASSWORD = "a-long-enough-password"
T0 = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.UTC)
LOCK = dt.timedelta(minutes=15)


def add(engine, catalog, username="hr", role="department_admin", **values):
    values = {"department": "human_resources", "password": PASSWORD} | values
    with writing(engine) as conn:
        return people.add(
            conn, username, values.pop("name", ""), values["department"], role,
            values["password"], catalog.departments, values.get("consumer"),
        )  # fmt: skip


def test_passwords_are_scrypt_hashes_never_the_password():
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$1$") and PASSWORD not in stored
    assert passwords.password_matches(stored, PASSWORD)
    assert not passwords.password_matches(stored, PASSWORD + "x")
    assert passwords.hash_password(PASSWORD) != stored  # salted
    assert not passwords.password_matches("garbage", PASSWORD)
    assert not passwords.password_matches(None, PASSWORD)


@pytest.mark.parametrize(
    ("username", "values", "message"),
    [
        ("Bad Name", {}, "username: 'Bad Name' is not"),
        ("hr2", {"department": "nowhere"}, "department: 'nowhere' is not a department"),
        ("hr3", {"password": "short"}, "password: at least 10 characters"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(engine, catalog, username, values, message):
    with pytest.raises(people.PersonError, match=message):
        add(engine, catalog, username, **values)


def test_an_integrator_acts_for_a_consumer_of_its_department(engine, catalog):
    with writing(engine) as conn:
        consumer, _ = consumers.add(conn, "approval", "government_services")
        consumers.add(conn, "elsewhere", "civil_affairs")
    with pytest.raises(people.PersonError, match="consumer: an integrator names"):
        add(engine, catalog, "i1", "integrator", department="government_services")
    with pytest.raises(people.PersonError, match="not an approval system of government_services"):
        add(engine, catalog, "i2", "integrator", department="government_services",
            consumer="elsewhere")  # fmt: skip
    someone = add(engine, catalog, "i3", "integrator", department="government_services",
                  consumer="approval")  # fmt: skip
    assert someone.consumer_id == consumer.id and someone.is_integrator
    with pytest.raises(people.PersonError, match="username: i3 is taken"):
        add(engine, catalog, "i3", "integrator", department="government_services",
            consumer="approval")  # fmt: skip


def sign_in(engine, password, now=T0, failures=3):
    with writing(engine) as conn:
        return people.sign_in(conn, "hr", password, failures, LOCK, now)


def test_lock_out_after_failures_in_a_row_and_unlock(engine, catalog):
    add(engine, catalog)
    assert sign_in(engine, "wrong").refused == "wrong_password"
    assert sign_in(engine, PASSWORD).person is not None  # a success resets the count
    for _ in range(2):
        assert sign_in(engine, "wrong").refused == "wrong_password"
    third = sign_in(engine, "wrong")
    assert third.refused == "locked" and third.locked_until == T0 + LOCK
    assert sign_in(engine, PASSWORD).refused == "locked"  # even the right password
    assert sign_in(engine, PASSWORD, now=T0 + LOCK + dt.timedelta(seconds=1)).person
    for _ in range(3):
        sign_in(engine, "wrong")
    with writing(engine) as conn:
        people.unlock(conn, "hr")
    assert sign_in(engine, PASSWORD).person


def test_unknown_and_disabled_accounts_are_refused(engine, catalog):
    add(engine, catalog)
    with writing(engine) as conn:
        assert people.sign_in(conn, "nobody", PASSWORD, 3, LOCK).refused == "unknown"
        people.disable(conn, "hr")
    assert sign_in(engine, PASSWORD).refused == "disabled"


def test_sessions_renew_with_use_expire_and_end_with_the_account(engine, catalog):
    someone = add(engine, catalog)
    idle = dt.timedelta(minutes=60)
    with writing(engine) as conn:
        opened = people.open_session(conn, someone, idle, T0)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(portal_session.c.token_hash)).scalar_one()
    assert stored != opened.token and len(stored) == 64  # only its hash is kept
    with writing(engine) as conn:
        later = T0 + dt.timedelta(minutes=50)
        assert people.session(conn, opened.token, idle, later).csrf == opened.csrf
        # renewed at 50 minutes: still alive at 100
        assert people.session(conn, opened.token, idle, T0 + dt.timedelta(minutes=100))
        assert people.session(conn, opened.token, idle, T0 + dt.timedelta(minutes=161)) is None
        assert people.session(conn, "forged", idle, T0) is None
        again = people.open_session(conn, someone, idle, T0)
        people.disable(conn, "hr")
        assert people.session(conn, again.token, idle, T0) is None


def test_a_session_lasts_twelve_hours_at_most(engine, catalog):
    someone = add(engine, catalog)
    idle = dt.timedelta(minutes=60)
    with writing(engine) as conn:
        opened = people.open_session(conn, someone, idle, T0)
        moment = T0
        while moment < T0 + dt.timedelta(hours=11, minutes=30):
            moment += dt.timedelta(minutes=30)
            assert people.session(conn, opened.token, idle, moment), moment
        assert people.session(conn, opened.token, idle, T0 + dt.timedelta(hours=12, seconds=1)) \
            is None  # fmt: skip


def test_an_identity_is_matched_by_user_name_once_then_by_subject(engine, catalog):
    add(engine, catalog)
    with writing(engine) as conn:
        assert people.by_identity(conn, "sub-1", "hr").username == "hr"
        assert people.by_identity(conn, "sub-1", "someone-else").username == "hr"
        assert people.by_identity(conn, "sub-2", "hr") is None  # already matched to sub-1
    with engine.connect() as conn:
        assert conn.execute(sa.select(person.c.oidc_subject)).scalar_one() == "sub-1"
