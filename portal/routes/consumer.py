"""The integrator's consumer: its grants, its API calls per day, and rotating its API key."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from portal import charts, journal, pages
from portal.session import IntegratorDep, PortalError, checked_form
from runtime import clock
from warehouse import consumers, grants, people, usage
from warehouse import engine as engines
from warehouse.ledger import now as utc_now

router = APIRouter(tags=["portal: consumer"])
DAYS = 30  # the calls shown: today and the 29 days before


@router.get("/consumer")
def consumer_page(request: Request, session: IntegratorDep):
    person = session.person
    catalog = request.app.state.catalog
    moment = utc_now()
    today = clock.local(moment).date()
    since = today - dt.timedelta(days=DAYS - 1)
    with request.app.state.engine.connect() as conn:
        consumer = _consumer(conn, person)
        active = grants.listing(conn, consumer_id=consumer["id"], status="approved", now=moment)
        calls = usage.calls_per_day(conn, since, consumer["id"], now=moment)
    shown = [_grant(catalog, grant) for grant in active]
    for row in calls:
        item = catalog.service_items.get(row["purpose"] or "")
        row["purpose_name"] = (item.name_zh, item.name_en) if item else None
        found = catalog.resources.get(row["resource"] or "")
        row["resource_name"] = (found.name_zh, found.name_en) if found else None
    days = [since + dt.timedelta(days=n) for n in range(DAYS)]
    per_day = {day: [0, 0] for day in days}
    for row in calls:
        if row["day"] in per_day:
            per_day[row["day"]][0] += row["calls"]
            per_day[row["day"]][1] += row["denied"]
    chart = charts.bars(
        [(day.isoformat(), per_day[day][0]) for day in days],
        "API calls per day (days with denied calls in the warning colour)",
        bad=[per_day[day][1] > 0 for day in days],
    )
    return pages.render(
        request,
        "consumer.html",
        consumer=consumer,
        grants=shown,
        calls=list(reversed(calls)),  # newest day first
        chart=chart,
        total=sum(row["calls"] for row in calls),
        denied=sum(row["denied"] for row in calls),
        since=since,
    )


@router.post("/consumer/rotate-key")
async def rotate_key(request: Request, session: IntegratorDep):
    await checked_form(request, session)
    consumer, key = await run_in_threadpool(_rotate, request, session.person)
    return pages.render(
        request,
        "consumer_key.html",
        consumer=consumer,
        key=key,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get("/consumer/rotate-key")
def rotate_key_page(request: Request, session: IntegratorDep):
    """The result page's address asked for again (a reload, a language link): nothing to show
    any more, the key was shown once; back to the consumer page."""
    lang = request.query_params.get("lang")
    back = "/portal/consumer" + (f"?lang={lang}" if lang in pages.LANGUAGES else "") + "#rotate"
    return pages.guarded(RedirectResponse(back, 303), request)


def _rotate(request: Request, person: people.Person) -> tuple[dict, str]:
    """A new key for the person's consumer and the audit record of it, in one transaction."""
    with engines.writing(request.app.state.engine) as conn:
        consumer = _consumer(conn, person)
        try:
            key = consumers.rotate(conn, consumer["id"])
        except LookupError:
            consumer = None
        else:
            journal.record(
                conn,
                request,
                person,
                "key_rotated",
                reason=f"key {consumer['key_prefix']}… replaced by {key[:10]}…",
            )
            consumer["key_prefix"] = key[:10]
    if consumer is None:
        journal.refused(request, person, "key_rotated", 409, "the consumer's key is revoked")
        raise PortalError(
            409,
            "This consumer's key has been revoked by the hub administrator: it cannot be "
            "rotated. Ask the hub administrator for a new consumer.",
            "无法更换密钥 Cannot rotate the key",
        )
    return consumer, key


def _consumer(conn, person: people.Person) -> dict:
    found = consumers.describe(conn, person.consumer_id) if person.consumer_id else None
    if found is None:
        raise PortalError(
            404,
            "Your account acts for no API consumer: ask the hub administrator to link it to "
            "your approval system's consumer.",
            "没有对接的系统 No consumer",
        )
    return found


def _grant(catalog, grant: dict) -> dict:
    """A grant as shown: the resource's name, its fields with their labels, the purpose."""
    resource = catalog.resources.get(grant["resource"])
    labels = {spec.name: spec.label_zh for spec in resource.fields} if resource else {}
    item = catalog.service_items.get(grant["service_item"])
    return {
        **grant,
        "resource_name": (resource.name_zh, resource.name_en) if resource else None,
        "field_labels": [(name, labels.get(name, name)) for name in grant["fields"]],
        "purpose_name": (item.name_zh, item.name_en) if item else None,
        # a grant ends at the start of the day after its last day (GDX_TIMEZONE)
        "until": clock.local(grant["expires_at"] - dt.timedelta(microseconds=1)).date()
        if grant["expires_at"]
        else None,
    }
