"""The cache of callers (warehouse.callers) over real HTTP: a revoked key or grant fails on the
very next call, whoever revokes it (another connection, the CLI); on PostgreSQL the cache is
really used, and while its listener is down every call reads the database."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.services.conftest import LI, PURPOSE, serving
from tests.services.test_worker_kill import GDX
from warehouse import consumers, grants
from warehouse.tables import ACCESS_TRIGGER, api_consumer

PERSON = f"/api/v1/resources/population.person/records/{LI}"
PAYMENT = f"/api/v1/resources/human_resources.insurance_payment/records/{LI}"
GRANTED = ["months_paid", "monthly_base", "insured_region"]


def client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"X-API-Key": key, "X-Purpose": PURPOSE}, timeout=30)


def trusted_cache(hub, seconds: float = 30):
    """The app's cache of callers once its listener is connected (None on SQLite)."""
    cache = hub.app.state.callers
    if hub.engine.dialect.name != "postgresql":
        assert cache is None  # SQLite: every call reads the database
        return None
    deadline = time.monotonic() + seconds
    while not cache.trusted:
        assert time.monotonic() < deadline, "the listener never connected"
        time.sleep(0.05)
    return cache


def gdx(hub, tmp_path, *args: str) -> str:
    env = dict(
        os.environ,
        GDX_DATABASE_URL=hub.engine.url.render_as_string(hide_password=False),
        GDX_HOME=str(tmp_path / "home"),
        GDX_IMPORTS_DIR=str(tmp_path / "imports"),
    )
    result = subprocess.run(
        [GDX, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_revoked_key_fails_on_the_next_call(hub):
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as api:
        cache = trusted_cache(hub)
        for _ in range(3):
            assert api.get(PERSON).status_code == 200
        if cache is not None:
            assert cache._entries, "the calls were not cached"
        with hub.engine.begin() as conn:  # another connection, as another process would
            assert consumers.revoke_named(conn, "approval") == 1
        assert api.get(PERSON).status_code == 401
        assert api.get(PERSON).status_code == 401


def test_a_rotated_key_fails_on_the_next_call_and_the_new_one_works(hub):
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as old:
        trusted_cache(hub)
        assert old.get(PERSON).status_code == 200
        with hub.engine.begin() as conn:
            key = consumers.rotate(conn, hub.ids["approval"])
        assert old.get(PERSON).status_code == 401
        with client(base, key) as new:
            assert new.get(PERSON).status_code == 200


def test_a_grant_revoked_by_the_cli_fails_on_the_next_call(hub, tmp_path):
    request = hub.grant("approval", "human_resources.insurance_payment", GRANTED)
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as api:
        trusted_cache(hub)
        for _ in range(3):
            response = api.get(PAYMENT)
            assert response.status_code == 200, response.text
            assert set(response.json()["data"]) >= set(GRANTED)
        gdx(
            hub,
            tmp_path,
            "requests",
            "revoke",
            str(request),
            "--department",
            "human_resources",
            "--reason",
            "no longer needed",
            "--by",
            "tester",
        )
        refused = api.get(PAYMENT)
        assert refused.status_code == 403, refused.text
        assert "revoked" in refused.json()["detail"]


def test_a_new_grant_acts_on_the_next_call(hub):
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as api:
        trusted_cache(hub)
        assert api.get(PAYMENT).status_code == 403  # conditional, no grant yet: cached caller
        hub.grant("approval", "human_resources.insurance_payment", GRANTED)
        assert api.get(PAYMENT).status_code == 200


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_the_cache_is_used_and_only_what_is_notified_is_trusted(hub):
    """Proof that calls are answered from the cache: a change made with the triggers off
    (session_replication_role = replica: nothing is notified) is not seen until a notified
    change empties the cache."""
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as api:
        trusted_cache(hub)
        assert api.get(PERSON).status_code == 200
        with hub.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(
                api_consumer.update()
                .where(api_consumer.c.name == "approval")
                .values(revoked_at=sa.func.now())
            )
        assert api.get(PERSON).status_code == 200  # from the cache: nobody said
        with hub.engine.begin() as conn:  # any notified change of a consumer empties it
            consumers.add(conn, "someone", "civil_affairs")
        assert api.get(PERSON).status_code == 401


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_while_the_listener_is_down_every_call_reads_the_database(hub):
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as api:
        cache = trusted_cache(hub)
        assert api.get(PERSON).status_code == 200
        assert cache.connects == 1
        pid = cache._listening.get_backend_pid()
        with hub.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar()
            # revoked with the triggers off: only a call that reads the database sees it
            conn.exec_driver_sql("SET session_replication_role = replica")
            conn.execute(
                api_consumer.update()
                .where(api_consumer.c.name == "approval")
                .values(revoked_at=sa.func.now())
            )
            conn.commit()
        assert api.get(PERSON).status_code == 401
        trusted_cache(hub)  # the listener reconnects, and empties the cache first
        assert cache.connects == 2
        assert api.get(PERSON).status_code == 401


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_without_the_triggers_nothing_is_cached(hub):
    with hub.engine.begin() as conn:
        for table in ("api_consumer", "access_request"):
            conn.exec_driver_sql(f"DROP TRIGGER {ACCESS_TRIGGER} ON {table}")
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as api:
        assert api.get(PERSON).status_code == 200
        time.sleep(0.5)
        assert not hub.app.state.callers.trusted and not hub.app.state.callers._entries
        with hub.engine.begin() as conn:
            consumers.revoke_named(conn, "approval")
        assert api.get(PERSON).status_code == 401


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_an_entry_never_outlives_its_grant(hub):
    import datetime as dt

    hub.grant(
        "approval",
        "human_resources.insurance_payment",
        GRANTED,
        expires_in=dt.timedelta(seconds=2),
    )
    with serving(hub.app) as base, client(base, hub.keys["approval"]) as api:
        cache = trusted_cache(hub)
        assert api.get(PAYMENT).status_code == 200
        (entry,) = cache._entries.values()
        assert entry.ends is not None
        time.sleep(2.5)
        assert api.get(PAYMENT).status_code == 403


def test_grants_module_reads_the_same_as_the_cache(hub):
    """`caller_by_hash` is `caller` for the hash of the key (the cache reads through it)."""
    with hub.engine.connect() as conn:
        now = grants.utc_now()
        key = hub.keys["approval"]
        assert grants.caller(conn, key, PURPOSE, now) == grants.caller_by_hash(
            conn, consumers.hash_key(key), PURPOSE, now
        )
