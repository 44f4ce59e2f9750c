"""Lock-out in Chromium: five wrong passwords lock the account, the right one is refused until
it is unlocked (`gdx users unlock` calls warehouse.people.unlock)."""

from __future__ import annotations

import re

import pytest

from tests.portal.conftest import PASSWORD, shot
from warehouse import engine as engines
from warehouse import people


def attempt(page, password: str) -> None:
    """The sign-in form as `ps`, waiting for the portal's answer to this very post."""
    page.goto("/portal/sign-in")
    page.get_by_label("用户名").fill("ps")
    page.get_by_label("密码").fill(password)
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def summary(page, text: str):
    """The error summary's link to the message."""
    return page.get_by_role("link", name=re.compile(text))


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_five_wrong_passwords_lock_the_account_until_unlocked(portal, page, monkeypatch):
    monkeypatch.delenv("GDX_PORTAL_LOCKOUT_FAILURES", raising=False)  # the default: 5
    for tries in range(1, 6):
        attempt(page, f"wrong-password-{tries}")
        expected = "账号已锁定" if tries == 5 else "用户名或密码不正确"
        assert summary(page, expected).is_visible()
    attempt(page, PASSWORD)
    assert summary(page, "账号已锁定").is_visible()
    assert page.get_by_role("heading", name="登录").is_visible()
    shot(page, "sign-in-locked")

    with engines.writing(portal.engine) as conn:
        people.unlock(conn, "ps")
    attempt(page, PASSWORD)
    page.get_by_role("heading", name="您好，公安数据管理员").wait_for()
