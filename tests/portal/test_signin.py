"""Signing in and out, sessions, CSRF and lock-out, over HTTP and in Chromium."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.portal.conftest import PASSWORD, csrf_of, shot, sign_in_as
from warehouse import audit
from warehouse.tables import audit_log, portal_session


def actions(portal) -> list[tuple[str, str, int]]:
    with portal.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.person, audit_log.c.status)
            .where(audit_log.c.action.is_not(None))
            .order_by(audit_log.c.seq)
        ).all()
    return [tuple(row) for row in rows]


def test_a_person_signs_in_sees_their_home_and_signs_out(portal):
    client = portal.client("hr")
    home = client.get("/portal/")
    assert home.status_code == 200
    assert "人社数据管理员" in home.text and "/portal/inbox" in home.text
    assert "/portal/supervision" not in home.text  # not a hub administrator
    cookie = client.cookies.get("gdx_session")
    assert cookie
    answer = client.post("/portal/sign-out", data={"csrf": csrf_of(home.text)})
    assert answer.status_code == 303
    assert client.get("/portal/").headers["location"].startswith("/portal/sign-in")
    assert ("sign_in", "hr", 200) in actions(portal)
    assert ("sign_out", "hr", 200) in actions(portal)
    with portal.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_the_session_cookie_is_httponly_and_samesite(portal):
    client = portal.client()
    form = client.get("/portal/sign-in")
    answer = client.post(
        "/portal/sign-in",
        data={"username": "hr", "password": PASSWORD, "csrf": csrf_of(form.text)},
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "gdx_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_a_wrong_password_is_refused_and_recorded(portal):
    client = portal.client()
    form = client.get("/portal/sign-in")
    answer = client.post(
        "/portal/sign-in", data={"username": "hr", "password": "wrong", "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 401
    assert "用户名或密码不正确" in answer.text
    assert ("sign_in_failed", "hr", 401) in actions(portal)


def test_a_sign_in_without_its_form_token_is_refused(portal):
    client = portal.client()
    answer = client.post("/portal/sign-in", data={"username": "hr", "password": PASSWORD})
    assert answer.status_code == 403
    assert "gdx_session" not in client.cookies


def test_a_form_with_a_stale_token_changes_nothing(portal):
    client = portal.client("hr")
    stale = csrf_of(client.get("/portal/").text)
    client.post("/portal/sign-out", data={"csrf": stale})
    from tests.portal.conftest import sign_in

    sign_in(client, "hr")
    answer = client.post("/portal/sign-out", data={"csrf": stale})  # the old session's token
    assert answer.status_code == 403
    assert "表单已失效" in answer.text
    assert client.get("/portal/").status_code == 200  # still signed in
    assert ("csrf", "hr", 403) in actions(portal)


def test_an_expired_session_sends_the_person_to_sign_in(portal):
    client = portal.client("hr")
    with portal.engine.begin() as conn:
        conn.execute(
            portal_session.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1))
        )
    answer = client.get("/portal/?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/portal/sign-in?next=/portal/%3Fx%3D1&expired=1"


def test_lock_out_after_repeated_failures(portal, monkeypatch):
    monkeypatch.setenv("GDX_PORTAL_LOCKOUT_FAILURES", "3")
    client = portal.client()
    for _ in range(3):
        form = client.get("/portal/sign-in")
        client.post(
            "/portal/sign-in",
            data={"username": "ps", "password": "nope", "csrf": csrf_of(form.text)},
        )
    form = client.get("/portal/sign-in")
    answer = client.post(
        "/portal/sign-in", data={"username": "ps", "password": PASSWORD, "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 401 and "账号已锁定" in answer.text


def test_a_page_of_another_role_is_refused_and_recorded(portal):
    client = portal.client("integrator")
    answer = client.get("/portal/nowhere")
    assert answer.status_code == 404 and "页面不存在" in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_next_never_leaves_the_portal(portal):
    client = portal.client()
    form = client.get("/portal/sign-in")
    answer = client.post(
        "/portal/sign-in",
        data={
            "username": "hr",
            "password": PASSWORD,
            "csrf": csrf_of(form.text),
            "next": "//evil.example/portal/",
        },
    )
    assert answer.headers["location"] == "/portal/"


def test_sign_in_in_the_browser(page):
    sign_in_as(page, "hr")
    page.get_by_role("heading", name="您好，人社数据管理员").wait_for()
    shot(page, "home")
    page.get_by_role("button", name="退出").click()
    page.get_by_role("heading", name="登录").wait_for()
