"""The integrator's access requests in the portal: the application form, filing (with every
error beside its field), the list and one request, withdrawing; another consumer's request is
never shown. Over HTTP on both backends, and in Chromium (SQLite)."""

from __future__ import annotations

import datetime as dt
import html

import httpx
import pytest
import sqlalchemy as sa

from portal.request_forms import one_year_after, today
from tests.portal.conftest import csrf_of, shot, sign_in_as
from tests.services.conftest import LI, PURPOSE
from warehouse import audit, consumers, grants
from warehouse.tables import audit_log

INSURANCE = "human_resources.insurance_payment"
NEW = f"/portal/requests/new?resource={INSURANCE}"
RETIREMENT = "000212005000"  # 职工基本养老保险待遇申领
SCRIPT = "<script>alert('x')</script>"


def actions(portal) -> list[dict]:
    """The portal's records in the audit log, oldest first."""
    with portal.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.action.is_not(None)).order_by(audit_log.c.seq)
        ).all()
    return [dict(row._mapping) for row in rows]


def requests_of(portal) -> list[dict]:
    with portal.engine.connect() as conn:
        return grants.listing(conn)


def filing(portal, client, **changes) -> dict:
    """A complete application form as a person sends it, with `changes`."""
    form = {
        "csrf": csrf_of(client.get(NEW).text),
        "resource": INSURANCE,
        "fields": ["months_paid", "monthly_base"],
        "service_item": PURPOSE,
        "purpose": "核验参保缴费情况，办理医保关系转移",
        "until": (today() + dt.timedelta(days=90)).isoformat(),
    }
    return {**form, **changes}


def file_direct(portal, who="approval", resource=INSURANCE, fields=("months_paid",), **kw):
    """A request filed through the data layer (for pages that show them)."""
    with portal.engine.begin() as conn:
        consumer = consumers.by_id(conn, portal.hub.ids[who])
        return grants.file(
            conn,
            portal.catalog,
            consumer,
            resource,
            list(fields),
            kw.pop("purpose", "test purpose"),
            kw.pop("service_item", PURPOSE),
            kw.pop("until", today() + dt.timedelta(days=60)),
            **kw,
        )


# --- the application form ---------------------------------------------------------------------


def test_the_form_offers_the_fields_the_service_items_and_a_year_at_most(portal):
    page = portal.client("integrator").get(NEW)
    assert page.status_code == 200, page.text
    text = page.text
    assert "<title>申请使用 社会保险缴费信息" in text
    assert 'for="field-months_paid">累计缴费月数</label>' in text
    assert "基本医疗保险关系转移接续" in text and 'value="000212017000"' in text
    latest = one_year_after(today()).isoformat()
    assert f'value="{latest}"' in text and f'max="{latest}"' in text
    for label in ('for="service_item"', 'for="purpose"', 'for="until"', "<legend>"):
        assert label in text
    english = portal.client("integrator").get(NEW + "&lang=en")
    assert "File the request" in english.text and "Social insurance contributions" in english.text
    # a secret field is never offered
    organization = portal.client("integrator").get(
        "/portal/requests/new?resource=legal_entity.organization"
    )
    assert organization.status_code == 200
    assert 'value="legal_rep_name"' in organization.text
    assert 'value="legal_rep_id"' not in organization.text


def test_an_unknown_or_not_shared_resource_cannot_be_applied_for(portal):
    client = portal.client("integrator")
    unknown = client.get("/portal/requests/new?resource=nothing.here")
    assert (
        unknown.status_code == 404
        and '<form method="post" action="/portal/requests"' not in unknown.text
    )
    secret = client.get("/portal/requests/new?resource=public_security.case_file")
    assert secret.status_code == 403 and "不予共享" in secret.text
    forged = client.post(
        "/portal/requests", data=filing(portal, client, resource="public_security.case_file")
    )
    assert forged.status_code == 403
    assert requests_of(portal) == []
    refused = [row for row in actions(portal) if row["action"] == "refused"]
    assert [row["status"] for row in refused] == [404, 403, 403]


def test_only_an_integrator_applies(portal):
    client = portal.client("hr")
    assert client.get(NEW).status_code == 403
    assert client.get("/portal/requests").status_code == 403
    assert client.post("/portal/requests", data={"csrf": "x"}).status_code == 403


# --- filing -----------------------------------------------------------------------------------


def test_filing_a_request_shows_it_with_a_notice_and_records_it(portal):
    client = portal.client("integrator")
    answer = client.post("/portal/requests", data=filing(portal, client))
    assert answer.status_code == 303, answer.text
    [found] = requests_of(portal)
    assert answer.headers["location"] == f"/portal/requests/{found['id']}?notice=filed"
    assert found["consumer_id"] == portal.hub.ids["approval"]
    assert found["fields"] == ["months_paid", "monthly_base"]
    assert found["status"] == "pending" and found["service_item"] == PURPOSE
    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    assert "申请已提交" in page.text and 'role="status"' in page.text
    assert "待审核" in page.text and found["decide_by"].isoformat() in page.text
    assert "累计缴费月数" in page.text and "月缴费基数" in page.text
    [filed] = [row for row in actions(portal) if row["action"] == "request_filed"]
    assert filed["person"] == "integrator" and filed["department"] == "government_services"
    assert filed["resource"] == INSURANCE and filed["consumer_id"] == portal.hub.ids["approval"]
    assert f"access request {found['id']}" in filed["reason"]
    with portal.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_every_missing_answer_is_shown_at_the_top_and_beside_its_field(portal):
    client = portal.client("integrator")
    answer = client.post(
        "/portal/requests",
        data=filing(portal, client, fields=[], service_item="", purpose="  ", until="someday"),
    )
    assert answer.status_code == 422
    text = answer.text
    assert 'class="error-summary"' in text
    for field in ("fields", "service_item", "purpose", "until"):
        assert f'href="#{field}"' in text  # in the summary
        assert f'id="{field}-error"' in text  # beside the field
    assert requests_of(portal) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"until": "2099-01-01"}, "until", "more than a year ahead"),
        ({"until": "2000-01-01"}, "until", "is not after today"),
        ({"fields": ["months_paid", "no_such"]}, "fields", "is not a field"),
        ({"service_item": "999999999999"}, "service_item", "not a service item"),
        ({"purpose": "x" * 501}, "purpose", "at most 500"),
        ({"purpose": "bad\x00byte"}, "purpose", "Control characters"),
    ],
)
def test_the_data_layers_refusal_is_shown_beside_its_field_with_the_values_kept(
    portal, changes, field, words
):
    client = portal.client("integrator")
    answer = client.post("/portal/requests", data=filing(portal, client, **changes))
    assert answer.status_code == 422, answer.text
    text = html.unescape(answer.text)
    assert f'href="#{field}"' in answer.text and f'id="{field}-error"' in answer.text
    assert words in text
    if field != "purpose":
        assert "核验参保缴费情况，办理医保关系转移" in text  # kept
    if field != "fields":
        assert 'value="months_paid" checked' in answer.text
    assert requests_of(portal) == []


def test_a_secret_field_posted_anyway_is_refused(portal):
    client = portal.client("integrator")
    form = filing(portal, client, resource="legal_entity.organization", fields=["legal_rep_id"])
    answer = client.post("/portal/requests", data=form)
    assert answer.status_code == 422 and "secret" in answer.text
    assert requests_of(portal) == []


def test_a_stale_form_token_files_nothing(portal):
    client = portal.client("integrator")
    answer = client.post("/portal/requests", data=filing(portal, client, csrf="stale"))
    assert answer.status_code == 403 and "表单已失效" in answer.text
    assert requests_of(portal) == []
    assert [row["action"] for row in actions(portal)][-1] == "csrf"


# --- the list and one request -----------------------------------------------------------------


def test_the_list_shows_every_status_newest_first(portal):
    pending = file_direct(portal, purpose="still pending")
    approved = file_direct(portal, purpose="approved one")
    refused = file_direct(portal, purpose="refused one")
    revoked = file_direct(portal, purpose="revoked one")
    withdrawn = file_direct(portal, purpose="withdrawn one")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    expired = file_direct(
        portal, purpose="expired one", now=long_ago, until=today() - dt.timedelta(days=2)
    )
    with portal.engine.begin() as conn:
        grants.approve(conn, approved["id"], "human_resources", "hr")
        grants.refuse(conn, refused["id"], "human_resources", "hr", "超出用途范围")
        grants.approve(conn, revoked["id"], "human_resources", "hr")
        grants.revoke(conn, revoked["id"], "human_resources", "hr", "系统停用")
        grants.withdraw(conn, withdrawn["id"], portal.hub.ids["approval"])
        grants.approve(
            conn,
            expired["id"],
            "human_resources",
            "hr",
            until=today() - dt.timedelta(days=3),
            now=long_ago + dt.timedelta(days=1),
        )
    theirs = file_direct(portal, who="other", purpose="another consumer's")
    page = portal.client("integrator").get("/portal/requests")
    assert page.status_code == 200
    text = page.text
    assert "another consumer" not in text and f'"/portal/requests/{theirs["id"]}"' not in text
    order = [
        text.index(f'href="/portal/requests/{item["id"]}"')
        for item in (expired, withdrawn, revoked, refused, approved, pending)
    ]
    assert order == sorted(order)
    assert "待审核" in text and pending["decide_by"].isoformat() in text
    until = (today() + dt.timedelta(days=60)).isoformat()
    assert "已批准" in text and f"有效至 {until}" in text
    assert "未批准" in text and "超出用途范围" in text
    assert "已撤销" in text and "系统停用" in text
    assert "已撤回" in text and "已到期" in text


def test_another_consumers_request_is_a_404_and_recorded(portal):
    theirs = file_direct(portal, who="other", purpose="their secret plan")
    client = portal.client("integrator")
    for url in (
        f"/portal/requests/{theirs['id']}",
        "/portal/requests/999999",
        "/portal/requests/abc",
        "/portal/requests/99999999999999999999",
    ):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert "their secret plan" not in answer.text
    refused = [row for row in actions(portal) if row["action"] == "refused"]
    assert len(refused) == 4 and {row["status"] for row in refused} == {404}
    assert refused[0]["person"] == "integrator"


def test_withdrawing_a_pending_request(portal):
    mine = file_direct(portal)
    client = portal.client("integrator")
    page = client.get(f"/portal/requests/{mine['id']}")
    assert "撤回申请" in page.text
    answer = client.post(
        f"/portal/requests/{mine['id']}/withdraw",
        data={"csrf": csrf_of(page.text), "reason": "事项已办结"},
    )
    assert answer.status_code == 303
    shown = client.get(answer.headers["location"])
    assert "申请已撤回" in shown.text and "已撤回" in shown.text and "事项已办结" in shown.text
    assert requests_of(portal)[0]["status"] == "withdrawn"
    again = client.post(
        f"/portal/requests/{mine['id']}/withdraw", data={"csrf": csrf_of(page.text)}
    )
    assert again.status_code == 409 and "withdrawn" in again.text
    done = [row for row in actions(portal) if row["action"] in {"request_withdrawn", "refused"}]
    assert [(row["action"], row["status"]) for row in done] == [
        ("request_withdrawn", 200),
        ("refused", 409),
    ]
    with portal.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_another_consumers_request_cannot_be_withdrawn(portal):
    theirs = file_direct(portal, who="other")
    client = portal.client("integrator")
    token = csrf_of(client.get("/portal/requests").text)
    answer = client.post(f"/portal/requests/{theirs['id']}/withdraw", data={"csrf": token})
    assert answer.status_code == 404
    assert requests_of(portal)[0]["status"] == "pending"
    assert actions(portal)[-1]["action"] == "refused" and actions(portal)[-1]["status"] == 404


def test_a_stale_token_withdraws_nothing(portal):
    mine = file_direct(portal)
    client = portal.client("integrator")
    answer = client.post(f"/portal/requests/{mine['id']}/withdraw", data={"csrf": "old"})
    assert answer.status_code == 403
    assert requests_of(portal)[0]["status"] == "pending"


def test_a_purpose_and_a_reason_with_markup_are_shown_as_text(portal):
    client = portal.client("integrator")
    answer = client.post("/portal/requests", data=filing(portal, client, purpose=SCRIPT))
    [found] = requests_of(portal)
    with portal.engine.begin() as conn:
        grants.refuse(conn, found["id"], "human_resources", "hr", "<b>不符合</b>" + SCRIPT)
    for url in (answer.headers["location"], "/portal/requests"):
        text = client.get(url).text
        assert SCRIPT not in text and "<b>不符合</b>" not in text
        assert html.escape(SCRIPT) in text or "&lt;script&gt;" in text


# --- in Chromium ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_apply_approve_and_call_the_api(page, portal, site):
    payment = f"{site}/api/v1/resources/{INSURANCE}/records/{LI}"
    headers = {"X-API-Key": portal.hub.keys["approval"], "X-Purpose": PURPOSE}
    assert httpx.get(payment, headers=headers).status_code == 403  # no grant yet

    sign_in_as(page, "integrator")
    page.goto(NEW)
    page.get_by_label("累计缴费月数").check()
    page.get_by_label("月缴费基数").check()
    page.get_by_label("服务事项").select_option(PURPOSE)
    page.get_by_label("用途").fill("核验参保缴费情况，办理医保关系转移")
    shot(page, "apply")
    page.get_by_role("button", name="提交申请").click()
    page.get_by_text("申请已提交").wait_for()
    assert page.get_by_text("待审核").first.is_visible()
    [found] = requests_of(portal)

    page.get_by_role("button", name="退出").click()
    sign_in_as(page, "hr")
    page.goto("/portal/inbox")
    shot(page, "inbox")
    page.get_by_role("link", name="社会保险缴费信息").click()
    assert page.get_by_text("核验参保缴费情况，办理医保关系转移").is_visible()
    page.get_by_role("button", name="批准", exact=True).click()
    page.get_by_text("已批准该申请").wait_for()

    answer = httpx.get(payment, headers=headers)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["data"]) == {"months_paid", "monthly_base"}
    assert requests_of(portal)[0]["decided_by"] == "hr" and found["id"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_refusal_and_its_reason_reach_the_integrator(page, portal):
    mine = file_direct(portal, purpose="申请全部缴费数据")
    sign_in_as(page, "hr")
    page.goto(f"/portal/inbox/{mine['id']}")
    page.get_by_role("button", name="拒绝").click()
    page.get_by_text("请填写理由").first.wait_for()  # a refusal needs its reason
    page.get_by_label("拒绝理由").fill("超出社会保障类事项的用途范围")
    page.get_by_role("button", name="拒绝").click()
    page.get_by_text("已拒绝该申请").wait_for()

    page.get_by_role("button", name="退出").click()
    sign_in_as(page, "integrator")
    page.goto("/portal/requests")
    page.get_by_role("link", name=str(mine["id"]), exact=True).click()
    assert page.get_by_text("超出社会保障类事项的用途范围").first.is_visible()
    assert page.get_by_text("未批准").first.is_visible()
    shot(page, "request")
