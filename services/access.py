"""Who may see what: the purpose of a call, the share type of a resource and the caller's grants.

Every data call names its purpose (`X-Purpose`: the code of a declared service item). A resource
shared unconditionally is served to any registered consumer, its sensitive fields masked unless
an approved access request for that purpose names them. A conditional resource is served only
under such a grant, and then only the fields it names. A resource not shared is never served.
Secret fields are never served at all. Grants are read with the caller on every call, or taken
from the server's cache that every change empties (warehouse.callers), so an expired or revoked
grant stops working at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, HTTPException, Request, Security

from catalog_schema import Catalog, Resource
from catalog_schema.models import ServiceItem
from services import masking, metrics
from services.deps import api_key_header, authenticated, require_key
from services.masking import plain
from warehouse import grants
from warehouse.consumers import Consumer
from warehouse.ledger import now
from warehouse.tables import access_request

PURPOSE_HEADER = "X-Purpose"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Access:
    """What one call may read of one resource."""

    resource: Resource
    fields: tuple[str, ...]  # served, in declaration order
    unmasked: frozenset[str]  # sensitive fields shown in clear
    grant_ids: tuple[int, ...] = ()
    # how each served field is shown (`masking.shown`), for every record of the call
    plan: masking.Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", masking.plan(self.resource, self.unmasked, self.fields))


@dataclass
class Call:
    """A data call: the key and purpose it names, its caller once authenticated (`connect`),
    and what the audit log needs."""

    request: Request
    key: str
    purpose: str | None  # the X-Purpose header as given
    consumer: Consumer | None = None  # set by `connect`, as are the two below
    item: ServiceItem | None = None

    @property
    def audit(self) -> dict[str, Any]:
        return audit_of(self.request)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for the call's reads, on which the caller is authenticated first (401,
        429); then the purpose and the query parameters are checked (400, 422). A route refuses
        and reads nothing before this, so that an unknown caller learns nothing: one thread and
        one pooled connection for the whole call."""
        engine = self.request.app.state.engine
        with authenticated(self.request, engine, self.key) as (conn, consumer):
            self.consumer = consumer
            self.item = purpose_of(self.request, self.request.app.state.catalog, self.purpose)
            self.audit["purpose"] = self.item.code
            query = self.request.scope.get("query_string")
            for name, value in self.request.query_params.multi_items() if query else ():
                if CONTROL.search(name) or CONTROL.search(value):
                    raise self.deny(
                        422, "bad_request", f"query parameter {name[:64]!r}: control characters"
                    )
            yield conn

    def _caller(self) -> tuple[Consumer, ServiceItem]:
        if self.consumer is None or self.item is None:
            raise RuntimeError("the call is not authenticated: a route opens call.connect() first")
        return self.consumer, self.item

    def deny(self, status: int, reason: str, detail: str, **headers: str) -> HTTPException:
        """An error to raise, counted by reason and remembered for the audit record."""
        self._caller()
        self.audit["reason"] = detail
        metrics.denied(self.request, reason)
        return HTTPException(status, detail, headers=headers or None)

    @property
    def held(self) -> grants.Held | None:
        """The consumer's grants for the purpose, read with the consumer (services.deps)."""
        return getattr(self.request.state, "grants", None)

    def access(self, conn: sa.Connection, resource: Resource, at: dt.datetime | None = None):
        """What this call may read of `resource`; raises 403 when nothing."""
        consumer, item = self._caller()
        self.audit.setdefault("resource", resource.code)
        try:
            return decide(conn, consumer, item, resource, at or now(), self.held)
        except Denied as exc:
            raise self.deny(403, exc.reason, str(exc)) from None

    def served(self, resource: Resource, keys: list[str], fields: list[str], rows: int) -> None:
        """Record what left: the keys and fields (audit) and the row count (metrics)."""
        self._caller()
        self.audit.update(resource=resource.code, keys=keys, fields=fields)
        metrics.served(self.request, resource.code, rows)


class Denied(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def audit_of(request: Request) -> dict[str, Any]:
    """The audit details of a request (the audit middleware reads them)."""
    # request.state's own dict (Starlette keeps it in the scope), without building its State
    return request.scope.setdefault("state", {}).setdefault("audit", {})


def decide(
    conn: sa.Connection,
    consumer: Consumer,
    item: ServiceItem,
    resource: Resource,
    at: dt.datetime,
    held: grants.Held | None = None,
) -> Access:
    """The fields `consumer` may read of `resource` for the purpose `item`, or Denied. `held`:
    the consumer's grants as read with it on this call, which spares reading them again."""
    if resource.share_type == "not_shared":
        raise Denied(
            "not_shared",
            f"{resource.code} is not shared (不予共享): {resource.share_conditions}",
        )
    if held is not None and held.covers(item.code, at):
        grant = held.active(resource.code, at)
    else:
        grant = grants.active(conn, consumer.id, resource.code, item.code, at)
    readable = [spec.name for spec in resource.fields if spec.sensitivity != "secret"]
    if resource.share_type == "conditional":
        if grant is None:
            raise lapsed(conn, consumer, item, resource, at) or Denied(
                "no_grant",
                f"{resource.code} is shared on conditions ({resource.share_conditions}): "
                f"consumer {consumer.name} holds no approved, unexpired access request for it "
                f"for service item {item.code} (POST /api/v1/access-requests)",
            )
        fields = tuple(name for name in readable if name in grant.fields)
        return Access(resource, fields, frozenset(fields), grant.ids)
    unmasked = frozenset(grant.fields) if grant else frozenset()
    return Access(resource, tuple(readable), unmasked, grant.ids if grant else ())


def lapsed(
    conn: sa.Connection, consumer: Consumer, item: ServiceItem, resource: Resource, at: dt.datetime
) -> Denied | None:
    """When the consumer's latest grant for this resource and purpose ended: why."""
    table = access_request
    row = conn.execute(
        sa.select(table.c.id, table.c.expires_at, table.c.revoked_at)
        .where(
            table.c.consumer_id == consumer.id,
            table.c.resource == resource.code,
            table.c.service_item == item.code,
            table.c.status.in_(["approved", "revoked"]),
        )
        .order_by(table.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    if row.revoked_at is not None:
        return Denied(
            "grant_revoked",
            f"access request {row.id} for {resource.code} was revoked by the provider "
            f"({plain(row.revoked_at)}); file a new one",
        )
    return Denied(
        "grant_expired",
        f"access request {row.id} for {resource.code} expired at {plain(row.expires_at)}; "
        "file a new one",
    )


def purpose_of(request: Request, catalog: Catalog, raw: str | None) -> ServiceItem:
    if raw is None or not raw.strip():
        metrics.denied(request, "no_purpose")
        raise HTTPException(
            400,
            f"{PURPOSE_HEADER} header missing: name the service item (政务服务事项 code from "
            "GET /api/v1/service-items) this call serves",
        )
    item = catalog.service_items.get(raw.strip())
    if item is None:
        metrics.denied(request, "bad_purpose")
        shown = raw.strip()[:40]
        raise HTTPException(
            400, f"{PURPOSE_HEADER}: {shown!r} is not a service item declared in the directory"
        )
    return item


# async and without I/O: FastAPI runs it on the event loop, and the route's own thread does
# the rest (`Call.connect`), rather than a thread for each step
async def current_call(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)],
    purpose: Annotated[
        str | None,
        Header(
            alias=PURPOSE_HEADER,
            description="Code of the service item (政务服务事项) this call serves.",
        ),
    ] = None,
) -> Call:
    audit = audit_of(request)
    if purpose is not None:
        audit["purpose"] = purpose[:40]
    return Call(request, require_key(request, key), purpose)


CallDep = Annotated[Call, Depends(current_call)]
