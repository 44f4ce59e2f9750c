"""The department administrator's inbox: requests addressed to the department (pending first,
oldest deadline first, overdue marked), approving, refusing and revoking; another department's
request is never listed, its page is 404 and a forged decision changes nothing. Over HTTP on
both backends, and in Chromium (SQLite)."""

from __future__ import annotations

import datetime as dt
import html

import pytest

from portal.request_forms import today
from tests.portal.conftest import csrf_of, sign_in_as
from tests.portal.test_requests import INSURANCE, SCRIPT, actions, file_direct, requests_of
from warehouse import audit, grants


def status_of(portal, request_id: int) -> str:
    with portal.engine.connect() as conn:
        return grants.get(conn, request_id)["status"]


def decide(client, request_id: int, verb: str, **form):
    token = csrf_of(client.get("/portal/inbox").text)
    return client.post(f"/portal/inbox/{request_id}/{verb}", data={"csrf": token, **form})


def test_the_inbox_lists_pending_first_by_deadline_with_overdue_marked(portal):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    lately = dt.datetime.now(dt.UTC) - dt.timedelta(days=5)
    recent = file_direct(portal, purpose="filed today")
    overdue = file_direct(portal, purpose="filed long ago", now=long_ago)
    older = file_direct(portal, purpose="filed lately", now=lately)
    decided = file_direct(portal, purpose="decided one")
    with portal.engine.begin() as conn:
        grants.refuse(conn, decided["id"], "human_resources", "hr", "不符合条件")
    theirs = file_direct(portal, resource="population.person", fields=["household_address"])
    page = portal.client("hr").get("/portal/inbox")
    assert page.status_code == 200
    text = page.text
    order = [
        text.index(f'href="/portal/inbox/{item["id"]}"')
        for item in (overdue, older, recent, decided)
    ]
    assert order == sorted(order)  # pending by deadline, then the decided ones
    assert f'href="/portal/inbox/{theirs["id"]}"' not in text  # public_security's
    row = text[text.index(f'href="/portal/inbox/{overdue["id"]}"') - 200 :]
    assert '<tr class="overdue">' in row[:200] and "逾期" in row[:600]
    assert text.count('<strong class="overdue">逾期</strong>') == 1
    assert "不符合条件" in text and "省政务服务和数字化建设管理局" in text
    ps_page = portal.client("ps").get("/portal/inbox")
    assert f'href="/portal/inbox/{theirs["id"]}"' in ps_page.text
    assert f'href="/portal/inbox/{overdue["id"]}"' not in ps_page.text


def test_a_request_is_shown_in_full(portal):
    found = file_direct(portal, fields=["name", "months_paid"], purpose="办理医保关系转移")
    page = portal.client("hr").get(f"/portal/inbox/{found['id']}")
    assert page.status_code == 200
    text = page.text
    for shown in (
        "approval",
        "省政务服务和数字化建设管理局",
        "姓名",
        "累计缴费月数",
        "办理医保关系转移",
        "000212017000",
        "基本医疗保险关系转移接续",
        found["requested_until"].isoformat(),
        found["decide_by"].isoformat(),
    ):
        assert shown in text, shown
    assert 'for="until"' in text and 'for="reason"' in text
    assert "<title>审核共享申请" in text
    english = portal.client("hr").get(f"/portal/inbox/{found['id']}?lang=en").text
    assert "Why refused" in english and "Provincial Government Services" in english


def test_approving_with_an_earlier_end(portal):
    found = file_direct(portal)
    client = portal.client("hr")
    earlier = today() + dt.timedelta(days=10)
    answer = decide(client, found["id"], "approve", until=earlier.isoformat())
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/portal/inbox/{found['id']}?notice=approved"
    page = client.get(answer.headers["location"])
    assert "已批准该申请" in page.text and f"有效至 {earlier.isoformat()}" in page.text
    [approved] = requests_of(portal)
    assert approved["status"] == "approved" and approved["decided_by"] == "hr"
    assert "撤销授权" in page.text  # an approved one can be revoked
    [record] = [row for row in actions(portal) if row["action"] == "request_approved"]
    assert record["person"] == "hr" and record["department"] == "human_resources"
    assert record["resource"] == INSURANCE and record["status"] == 200
    assert f"access request {found['id']}" in record["reason"]


def test_approving_as_asked_by_default(portal):
    found = file_direct(portal)
    answer = decide(portal.client("hr"), found["id"], "approve", until="")
    assert answer.status_code == 303
    assert status_of(portal, found["id"]) == "approved"


@pytest.mark.parametrize(
    ("until", "words"),
    [("2099-01-01", "later than the consumer asked for"), ("not-a-date", "YYYY-MM-DD")],
)
def test_an_end_later_than_asked_is_refused_beside_the_field(portal, until, words):
    found = file_direct(portal)
    answer = decide(portal.client("hr"), found["id"], "approve", until=until)
    assert answer.status_code == 422
    assert 'href="#until"' in answer.text and 'id="until-error"' in answer.text
    assert words in html.unescape(answer.text)
    assert status_of(portal, found["id"]) == "pending"


def test_a_refusal_needs_its_reason(portal):
    found = file_direct(portal)
    client = portal.client("hr")
    empty = decide(client, found["id"], "refuse", reason="   ")
    assert empty.status_code == 422
    assert 'href="#reason"' in empty.text and 'id="reason-error"' in empty.text
    assert "请填写理由" in empty.text
    assert status_of(portal, found["id"]) == "pending"
    answer = decide(client, found["id"], "refuse", reason="超出用途范围")
    assert answer.status_code == 303
    [refused] = requests_of(portal)
    assert refused["status"] == "refused" and refused["reason"] == "超出用途范围"
    assert refused["decided_by"] == "hr"
    assert [row["action"] for row in actions(portal)][-1] == "request_refused"


def test_revoking_an_approved_request_needs_a_reason(portal):
    found = file_direct(portal)
    client = portal.client("hr")
    decide(client, found["id"], "approve")
    empty = decide(client, found["id"], "revoke", reason="")
    assert empty.status_code == 422 and 'id="reason-error"' in empty.text
    assert status_of(portal, found["id"]) == "approved"
    answer = decide(client, found["id"], "revoke", reason="系统已停用")
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "已撤销" in page.text and "系统已停用" in page.text
    [revoked] = requests_of(portal)
    assert revoked["status"] == "revoked" and revoked["revoked_by"] == "hr"
    done = [row["action"] for row in actions(portal) if row["action"].startswith("request_")]
    assert done == ["request_approved", "request_revoked"]


def test_a_decided_request_cannot_be_decided_again(portal):
    found = file_direct(portal)
    client = portal.client("hr")
    decide(client, found["id"], "refuse", reason="不符合")
    again = decide(client, found["id"], "approve")
    assert again.status_code == 409 and "refused" in again.text
    revoke = decide(client, found["id"], "revoke", reason="x")
    assert revoke.status_code == 409
    assert status_of(portal, found["id"]) == "refused"
    refusals = [row for row in actions(portal) if row["action"] == "refused"]
    assert [row["status"] for row in refusals] == [409, 409]
    assert refusals[0]["person"] == "hr" and refusals[0]["department"] == "human_resources"


def test_another_departments_request_is_a_404_and_forged_decisions_change_nothing(portal):
    found = file_direct(portal)
    approved = file_direct(portal)
    with portal.engine.begin() as conn:
        grants.approve(conn, approved["id"], "human_resources", "hr")
    ps = portal.client("ps")
    assert f'/portal/inbox/{found["id"]}"' not in ps.get("/portal/inbox").text
    page = ps.get(f"/portal/inbox/{found['id']}")
    assert page.status_code == 404 and "test purpose" not in page.text
    for request_id, verb, form in [
        (found["id"], "approve", {}),
        (found["id"], "refuse", {"reason": "伪造"}),
        (found["id"], "refuse", {"reason": ""}),
        (approved["id"], "revoke", {"reason": "伪造"}),
    ]:
        answer = decide(ps, request_id, verb, **form)  # ps's own valid token
        assert answer.status_code == 404, (verb, answer.text)
        assert "test purpose" not in answer.text
    assert status_of(portal, found["id"]) == "pending"
    assert status_of(portal, approved["id"]) == "approved"
    refusals = [row for row in actions(portal) if row["action"] == "refused"]
    assert len(refusals) == 5 and {row["status"] for row in refusals} == {404}
    assert {row["person"] for row in refusals} == {"ps"}
    assert {row["department"] for row in refusals} == {"public_security"}
    assert not [row for row in actions(portal) if row["action"].startswith("request_")]
    for url in ("/portal/inbox/0", "/portal/inbox/abc", "/portal/inbox/4294967296"):
        assert ps.get(url).status_code == 404
    assert ps.post(f"/portal/inbox/{found['id']}/delete", data={}).status_code == 404
    with portal.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_a_stale_token_decides_nothing(portal):
    found = file_direct(portal)
    client = portal.client("hr")
    for verb in ("approve", "refuse"):
        answer = client.post(
            f"/portal/inbox/{found['id']}/{verb}", data={"csrf": "stale", "reason": "x"}
        )
        assert answer.status_code == 403 and "表单已失效" in answer.text
    assert status_of(portal, found["id"]) == "pending"
    assert [row["action"] for row in actions(portal)][-2:] == ["csrf", "csrf"]


def test_only_a_department_administrator_has_an_inbox(portal):
    found = file_direct(portal)
    integrator = portal.client("integrator")
    assert integrator.get("/portal/inbox").status_code == 403
    assert integrator.get(f"/portal/inbox/{found['id']}").status_code == 403


def test_markup_in_a_purpose_and_a_reason_is_shown_as_text(portal):
    found = file_direct(portal, purpose=SCRIPT)
    client = portal.client("hr")
    decide(client, found["id"], "approve")
    decide(client, found["id"], "revoke", reason="<img src=x onerror=alert(1)>")
    for url in ("/portal/inbox", f"/portal/inbox/{found['id']}"):
        text = client.get(url).text
        assert SCRIPT not in text and "<img src=x" not in text
    page = client.get(f"/portal/inbox/{found['id']}").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get("/portal/inbox").text


def test_the_audit_chain_holds_every_action_with_person_and_department(portal):
    integrator = portal.client("integrator")
    hr = portal.client("hr")
    first, second = file_direct(portal), file_direct(portal)
    decide(hr, first["id"], "approve")
    decide(hr, second["id"], "refuse", reason="不符合")
    decide(hr, first["id"], "revoke", reason="到期前停用")
    third = file_direct(portal)
    token = csrf_of(integrator.get("/portal/requests").text)
    integrator.post(f"/portal/requests/{third['id']}/withdraw", data={"csrf": token})
    done = [
        (row["action"], row["person"], row["department"])
        for row in actions(portal)
        if row["action"].startswith("request_")
    ]
    assert done == [
        ("request_approved", "hr", "human_resources"),
        ("request_refused", "hr", "human_resources"),
        ("request_revoked", "hr", "human_resources"),
        ("request_withdrawn", "integrator", "government_services"),
    ]
    with portal.engine.connect() as conn:
        assert audit.verify(conn).ok


# --- in Chromium ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_another_department_sees_nothing_of_the_request(page, portal):
    found = file_direct(portal, purpose="人社的申请")
    sign_in_as(page, "ps")
    page.goto("/portal/inbox")
    page.get_by_role("heading", name="待审申请").wait_for()
    assert page.get_by_text("人社的申请").count() == 0
    assert page.get_by_text("没有待审核的申请").is_visible()
    answer = page.goto(f"/portal/inbox/{found['id']}")
    assert answer.status == 404
    assert page.get_by_role("heading", name="页面不存在 Not found").is_visible()
    assert page.get_by_text("人社的申请").count() == 0
