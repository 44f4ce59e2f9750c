"""The integrator's consumer page (grants, calls per day) and rotating its API key, over HTTP
and in Chromium."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from tests.portal.conftest import csrf_of, shot, sign_in_as
from tests.services.conftest import LI, PURPOSE, ZHANG
from warehouse import audit
from warehouse.tables import api_consumer, audit_log

PERSON = "/api/v1/resources/population.person/records/"
PAYMENT = "/api/v1/resources/human_resources.insurance_payment/records/"
GRANTED = ["months_paid", "monthly_base"]


def _key_row(portal) -> tuple[str, str]:
    with portal.engine.connect() as conn:
        row = conn.execute(
            sa.select(api_consumer.c.key_hash, api_consumer.c.key_prefix).where(
                api_consumer.c.id == portal.hub.ids["approval"]
            )
        ).one()
    return tuple(row)


def _portal_records(portal, action: str) -> list[sa.Row]:
    with portal.engine.connect() as conn:
        return conn.execute(
            sa.select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        ).all()


def test_the_consumer_page_shows_the_consumer_its_grants_and_its_calls(portal):
    portal.hub.grant("approval", "human_resources.insurance_payment", GRANTED)
    portal.hub.grant("approval", "population.person", ["household_address"], revoked=True)
    api = portal.hub.client("approval")
    assert api.get(PAYMENT + LI).status_code == 200
    assert api.get(PAYMENT + LI).status_code == 200
    assert api.get(PERSON + ZHANG).status_code == 200
    assert api.get(PAYMENT + ZHANG).status_code == 404  # no such record: a denied call
    other = portal.hub.client("other")
    assert other.get(PAYMENT + LI).status_code == 403  # another consumer's calls: not shown

    page = portal.client("integrator").get("/portal/consumer?lang=en")
    assert page.status_code == 200, page.text
    text = page.text
    assert "<title>Grants and calls" in text
    facts = text.split('<dl class="facts">')[1].split("</dl>")[0]
    assert "approval" in facts
    assert portal.catalog.departments["government_services"].name_en in facts
    assert portal.hub.keys["approval"][:10] in text
    assert portal.hub.keys["approval"] not in text  # never the whole key
    # the active grant, with its fields' labels and its purpose; the revoked one not
    grants = text.split("Grants now active")[1].split("API calls over")[0]
    assert "human_resources.insurance_payment" in grants and "population.person" not in grants
    labels = {
        f.name: f.label_zh
        for f in portal.catalog.resource("human_resources.insurance_payment").fields
    }
    assert labels["months_paid"] in grants and labels["monthly_base"] in grants
    assert PURPOSE in grants
    # 4 calls, 1 denied (the other consumer's 403 is not this consumer's)
    assert re.search(r'id="calls-total">4<', text)
    assert re.search(r'id="calls-denied"[^>]*>1<', text)
    assert '<svg class="chart"' in text and 'class="bar bad"' in text
    calls = text.split("Per day, resource and purpose")[1]
    assert re.search(
        r"human_resources.insurance_payment</code></td>\s*<td>.*?</td>\s*"
        r'<td class="num">3</td>\s*<td class="num bad">1</td>',
        calls,
        re.S,
    )
    assert re.search(
        r"population.person</code></td>\s*<td>.*?</td>\s*"
        r'<td class="num">1</td>\s*<td class="num">0</td>',
        calls,
        re.S,
    )
    # the rotate form is there, with its token
    assert 'action="/portal/consumer/rotate-key"' in text and csrf_of(text)


def test_rotating_the_key_stops_the_old_one_at_once_and_keeps_the_grants(portal):
    portal.hub.grant("approval", "human_resources.insurance_payment", GRANTED)
    old = portal.hub.keys["approval"]
    api = portal.hub.client("approval")
    assert api.get(PAYMENT + LI).status_code == 200  # a connection used before the rotation

    client = portal.client("integrator")
    page = client.get("/portal/consumer")
    answer = client.post("/portal/consumer/rotate-key", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 200, answer.text
    assert "no-store" in answer.headers["cache-control"]
    new = re.search(r'<pre id="new-key"[^>]*>([^<]+)</pre>', answer.text).group(1)
    assert new.startswith("gdx_") and new != old
    assert new not in str(answer.url) and "location" not in answer.headers

    assert api.get(PAYMENT + LI).status_code == 401  # the very next call with the old key
    fresh = portal.hub.client("approval")
    fresh.headers["X-API-Key"] = new
    served = fresh.get(PAYMENT + LI)
    assert served.status_code == 200, served.text  # the same grant still works
    assert set(served.json()["data"]) == set(GRANTED)
    # through the portal's own app too (gdx serve's)
    same = portal.client()
    assert (
        same.get(PAYMENT + LI, headers={"X-API-Key": old, "X-Purpose": PURPOSE}).status_code == 401
    )
    assert (
        same.get(PAYMENT + LI, headers={"X-API-Key": new, "X-Purpose": PURPOSE}).status_code == 200
    )

    key_hash, prefix = _key_row(portal)
    assert prefix == new[:10] and new not in key_hash  # only the hash is kept
    (record,) = _portal_records(portal, "key_rotated")
    assert record.person == "integrator" and record.department == "government_services"
    assert record.status == 200 and record.consumer_id == portal.hub.ids["approval"]
    assert new not in (record.reason or "") and old not in (record.reason or "")
    with portal.engine.connect() as conn:
        assert audit.verify(conn).ok
    # asked for again (a reload, the language link): back to the consumer page, no key
    again = client.get("/portal/consumer/rotate-key?lang=en")
    assert again.status_code == 303 and again.headers["location"].startswith("/portal/consumer")
    # the page now shows the new key's first characters
    assert new[:10] in client.get("/portal/consumer").text


@pytest.mark.parametrize("token", [None, "stale"])
def test_a_rotation_without_its_token_changes_nothing(portal, token):
    before = _key_row(portal)
    client = portal.client("integrator")
    client.get("/portal/consumer")
    answer = client.post("/portal/consumer/rotate-key", data={"csrf": token} if token else {})
    assert answer.status_code == 403 and "表单已失效" in answer.text
    assert _key_row(portal) == before
    assert portal.hub.client("approval").get(PERSON + ZHANG).status_code == 200
    assert not _portal_records(portal, "key_rotated")
    assert [r.status for r in _portal_records(portal, "csrf")] == [403]


def test_only_an_integrator_opens_the_consumer_page(portal):
    for who in ("hr", "supervisor"):
        client = portal.client(who)
        page = client.get("/portal/consumer")
        assert page.status_code == 403 and "没有权限" in page.text
        home = client.get("/portal/")
        answer = client.post("/portal/consumer/rotate-key", data={"csrf": csrf_of(home.text)})
        assert answer.status_code == 403
    assert len(_portal_records(portal, "forbidden")) == 4
    assert not _portal_records(portal, "key_rotated")
    anonymous = portal.client().get("/portal/consumer")
    assert anonymous.status_code == 303 and "sign-in" in anonymous.headers["location"]


def test_a_revoked_consumer_cannot_rotate(portal):
    with portal.engine.begin() as conn:
        conn.execute(
            api_consumer.update()
            .where(api_consumer.c.id == portal.hub.ids["approval"])
            .values(revoked_at=sa.func.now())
        )
    before = _key_row(portal)
    client = portal.client("integrator")
    page = client.get("/portal/consumer")
    assert page.status_code == 200 and "rotate-key" not in page.text
    answer = client.post("/portal/consumer/rotate-key", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 409 and "revoked" in answer.text
    assert _key_row(portal) == before
    assert [r.status for r in _portal_records(portal, "key_rotated")] == [409]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_rotate_the_key_in_the_browser(page, portal, site):
    portal.hub.grant("approval", "human_resources.insurance_payment", GRANTED)
    old = portal.hub.keys["approval"]
    headers = {"X-Purpose": PURPOSE}
    assert httpx.get(site + PAYMENT + LI, headers={**headers, "X-API-Key": old}).status_code == 200
    sign_in_as(page, "integrator")
    page.get_by_role("link", name="授权与调用").first.click()
    page.get_by_role("heading", name="当前有效的授权").wait_for()
    shot(page, "consumer")
    page.get_by_role("button", name="更换密钥（旧密钥立即失效）").click()
    page.get_by_role("heading", name="新的接口密钥").wait_for()
    new = page.get_by_label("新密钥").inner_text().strip()
    assert new.startswith("gdx_") and new != old
    assert "rotate" in page.url and new not in page.url
    shot(page, "consumer-new-key")
    with httpx.Client(base_url=site, headers=headers) as http:
        assert http.get(PAYMENT + LI, headers={"X-API-Key": new}).status_code == 200
        assert http.get(PAYMENT + LI, headers={"X-API-Key": old}).status_code == 401
