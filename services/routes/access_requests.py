"""Access requests: a consumer files one, the provider department's administrator decides.

A consumer (approval system) sees its own requests; a department's administrator sees those
addressed to its department and approves, refuses (with a reason) or revokes them. A request
of someone else is 404, a decision by anyone but the provider's administrator 403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from runtime import clock
from services import metrics
from services.deps import CatalogDep, ConsumerDep, EngineDep
from services.formats import Time
from services.problems import responses
from warehouse import grants
from warehouse.consumers import Consumer
from warehouse.engine import writing
from warehouse.grants import GrantError

router = APIRouter(prefix="/api/v1/access-requests", tags=["access requests"])

# 400: a body that is not UTF-8 JSON
FILING = responses(400, 401, 403, 422, 429)
LISTING = responses(401, 422, 429)
READING = responses(401, 404, 422, 429)
DECIDING = responses(400, 401, 403, 404, 409, 422, 429)
WITHDRAWING = responses(400, 401, 404, 409, 422, 429)

FieldName = Annotated[str, Field(max_length=64)]
NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # line breaks and tabs are fine
Reason = Annotated[str, Field(max_length=grants.MAX_REASON, pattern=NO_CONTROL)]
Status = Literal["pending", "approved", "expired", "refused", "revoked", "withdrawn"]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The request's id.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessRequestIn(Strict):
    resource: str = Field(
        max_length=80, description="Code of the resource, e.g. human_resources.insurance_payment."
    )
    fields: list[FieldName] = Field(
        max_length=grants.MAX_FIELDS,
        description="The fields wanted; sensitive ones are served unmasked under the grant. "
        "Secret fields cannot be requested.",
    )
    purpose: str = Field(
        max_length=grants.MAX_PURPOSE,
        pattern=NO_CONTROL,
        description="What the data will be used for.",
    )
    service_item: str = Field(
        max_length=40, description="Code of the service item (政务服务事项) the data serves."
    )
    requested_until: dt.date = Field(
        description="Last day of the grant asked for: after today, at most a year ahead."
    )


class Approval(Strict):
    reason: Reason | None = None
    until: dt.date | None = Field(
        None, description="Last day of the grant (default: the day asked for; never later)."
    )


class Refusal(Strict):
    reason: Reason | None = Field(None, description="Why: required, not blank.")


class Revocation(Strict):
    reason: Reason | None = Field(None, description="Why: required, not blank.")


class Withdrawal(Strict):
    reason: Reason | None = None


class AccessRequestOut(BaseModel):
    id: int
    consumer_id: int
    consumer: str | None = Field(description="Name of the consumer that filed it.")
    department: str = Field(description="The consumer's department.")
    resource: str
    provider: str = Field(description="The department that decides.")
    fields: list[str]
    purpose: str
    service_item: str
    requested_until: dt.date
    status: Status = Field(description="`expired`: approved, and past its end.")
    filed_at: Time
    decide_by: dt.date = Field(description="The deadline of the decision: 10 working days.")
    overdue: bool = Field(description="Pending past its deadline.")
    decided_at: Time | None
    decided_by: str | None
    reason: str | None = Field(description="The reason given with the approval or refusal.")
    expires_at: Time | None = Field(
        description="End of the grant: the end of its last day in the province's time zone."
    )
    expired: bool
    revoked_at: Time | None
    revoked_by: str | None
    revoke_reason: str | None


class AccessRequestPage(BaseModel):
    items: list[AccessRequestOut]
    next: str | None = Field(description="Link to the next page; null on the last one.")


TIMES = ("filed_at", "decided_at", "expires_at", "revoked_at")


def shown(found: dict[str, Any]) -> dict[str, Any]:
    """An access request as the API shows it: its times local, with their offset."""
    return {**found, **{name: clock.iso(found[name]) for name in TIMES}}


def _audit(request: Request, consumer: Consumer, **details: Any) -> dict[str, Any]:
    """What the audit middleware records of this call."""
    audit = getattr(request.state, "audit", None)
    if not isinstance(audit, dict):
        audit = request.state.audit = {}
    audit.update(consumer_id=consumer.id, consumer=consumer.name, **details)
    return audit


REASONS = {403: "forbidden", 404: "not_found"}


def _denied(request: Request, status: int, detail: str) -> HTTPException:
    request.state.audit["reason"] = detail
    metrics.denied(request, REASONS.get(status, "bad_request"))
    return HTTPException(status, detail)


def _write(request: Request, engine: sa.Engine, change: Callable[[sa.Connection], dict]) -> dict:
    """Run `change` in a write transaction; a GrantError is the problem it names."""
    try:
        with writing(engine) as conn:
            found = change(conn)
    except GrantError as exc:
        raise _denied(request, exc.status, exc.message) from None
    request.state.audit["resource"] = found["resource"]
    return shown(found)


def _decider(
    request: Request, request_id: int, consumer: Consumer, verb: str, why: str | None
) -> None:
    """Audit a decision; only a department's administrator decides."""
    _audit(request, consumer, reason=f"{verb} access request {request_id}: {why or ''}".strip())
    if not consumer.is_admin:
        raise _denied(
            request,
            403,
            f"only the data administrator of the provider department may {verb} an access "
            f"request; {consumer.name} is an approval system",
        )


@router.post(
    "",
    status_code=201,
    response_model=AccessRequestOut,
    summary="File an access request",
    responses=FILING,
)
def file_request(
    request: Request,
    body: AccessRequestIn,
    consumer: ConsumerDep,
    engine: EngineDep,
    catalog: CatalogDep,
) -> dict:
    """Ask the provider department for fields of a resource, for one service item, until a
    date. The provider decides within 10 working days (`decide_by`)."""
    _audit(request, consumer, resource=body.resource, reason=f"file: {body.purpose}")
    return _write(
        request,
        engine,
        lambda conn: grants.file(
            conn,
            catalog,
            consumer,
            body.resource,
            body.fields,
            body.purpose,
            body.service_item,
            body.requested_until,
        ),
    )


@router.get(
    "",
    response_model=AccessRequestPage,
    summary="List access requests, newest first (paged)",
    responses=LISTING,
)
def list_requests(
    request: Request,
    consumer: ConsumerDep,
    engine: EngineDep,
    status: Annotated[
        Status | None,
        Query(description="Only requests in this status."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Requests per page.")] = 100,
    after: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="The last id of the previous page."),
    ] = None,
) -> dict:
    """A consumer's own requests; for a department's administrator, those addressed to its
    department. Newest first; `next` links the following page."""
    _audit(request, consumer)
    scope: dict[str, Any] = (
        {"provider": consumer.department} if consumer.is_admin else {"consumer_id": consumer.id}
    )
    with engine.connect() as conn:
        found = grants.listing(conn, status=status, limit=limit + 1, before=after, **scope)
    items, more = found[:limit], len(found) > limit
    following = None
    if more:
        query = {"status": status} if status else {}
        query |= {"limit": limit, "after": items[-1]["id"]}
        following = f"{request.url.path}?{urlencode(query)}"
    return {"items": [shown(item) for item in items], "next": following}


@router.get(
    "/{request_id}",
    response_model=AccessRequestOut,
    summary="One access request",
    responses=READING,
)
def read_request(
    request: Request, request_id: RequestId, consumer: ConsumerDep, engine: EngineDep
) -> dict:
    """A request the caller filed, or (administrator) one addressed to its department."""
    _audit(request, consumer)
    with engine.connect() as conn:
        found = grants.get(conn, request_id)
    mine = found is not None and (
        found["provider"] == consumer.department
        if consumer.is_admin
        else found["consumer_id"] == consumer.id
    )
    if found is None or not mine:
        raise _denied(request, 404, f"no access request {request_id} for {consumer.name}")
    request.state.audit["resource"] = found["resource"]
    return shown(found)


@router.post(
    "/{request_id}/approve",
    response_model=AccessRequestOut,
    summary="Approve an access request",
    responses=DECIDING,
)
def approve_request(
    request: Request,
    request_id: RequestId,
    consumer: ConsumerDep,
    engine: EngineDep,
    body: Approval | None = None,
) -> dict:
    """The provider's administrator grants the request until `until` (default: as asked)."""
    body = body or Approval()
    _decider(request, request_id, consumer, "approve", body.reason)
    return _write(
        request,
        engine,
        lambda conn: grants.approve(
            conn, request_id, consumer.department, consumer.name, body.reason, body.until
        ),
    )


@router.post(
    "/{request_id}/refuse",
    response_model=AccessRequestOut,
    summary="Refuse an access request",
    responses=DECIDING,
)
def refuse_request(
    request: Request,
    request_id: RequestId,
    consumer: ConsumerDep,
    engine: EngineDep,
    body: Refusal | None = None,
) -> dict:
    """The provider's administrator refuses the request, with a reason (required)."""
    body = body or Refusal()
    _decider(request, request_id, consumer, "refuse", body.reason)
    return _write(
        request,
        engine,
        lambda conn: grants.refuse(
            conn, request_id, consumer.department, consumer.name, body.reason
        ),
    )


@router.post(
    "/{request_id}/revoke",
    response_model=AccessRequestOut,
    summary="Revoke an approved access request",
    responses=DECIDING,
)
def revoke_request(
    request: Request,
    request_id: RequestId,
    consumer: ConsumerDep,
    engine: EngineDep,
    body: Revocation | None = None,
) -> dict:
    """The provider's administrator ends a grant, with a reason; it stops working at once."""
    body = body or Revocation()
    _decider(request, request_id, consumer, "revoke", body.reason)
    return _write(
        request,
        engine,
        lambda conn: grants.revoke(
            conn, request_id, consumer.department, consumer.name, body.reason
        ),
    )


@router.post(
    "/{request_id}/withdraw",
    response_model=AccessRequestOut,
    summary="Withdraw one's own pending access request",
    responses=WITHDRAWING,
)
def withdraw_request(
    request: Request,
    request_id: RequestId,
    consumer: ConsumerDep,
    engine: EngineDep,
    body: Withdrawal | None = None,
) -> dict:
    """The consumer that filed a pending request takes it back."""
    body = body or Withdrawal()
    why = body.reason or ""
    _audit(request, consumer, reason=f"withdraw access request {request_id}: {why}".strip())
    return _write(
        request,
        engine,
        lambda conn: grants.withdraw(conn, request_id, consumer.id, body.reason),
    )
