"""Access requests and the grants they become.

A consumer (an approval system) files a request for fields of a resource, for one purpose (a
service item) and until a date; the provider department's administrator approves or refuses it
(with a reason) within 10 working days. An approved request is a grant until the end of its
approved day (GDX_TIMEZONE) or until it is revoked; `active` reads grants on every data call,
so an expired or revoked grant stops working at once. Secret fields can never be requested.

Statuses: pending → approved | refused | withdrawn (by the consumer); approved → revoked. An
approved request past its end shows as `expired`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from catalog_schema import Catalog, Resource
from runtime.clock import zone
from warehouse.consumers import Consumer, hash_key
from warehouse.ledger import now as utc_now
from warehouse.tables import access_request, api_consumer

DECISION_WORKING_DAYS = 10  # the provider answers within 10 working days
MAX_PURPOSE = 500
MAX_REASON = 1000
MAX_FIELDS = 100
STATUSES = ("pending", "approved", "expired", "refused", "revoked", "withdrawn")


class GrantError(ValueError):
    """A request that cannot be filed or decided; `status` is the HTTP status it maps to
    (403 not allowed, 404 unknown, 409 wrong state, 422 invalid input)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Grant:
    """What a consumer may read of a resource for a purpose: the union of its active grants."""

    ids: tuple[int, ...]
    fields: frozenset[str]
    expires_at: dt.datetime


# --- working days -----------------------------------------------------------------------------


def _days(first: str, last: str | None = None) -> set[dt.date]:
    start = dt.date.fromisoformat(first)
    end = dt.date.fromisoformat(last or first)
    return {start + dt.timedelta(days=n) for n in range((end - start).days + 1)}


#: Days off of the mainland public holidays (放假调休), weekends inside them included.
#: 2026: 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04), as published.
#: 2027: PROVISIONAL — the State Council publishes the 2027 notice late in 2026 and it was not
#: available when this table was written. Listed are the statutory days of 全国年节及纪念日放假
#: 办法 (2024 revision) on the 2027 calendar (春节 from 除夕 2027-02-05, 清明 04-05, 端午 06-09,
#: 中秋 09-15) and, for a statutory day on a weekend, the weekday after it off in lieu (补假);
#: the notice will also move days around (调休) and add working weekends. Replace with the notice.
HOLIDAYS: frozenset[dt.date] = frozenset(
    # 2026, from the notice
    _days("2026-01-01", "2026-01-03")  # 元旦
    | _days("2026-02-15", "2026-02-23")  # 春节
    | _days("2026-04-04", "2026-04-06")  # 清明节
    | _days("2026-05-01", "2026-05-05")  # 劳动节
    | _days("2026-06-19", "2026-06-21")  # 端午节
    | _days("2026-09-25", "2026-09-27")  # 中秋节
    | _days("2026-10-01", "2026-10-07")  # 国庆节
    # 2027, provisional (see above)
    | _days("2027-01-01")  # 元旦 (Friday)
    | _days("2027-02-05", "2027-02-10")  # 春节: 除夕–初三, 初一 and 初二 fall on the weekend
    | _days("2027-04-05")  # 清明节 (Monday)
    | _days("2027-05-01", "2027-05-04")  # 劳动节: May 1–2 fall on the weekend
    | _days("2027-06-09")  # 端午节 (Wednesday)
    | _days("2027-09-15")  # 中秋节 (Wednesday)
    | _days("2027-10-01", "2027-10-05")  # 国庆节: Oct 2–3 fall on the weekend
)

#: Weekend days that are working days (调休上班). 2027: not known until its notice.
WORKING_WEEKENDS: frozenset[dt.date] = frozenset(
    _days("2026-01-04")
    | _days("2026-02-14")
    | _days("2026-02-28")
    | _days("2026-05-09")
    | _days("2026-09-20")
    | _days("2026-10-10")
)


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday, except the public holidays; plus the weekend days worked in lieu.
    Outside the declared years, simply Monday to Friday."""
    if day in WORKING_WEEKENDS:
        return True
    return day.weekday() < 5 and day not in HOLIDAYS


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The `n`th working day after `day` (`day` itself not counted)."""
    if n < 0:
        raise ValueError(f"n: expected a number of days >= 0, got {n}")
    counted = 0
    while counted < n:
        day += dt.timedelta(days=1)
        counted += is_working_day(day)
    return day


# --- filing and deciding ----------------------------------------------------------------------


def file(
    conn: sa.Connection,
    catalog: Catalog,
    consumer: Consumer,
    resource_code: str,
    fields: list[str],
    purpose: str,
    service_item: str,
    requested_until: dt.date,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """File `consumer`'s request; returns it (as `get`). Raises GrantError naming the field."""
    moment = _utc(now or utc_now())
    today = moment.astimezone(zone()).date()
    if consumer.is_admin:
        raise GrantError(
            403,
            f"{consumer.name} is a department's data administrator: access requests are filed "
            "by the approval systems (consumers) that will read the data",
        )
    resource = catalog.resources.get(resource_code)
    if resource is None:
        raise GrantError(422, f"resource: {resource_code!r} is not a resource of the directory")
    if resource.share_type == "not_shared":
        raise GrantError(
            403,
            f"resource: {resource.code} is not shared (不予共享) and cannot be requested"
            + (f": {resource.share_conditions}" if resource.share_conditions else ""),
        )
    chosen = _checked_fields(resource, fields)
    if service_item not in catalog.service_items:
        raise GrantError(
            422, f"service_item: {service_item!r} is not a service item declared in the directory"
        )
    purpose = (purpose or "").strip()
    if not purpose:
        raise GrantError(422, "purpose: state what the data will be used for")
    if len(purpose) > MAX_PURPOSE:
        raise GrantError(422, f"purpose: at most {MAX_PURPOSE} characters, got {len(purpose)}")
    latest = _one_year_after(today)
    if requested_until <= today:
        raise GrantError(422, f"requested_until: {requested_until} is not after today ({today})")
    if requested_until > latest:
        raise GrantError(
            422,
            f"requested_until: {requested_until} is more than a year ahead: a grant is "
            f"time-limited, ask until {latest} at the latest",
        )
    request_id = conn.execute(
        access_request.insert()
        .values(
            consumer_id=consumer.id,
            department=consumer.department,
            resource=resource.code,
            provider=resource.provider,
            fields=chosen,
            purpose=purpose,
            service_item=service_item,
            requested_until=requested_until,
            status="pending",
            filed_at=moment,
            decide_by=working_days_after(today, DECISION_WORKING_DAYS),
        )
        .returning(access_request.c.id)
    ).scalar_one()
    return _found(conn, request_id, moment)


def _checked_fields(resource: Resource, fields: list[str]) -> list[str]:
    if not fields:
        raise GrantError(422, "fields: name at least one field of " + resource.code)
    if len(fields) > MAX_FIELDS:
        raise GrantError(422, f"fields: at most {MAX_FIELDS}, got {len(fields)}")
    declared = {spec.name: spec for spec in resource.fields}
    for name in fields:
        spec = declared.get(name)
        if spec is None:
            shown = name if len(name) <= 64 else name[:64] + "…"
            raise GrantError(422, f"fields: {shown!r} is not a field of {resource.code}")
        if spec.sensitivity == "secret":
            raise GrantError(
                422, f"fields: {name} of {resource.code} is secret: secret fields are never served"
            )
    wanted = set(fields)
    return [spec.name for spec in resource.fields if spec.name in wanted]


def _one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def approve(
    conn: sa.Connection,
    request_id: int,
    admin_department: str,
    decided_by: str,
    reason: str | None = None,
    until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Approve a pending request until `until` (default: the day asked for, never later); the
    grant ends at the end of that day in GDX_TIMEZONE."""
    moment = _utc(now or utc_now())
    row = _deciding(conn, request_id, admin_department, "pending", "approve", moment)
    until = until or row.requested_until
    today = moment.astimezone(zone()).date()
    if until > row.requested_until:
        raise GrantError(
            422,
            f"until: {until} is later than the consumer asked for ({row.requested_until})",
        )
    if until < today:
        raise GrantError(422, f"until: {until} has passed (today is {today})")
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=zone())
    _change(
        conn,
        row,
        "pending",
        status="approved",
        decided_at=moment,
        decided_by=_by(decided_by),
        reason=_reason(reason, required=False),
        expires_at=end.astimezone(dt.UTC),
    )
    return _found(conn, request_id, moment)


def refuse(
    conn: sa.Connection,
    request_id: int,
    admin_department: str,
    decided_by: str,
    reason: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Refuse a pending request; a refusal states its reason."""
    moment = _utc(now or utc_now())
    text = _reason(reason, required=True, what="a refusal")
    row = _deciding(conn, request_id, admin_department, "pending", "refuse", moment)
    _change(
        conn,
        row,
        "pending",
        status="refused",
        decided_at=moment,
        decided_by=_by(decided_by),
        reason=text,
    )
    return _found(conn, request_id, moment)


def revoke(
    conn: sa.Connection,
    request_id: int,
    admin_department: str,
    revoked_by: str,
    reason: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Revoke an approved request: the grant stops working at once."""
    moment = _utc(now or utc_now())
    text = _reason(reason, required=True, what="a revocation")
    row = _deciding(conn, request_id, admin_department, "approved", "revoke", moment)
    _change(
        conn,
        row,
        "approved",
        status="revoked",
        revoked_at=moment,
        revoked_by=_by(revoked_by),
        revoke_reason=text,
    )
    return _found(conn, request_id, moment)


def withdraw(
    conn: sa.Connection,
    request_id: int,
    consumer_id: int,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The consumer withdraws its own pending request."""
    moment = _utc(now or utc_now())
    row = _row(conn, request_id, lock=True)
    if row is None or row.consumer_id != consumer_id:
        raise GrantError(404, f"no access request {request_id} of this consumer")
    if row.status != "pending":
        raise GrantError(
            409, f"access request {request_id} is {row.status}: only a pending one is withdrawn"
        )
    name = conn.execute(
        sa.select(api_consumer.c.name).where(api_consumer.c.id == consumer_id)
    ).scalar()
    _change(
        conn,
        row,
        "pending",
        status="withdrawn",
        revoked_at=moment,
        revoked_by=_by(name or f"consumer {consumer_id}"),
        revoke_reason=_reason(reason, required=False) or "withdrawn by the consumer",
    )
    return _found(conn, request_id, moment)


def _deciding(
    conn: sa.Connection,
    request_id: int,
    department: str,
    state: str,
    verb: str,
    moment: dt.datetime,
) -> sa.Row:
    row = _row(conn, request_id, lock=True)
    if row is None:
        raise GrantError(404, f"no access request {request_id}")
    if row.provider != department:
        raise GrantError(
            403,
            f"access request {request_id} is addressed to {row.provider}: only its "
            f"administrator may {verb} it, not {department}'s",
        )
    if row.status != state:
        shown = _shown_status(row.status, row.expires_at, moment)
        raise GrantError(
            409, f"access request {request_id} is {shown}: only a {state} one can be {verb}d"
        )
    return row


def _change(conn: sa.Connection, row: sa.Row, state: str, **values: Any) -> None:
    """Move `row` on from `state`, unless someone else did meanwhile."""
    changed = conn.execute(
        access_request.update()
        .where(access_request.c.id == row.id, access_request.c.status == state)
        .values(**values)
    ).rowcount
    if changed != 1:
        raise GrantError(409, f"access request {row.id} was decided meanwhile")


def _reason(text: str | None, required: bool, what: str = "a decision") -> str | None:
    text = (text or "").strip()
    if required and not text:
        raise GrantError(422, f"reason: {what} states its reason")
    if len(text) > MAX_REASON:
        raise GrantError(422, f"reason: at most {MAX_REASON} characters, got {len(text)}")
    return text or None


def _by(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise GrantError(422, "decided_by: name who decides")
    return name[:120]


# --- reading ----------------------------------------------------------------------------------


def active(
    conn: sa.Connection, consumer_id: int, resource: str, service_item: str, at: dt.datetime
) -> Grant | None:
    """The consumer's approved, unrevoked, unexpired grants for `resource` and the purpose
    `service_item` at `at`, as one: their fields together, the latest end. One indexed read,
    no cache: a revocation or an expiry acts on the next call."""
    rows = conn.execute(
        _ACTIVE,
        {"consumer_id": consumer_id, "resource": resource, "item": service_item, "at": _utc(at)},
    ).all()
    return _union(rows)


def _grant_filter(consumer_id: sa.ColumnElement) -> list[sa.ColumnElement]:
    """An access request of `consumer_id` that is a grant for the purpose :item at :at."""
    return [
        access_request.c.consumer_id == consumer_id,
        access_request.c.status == "approved",
        access_request.c.service_item == sa.bindparam("item"),
        access_request.c.revoked_at.is_(None),
        access_request.c.expires_at > sa.bindparam("at"),
    ]


# built once: a call runs these statements, not their construction
_ACTIVE = (
    sa.select(access_request.c.id, access_request.c.fields, access_request.c.expires_at)
    .where(
        *_grant_filter(sa.bindparam("consumer_id")),
        access_request.c.resource == sa.bindparam("resource"),
    )
    .order_by(access_request.c.id)
)
_CALLER = (
    sa.select(
        api_consumer.c.id,
        api_consumer.c.name,
        api_consumer.c.department,
        sa.func.coalesce(api_consumer.c.role, "consumer"),
        access_request.c.id.label("grant_id"),
        access_request.c.resource,
        access_request.c.fields,
        access_request.c.expires_at,
    )
    .select_from(api_consumer.outerjoin(access_request, sa.and_(*_grant_filter(api_consumer.c.id))))
    .where(api_consumer.c.key_hash == sa.bindparam("key_hash"), api_consumer.c.revoked_at.is_(None))
    .order_by(access_request.c.id)
)


def _union(rows) -> Grant | None:
    """Grant rows (id, fields, expires_at) as one grant, or None."""
    if not rows:
        return None
    return Grant(
        ids=tuple(row.id for row in rows),
        fields=frozenset(name for row in rows for name in row.fields),
        expires_at=max(_utc(row.expires_at) for row in rows),
    )


@dataclass(frozen=True)
class _GrantRow:
    id: int
    resource: str
    fields: list[str]
    expires_at: dt.datetime


@dataclass(frozen=True)
class Held:
    """A consumer's grants for the purpose `service_item` that were active at `read_at`, read
    together with the consumer (`caller`)."""

    service_item: str
    read_at: dt.datetime
    rows: tuple[_GrantRow, ...]

    def covers(self, service_item: str, at: dt.datetime) -> bool:
        """Whether `active` can answer for this purpose at `at` (not before the read)."""
        return service_item == self.service_item and _utc(at) >= self.read_at

    def active(self, resource: str, at: dt.datetime) -> Grant | None:
        """As `active` (the module function) for `resource` at `at`, from the rows read."""
        moment = _utc(at)
        return _union(
            [row for row in self.rows if row.resource == resource and row.expires_at > moment]
        )


def caller(
    conn: sa.Connection, key: str, service_item: str | None, at: dt.datetime
) -> tuple[Consumer, Held | None] | None:
    """The live consumer holding `key` and its grants for the purpose `service_item` active at
    `at` (None without a purpose), in one read: None for an unknown or revoked key. Read on
    every call (warehouse.callers caches it on PostgreSQL, emptied by every change): a
    revocation of the key or a grant acts on the next call."""
    return caller_by_hash(conn, hash_key(key), service_item, at)


def caller_by_hash(
    conn: sa.Connection, key_hash: str, service_item: str | None, at: dt.datetime
) -> tuple[Consumer, Held | None] | None:
    """`caller` for the key whose hash (consumers.hash_key) is `key_hash`."""
    moment = _utc(at)
    rows = conn.execute(_CALLER, {"key_hash": key_hash, "item": service_item, "at": moment}).all()
    if not rows:
        return None
    consumer = Consumer(*rows[0][:4])
    if service_item is None:
        return consumer, None
    held = tuple(
        _GrantRow(row.grant_id, row.resource, row.fields, _utc(row.expires_at))
        for row in rows
        if row.grant_id is not None
    )
    return consumer, Held(service_item, moment, held)


def get(conn: sa.Connection, request_id: int, now: dt.datetime | None = None) -> dict | None:
    """One request as shown (see `listing`), or None."""
    row = conn.execute(_select().where(access_request.c.id == request_id)).first()
    return _shown(row, _utc(now or utc_now())) if row else None


def listing(
    conn: sa.Connection,
    provider: str | None = None,
    consumer_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
    now: dt.datetime | None = None,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Requests, newest first: addressed to `provider`, filed by `consumer_id`, in `status`
    (as shown: `approved` means unexpired, `expired` approved and past its end), with an id
    below `before` (the next page after the request `before`). Each with its deadline
    (`decide_by`), `overdue` (pending past it) and `expired`."""
    moment = _utc(now or utc_now())
    query = _select()
    if provider is not None:
        query = query.where(access_request.c.provider == provider)
    if consumer_id is not None:
        query = query.where(access_request.c.consumer_id == consumer_id)
    if status is not None:
        if status not in STATUSES:
            raise GrantError(
                422, f"status: expected one of {', '.join(STATUSES)}, got {status[:40]!r}"
            )
        if status == "approved":
            query = query.where(
                access_request.c.status == "approved", access_request.c.expires_at > moment
            )
        elif status == "expired":
            query = query.where(
                access_request.c.status == "approved", access_request.c.expires_at <= moment
            )
        else:
            query = query.where(access_request.c.status == status)
    if before is not None:
        query = query.where(access_request.c.id < before)
    rows = conn.execute(query.order_by(access_request.c.id.desc()).limit(max(1, limit))).all()
    return [_shown(row, moment) for row in rows]


def _select() -> sa.Select:
    return sa.select(access_request, api_consumer.c.name.label("consumer")).select_from(
        access_request.outerjoin(api_consumer, api_consumer.c.id == access_request.c.consumer_id)
    )


def _row(conn: sa.Connection, request_id: int, lock: bool = False) -> sa.Row | None:
    query = sa.select(access_request).where(access_request.c.id == request_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def _found(conn: sa.Connection, request_id: int, moment: dt.datetime) -> dict[str, Any]:
    shown = get(conn, request_id, moment)
    assert shown is not None
    return shown


def _shown_status(status: str, expires_at: dt.datetime | None, moment: dt.datetime) -> str:
    if status == "approved" and expires_at is not None and _utc(expires_at) <= moment:
        return "expired"
    return status


def _shown(row: sa.Row, moment: dt.datetime) -> dict[str, Any]:
    today = moment.astimezone(zone()).date()
    shown = dict(row._mapping)
    for name in ("filed_at", "decided_at", "expires_at", "revoked_at"):
        if shown[name] is not None:
            shown[name] = _utc(shown[name])
    shown["fields"] = list(shown["fields"] or [])
    shown["status"] = _shown_status(row.status, row.expires_at, moment)
    shown["expired"] = shown["status"] == "expired"
    shown["overdue"] = row.status == "pending" and today > row.decide_by
    return shown


def _utc(moment: dt.datetime) -> dt.datetime:
    """Aware UTC (SQLite gives UTC times back naive)."""
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
