"""The integrator's side of access requests: apply for a resource, follow the requests, withdraw
a pending one. The person acts for their consumer (the approval system, `person.consumer_id`);
another consumer's request is a 404 page, never shown."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from portal import journal, pages
from portal.request_forms import (
    STATUS_NAMES,
    control_characters,
    date_of,
    field_error,
    one_year_after,
    request_id,
    shown,
    today,
)
from portal.session import IntegratorDep, PortalError, checked_form
from warehouse import consumers, grants
from warehouse.engine import writing
from warehouse.grants import GrantError

router = APIRouter(tags=["portal: requests"])
PAGE = 100
NOTICES = {
    "filed": (
        "申请已提交，提供部门将在10个工作日内审核。",
        "The request is filed: the provider decides within 10 working days.",
    ),
    "withdrawn": ("申请已撤回。", "The request is withdrawn."),
}


def _consumer_id(session) -> int:
    if session.person.consumer_id is None:
        raise PortalError(
            403,
            "Your account acts for no approval system (consumer): ask the hub administrator.",
            "没有权限 Not allowed",
        )
    return session.person.consumer_id


def _resource(request: Request, session, code: str, action: str):
    """The resource applied for: 404 unknown, 403 not shared (both recorded)."""
    found = request.app.state.catalog.resources.get(code)
    if found is None:
        journal.refused(
            request, session.person, "refused", 404, f"{action}: no resource {code!r}"[:300]
        )
        raise PortalError(404, f"There is no resource {code!r} in the directory.")
    if found.share_type == "not_shared":
        journal.refused(request, session.person, "refused", 403, f"{action}: {code} is not shared")
        raise PortalError(
            403,
            f"{found.name_zh} ({code}) 不予共享，不能申请。 It is not shared and cannot be "
            "requested" + (f": {found.share_conditions}" if found.share_conditions else "."),
            "不予共享 Not shared",
        )
    return found


def _form(request: Request, resource, status: int = 200, errors=None, values=None):
    values = values or {}
    catalog = request.app.state.catalog
    first = today()
    latest = one_year_after(first)
    related = [
        item
        for item in catalog.service_items.values()
        if any(material.resource == resource.code for material in item.materials)
    ]
    others = [item for item in catalog.service_items.values() if item not in related]
    return pages.render(
        request,
        "requests_new.html",
        status=status,
        errors=errors or {},
        resource=resource,
        offered=[spec for spec in resource.fields if spec.sensitivity != "secret"],
        chosen=set(values.get("fields") or []),
        related=related,
        others=others,
        service_item=values.get("service_item", ""),
        purpose=values.get("purpose", ""),
        until=values.get("until") or latest.isoformat(),
        earliest=first + dt.timedelta(days=1),
        first=first,
        latest=latest,
    )


@router.get("/requests/new")
def application_form(
    request: Request, session: IntegratorDep, resource: Annotated[str, Query(max_length=80)] = ""
):
    _consumer_id(session)
    return _form(request, _resource(request, session, resource, "apply"))


@router.post("/requests")
async def file_request(request: Request, session: IntegratorDep):
    form = await checked_form(request, session)
    values = {
        "resource": _text(form.get("resource"))[:80],
        "fields": [name[:64] for name in form.getlist("fields") if isinstance(name, str)],
        "service_item": _text(form.get("service_item"))[:40],
        "purpose": _text(form.get("purpose")),
        "until": _text(form.get("until"))[:40],
    }
    return await run_in_threadpool(_file, request, session, values)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _file(request: Request, session, values: dict[str, Any]):
    consumer_id = _consumer_id(session)
    resource = _resource(request, session, values["resource"], "request_filed")
    errors = control_characters(purpose=values["purpose"])
    if not values["fields"]:
        errors["fields"] = "请至少选择一个数据项。 Choose at least one field."
    if not values["service_item"]:
        errors["service_item"] = "请选择服务事项。 Choose the service item the data serves."
    if not values["purpose"].strip():
        errors["purpose"] = "请说明数据用途。 State what the data will be used for."
    until = date_of(values["until"])
    if until is None:
        errors["until"] = "请按 YYYY-MM-DD 填写截止日期。 Enter the last day as YYYY-MM-DD."
    if errors:
        return _form(request, resource, 422, errors, values)
    try:
        with writing(request.app.state.engine) as conn:
            consumer = consumers.by_id(conn, consumer_id)
            if consumer is None:
                raise GrantError(403, f"consumer {consumer_id} is revoked")
            found = grants.file(
                conn,
                request.app.state.catalog,
                consumer,
                resource.code,
                values["fields"],
                values["purpose"],
                values["service_item"],
                until,
            )
            journal.record(
                conn,
                request,
                session.person,
                "request_filed",
                resource=resource.code,
                reason=f"access request {found['id']}: {found['purpose']}",
            )
    except GrantError as exc:
        if exc.status == 422:
            field, message = field_error(exc)
            return _form(request, resource, 422, {field: message}, values)
        journal.refused(
            request, session.person, "refused", exc.status, "request_filed: " + exc.message
        )
        raise PortalError(exc.status, exc.message) from None
    return _redirect(found["id"], "filed")


def _redirect(found_id: int, notice: str):
    return pages.guarded(
        RedirectResponse(f"/portal/requests/{found_id}?notice={notice}", status_code=303)
    )


@router.get("/requests")
def my_requests(
    request: Request, session: IntegratorDep, before: Annotated[str, Query(max_length=12)] = ""
):
    consumer_id = _consumer_id(session)
    with request.app.state.engine.connect() as conn:
        found = grants.listing(
            conn, consumer_id=consumer_id, limit=PAGE + 1, before=request_id(before)
        )
    catalog = request.app.state.catalog
    items = [shown(item, catalog) for item in found[:PAGE]]
    return pages.render(
        request,
        "requests.html",
        items=items,
        older=items[-1]["id"] if len(found) > PAGE else None,
        status_names=STATUS_NAMES,
    )


def _mine(request: Request, session, raw: str, action: str, conn=None) -> dict[str, Any]:
    """The consumer's request `raw`; _NotMine for an unknown id or another consumer's."""
    consumer_id = _consumer_id(session)
    number = request_id(raw)
    found = None
    if number is not None:
        if conn is None:
            with request.app.state.engine.connect() as reading:
                found = grants.get(reading, number)
        else:
            found = grants.get(conn, number)
    if found is None or found["consumer_id"] != consumer_id:
        raise _NotMine(f"{action}: no access request {raw[:20]!r} of consumer {consumer_id}")
    return found


class _NotMine(Exception):
    """A request id that is not one of the consumer's (unknown or another's)."""


def _not_found(request: Request, session, exc: Exception) -> PortalError:
    journal.refused(request, session.person, "refused", 404, str(exc))
    return PortalError(404, "您的申请中没有这一项。 There is no such access request among yours.")


def _page(request: Request, found: dict[str, Any], status: int = 200, errors=None):
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return pages.render(
        request,
        "requests_one.html",
        status=status,
        errors=errors or {},
        notice=(notice[1] if pages.language(request) == "en" else notice[0]) if notice else None,
        item=shown(found, request.app.state.catalog),
        status_names=STATUS_NAMES,
    )


@router.get("/requests/{raw}")
def one_request(request: Request, session: IntegratorDep, raw: str):
    try:
        found = _mine(request, session, raw, "view")
    except _NotMine as exc:
        raise _not_found(request, session, exc) from None
    return _page(request, found)


@router.post("/requests/{raw}/withdraw")
async def withdraw_request(request: Request, session: IntegratorDep, raw: str):
    form = await checked_form(request, session)
    reason = _text(form.get("reason"))
    return await run_in_threadpool(_withdraw, request, session, raw, reason)


def _withdraw(request: Request, session, raw: str, reason: str):
    errors = control_characters(reason=reason)
    try:
        with writing(request.app.state.engine) as conn:
            found = _mine(request, session, raw, "request_withdrawn", conn)
            if errors:
                return _page(request, found, 422, errors)
            changed = grants.withdraw(conn, found["id"], found["consumer_id"], reason or None)
            journal.record(
                conn,
                request,
                session.person,
                "request_withdrawn",
                resource=changed["resource"],
                reason=f"access request {changed['id']}: {changed['revoke_reason']}",
            )
    except _NotMine as exc:
        raise _not_found(request, session, exc) from None
    except GrantError as exc:
        if exc.status == 422:
            field, message = field_error(exc)
            return _page(request, _mine(request, session, raw, "view"), 422, {field: message})
        journal.refused(
            request, session.person, "refused", exc.status, "request_withdrawn: " + exc.message
        )
        if exc.status == 404:
            raise PortalError(
                404, "您的申请中没有这一项。 There is no such access request among yours."
            ) from None
        return _page(
            request,
            _mine(request, session, raw, "view"),
            exc.status,
            {"form": "该申请已不能撤回。 " + exc.message},
        )
    return _redirect(changed["id"], "withdrawn")
