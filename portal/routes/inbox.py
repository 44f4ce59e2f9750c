"""The department administrator's side of access requests: the requests addressed to the
department, pending first (oldest deadline first, overdue marked), and approving, refusing or
revoking one. Another department's request is not listed and its page is 404 (not 403: ids are
not to be probed); a forged decision on it changes nothing and is recorded."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from portal import journal, pages
from portal.request_forms import (
    STATUS_NAMES,
    control_characters,
    date_of,
    field_error,
    request_id,
    shown,
    today,
)
from portal.session import DepartmentAdminDep, PortalError, checked_form
from warehouse import grants
from warehouse.engine import writing
from warehouse.grants import GrantError

router = APIRouter(tags=["portal: inbox"])
PENDING_SHOWN = 500
DECIDED_SHOWN = 100
NOTICES = {
    "approved": ("已批准该申请。", "The request is approved."),
    "refused": ("已拒绝该申请。", "The request is refused."),
    "revoked": ("已撤销该授权，立即生效。", "The grant is revoked: it stops working at once."),
}
# verb -> the journal's action, and the page's notice afterwards
ACTIONS = {"approve": "request_approved", "refuse": "request_refused", "revoke": "request_revoked"}
NOT_FOUND = "没有向本部门提出的这项申请。 There is no such access request addressed to you."
ACTIONS_DONE = {"approve": "approved", "refuse": "refused", "revoke": "revoked"}


@router.get("/inbox")
def inbox(request: Request, session: DepartmentAdminDep):
    department = session.person.department
    catalog = request.app.state.catalog
    with request.app.state.engine.connect() as conn:
        pending = grants.listing(conn, provider=department, status="pending", limit=PENDING_SHOWN)
        recent = grants.listing(conn, provider=department, limit=DECIDED_SHOWN + PENDING_SHOWN)
    pending.sort(key=lambda item: (item["decide_by"], item["id"]))
    decided = [item for item in recent if item["status"] != "pending"][:DECIDED_SHOWN]
    return pages.render(
        request,
        "inbox.html",
        pending=[shown(item, catalog) for item in pending],
        decided=[shown(item, catalog) for item in decided],
        overdue=sum(item["overdue"] for item in pending),
        status_names=STATUS_NAMES,
    )


class _NotOurs(Exception):
    """A request id that is not addressed to the department (unknown or another's)."""


def _ours(conn, session, raw: str, action: str) -> dict[str, Any]:
    number = request_id(raw)
    found = grants.get(conn, number) if number is not None else None
    department = session.person.department
    if found is None or found["provider"] != department:
        raise _NotOurs(f"{action}: no access request {raw[:20]!r} addressed to {department}")
    return found


def _not_found(request: Request, session, exc: Exception) -> PortalError:
    journal.refused(request, session.person, "refused", 404, str(exc))
    return PortalError(
        404,
        NOT_FOUND,
    )


def _page(request: Request, found: dict[str, Any], status: int = 200, errors=None, **values):
    notice = NOTICES.get(request.query_params.get("notice", ""))
    item = shown(found, request.app.state.catalog)
    return pages.render(
        request,
        "inbox_one.html",
        status=status,
        errors=errors or {},
        notice=(notice[1] if pages.language(request) == "en" else notice[0]) if notice else None,
        item=item,
        status_names=STATUS_NAMES,
        first=today(),
        reason=values.get("reason", ""),
        until=values.get("until", ""),
    )


@router.get("/inbox/{raw}")
def one_request(request: Request, session: DepartmentAdminDep, raw: str):
    try:
        with request.app.state.engine.connect() as conn:
            found = _ours(conn, session, raw, "view")
    except _NotOurs as exc:
        raise _not_found(request, session, exc) from None
    return _page(request, found)


@router.post("/inbox/{raw}/{verb}")
async def decide(request: Request, session: DepartmentAdminDep, raw: str, verb: str):
    if verb not in ACTIONS:
        raise PortalError(404, "There is no such page in the portal.")
    form = await checked_form(request, session)
    values = {
        "reason": form.get("reason") if isinstance(form.get("reason"), str) else "",
        "until": form.get("until") if isinstance(form.get("until"), str) else "",
    }
    return await run_in_threadpool(_decide, request, session, raw, verb, values)


def _decide(request: Request, session, raw: str, verb: str, values: dict[str, str]):
    action = ACTIONS[verb]
    person = session.person
    errors = control_characters(reason=values["reason"])
    until = None
    if verb == "approve" and values["until"].strip():
        until = date_of(values["until"])
        if until is None:
            errors["until"] = "请按 YYYY-MM-DD 填写日期。 Enter the last day as YYYY-MM-DD."
    try:
        with writing(request.app.state.engine) as conn:
            found = _ours(conn, session, raw, action)
            if errors:
                return _page(request, found, 422, errors, **values)
            if verb == "approve":
                changed = grants.approve(
                    conn, found["id"], person.department, person.username, until=until
                )
                why = f"until {shown(changed, request.app.state.catalog)['until']}"
            elif verb == "refuse":
                changed = grants.refuse(
                    conn, found["id"], person.department, person.username, values["reason"]
                )
                why = changed["reason"]
            else:
                changed = grants.revoke(
                    conn, found["id"], person.department, person.username, values["reason"]
                )
                why = changed["revoke_reason"]
            journal.record(
                conn,
                request,
                person,
                action,
                resource=changed["resource"],
                reason=f"access request {changed['id']}: {why}",
            )
    except _NotOurs as exc:
        raise _not_found(request, session, exc) from None
    except GrantError as exc:
        return _refused(request, session, raw, action, exc, values)
    return pages.guarded(
        RedirectResponse(f"/portal/inbox/{changed['id']}?notice={ACTIONS_DONE[verb]}", 303)
    )


def _refused(request: Request, session, raw: str, action: str, exc: GrantError, values):
    """A decision the data layer refused: the field's message (422), else recorded: 404 for
    a request that is not the department's, the page with the reason otherwise (409)."""
    if exc.status == 422:
        field, message = field_error(exc)
        with request.app.state.engine.connect() as conn:
            found = _ours(conn, session, raw, "view")
        return _page(request, found, 422, {field: message}, **values)
    journal.refused(request, session.person, "refused", exc.status, f"{action}: {exc.message}")
    if exc.status in (403, 404):
        raise PortalError(
            404,
            NOT_FOUND,
        )
    with request.app.state.engine.connect() as conn:
        found = _ours(conn, session, raw, "view")
    return _page(request, found, exc.status, {"form": "无法办理。 " + exc.message})
