"""Lock-out in Chromium: five wrong passwords lock the account, the right one is refused until
it is unlocked (`gdx users unlock` calls warehouse.people.unlock)."""

from __future__ import annotations

import pytest

from tests.portal.conftest import PASSWORD, shot, sign_in_as
from warehouse import engine as engines
from warehouse import people


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_five_wrong_passwords_lock_the_account_until_unlocked(portal, page, monkeypatch):
    monkeypatch.delenv("GDX_PORTAL_LOCKOUT_FAILURES", raising=False)  # the default: 5
    for attempt in range(1, 6):
        sign_in_as(page, "ps", f"wrong-password-{attempt}")
        expected = "账号已锁定" if attempt == 5 else "用户名或密码不正确"
        page.get_by_text(expected).wait_for()
    sign_in_as(page, "ps", PASSWORD)
    page.get_by_text("账号已锁定").wait_for()
    assert page.get_by_role("heading", name="登录").is_visible()
    shot(page, "sign-in-locked")

    with engines.writing(portal.engine) as conn:
        people.unlock(conn, "ps")
    sign_in_as(page, "ps", PASSWORD)
    page.get_by_role("heading", name="您好，公安数据管理员").wait_for()
