"""Views of one subject (a person by citizen ID, a legal entity by USCC): its licences and its
credit status with the records behind it."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, create_model

from catalog_schema import Catalog
from quality.dates import today
from quality.keys import BadKey, normalize_key
from services import cursor, formats
from services.access import Call, CallDep
from services.problems import DATA_CALL, responses
from services.rendering import Rendered
from services.routes.record_models import record_model
from services.routes.records import serve
from warehouse import derived, records

PERSON, ENTITY = "population.person", "legal_entity.organization"
LICENCE, CREDIT = "e_licence.licence", "credit.record"
PAGE_DEFAULT, PAGE_MAX = 100, 1000
CURSOR_MAX = 200

Limit = Annotated[
    int, Query(ge=1, le=PAGE_MAX, description=f"Records per page (default {PAGE_DEFAULT}).")
]
After = Annotated[
    str | None,
    Query(
        max_length=CURSOR_MAX,
        description="The cursor of the previous page's `next` link.",
        json_schema_extra=formats.CURSOR.schema(),
    ),
]


class Subject(BaseModel):
    subject: str = Field(description="The citizen ID or USCC asked for, normalised.")
    subject_type: Literal["person", "entity"]
    next: str | None = Field(description="Link to the next page; null on the last one.")


def subject_key(catalog: Catalog, raw: str) -> tuple[str, str] | BadKey:
    """("person" | "entity", the normalised key), or why it is neither."""
    for kind, code in (("person", PERSON), ("entity", ENTITY)):
        if code in catalog.resources:
            try:
                return kind, normalize_key(catalog.resource(code), raw)
            except BadKey:
                continue
    return BadKey(_neither(raw))


def _neither(raw: str) -> str:
    return f"subject: {raw[:64]!r} is neither a valid citizen ID nor a valid USCC"


def subject_schema(catalog: Catalog) -> dict[str, Any]:
    """The declared shape of a subject: the key of a person or of a legal entity."""
    return formats.any_of(*_shapes(catalog))


def _shapes(catalog: Catalog) -> list[formats.Shape]:
    codes = [code for code in (PERSON, ENTITY) if code in catalog.resources]
    return [formats.of_key(catalog.resource(code).key_field) for code in codes]


def identify(call: Call, catalog: Catalog, raw: str) -> tuple[str, str]:
    """The subject's kind and normalised key; 422 unless it has the shape of one of them and
    passes its rules."""
    call.audit["keys"] = [raw[:64]]
    shaped = any(shape.matches(raw) for shape in _shapes(catalog))
    found = subject_key(catalog, raw) if shaped else BadKey(_neither(raw))
    if isinstance(found, BadKey):
        raise call.deny(422, "bad_request", str(found))
    call.audit["keys"] = [found[1]]
    return found


def _page(
    request: Request,
    scope: str,
    rows: list[dict],
    limit: int,
    key: str,
) -> str | None:
    """The link to the page after `rows` (fetched one over `limit`), or None on the last."""
    if len(rows) <= limit:
        return None
    query = {"limit": limit, "after": cursor.seal(scope, rows[limit - 1][key])}
    return f"{request.url.path}?{urlencode(query)}"


def _after(call: Call, scope: str, after: str | None) -> str | None:
    if after is None:
        return None
    found = cursor.unseal(scope, after)
    if found is None:
        raise call.deny(
            422, "bad_request", "after: not a cursor of this list (take `next` as given)"
        )
    return found


def build_router(catalog: Catalog) -> APIRouter:
    router = APIRouter(prefix="/api/v1/subjects", tags=["subjects"])
    SubjectPath = Path(
        alias="subject",
        max_length=64,
        description="Citizen ID number or USCC of the subject.",
        json_schema_extra=subject_schema(catalog),
    )

    if LICENCE in catalog.resources:
        licence = catalog.resource(LICENCE)
        licences_model = create_model(
            "SubjectLicences",
            __base__=Subject,
            items=(list[record_model(licence)], Field(description="In licence_id order.")),
        )

        @router.get(
            "/{subject}/licences",
            response_model=licences_model,
            summary="The licences a person or legal entity holds (valid, expired or revoked)",
            responses=responses(*DATA_CALL),
        )
        def subject_licences(
            request: Request,
            call: CallDep,
            subject: str = SubjectPath,
            limit: Limit = PAGE_DEFAULT,
            after: After = None,
        ) -> Rendered:
            with call.connect() as conn:
                kind, key = identify(call, catalog, subject)
                scope = f"{licence.code}?holder_id={key}"
                last = _after(call, scope, after)
                access = call.access(conn, licence)
                rows = records.matching(
                    conn, licence, "holder_id", key, limit=limit + 1, after=last
                )
            items = [serve(licence, row[licence.key], row, access, None) for row in rows[:limit]]
            call.served(licence, [key], list(access.fields), len(items))
            return Rendered(
                {
                    "subject": key,
                    "subject_type": kind,
                    "items": items,
                    "next": _page(request, scope, rows, limit, licence.key),
                }
            )

    if CREDIT in catalog.resources and catalog.resource(CREDIT).subject_status:
        credit = catalog.resource(CREDIT)
        rule = credit.subject_status
        levels = tuple(dict.fromkeys([*(level.level for level in rule.levels), rule.otherwise]))
        credit_model = create_model(
            "SubjectCredit",
            __base__=Subject,
            status=(Literal[levels], Field(description="The subject's credit status.")),
            items=(
                list[record_model(credit)],
                Field(description="The live records, in record order."),
            ),
        )

        @router.get(
            "/{subject}/credit",
            response_model=credit_model,
            summary="The credit status of a person or legal entity and its live records",
            description="Status levels, first match wins: "
            + "; ".join(f"{level.level} ({', '.join(level.values)})" for level in rule.levels)
            + f"; otherwise {rule.otherwise}. A record is live while active and not past "
            f"{rule.live_until}.",
            responses=responses(*DATA_CALL),
        )
        def subject_credit(
            request: Request,
            call: CallDep,
            subject: str = SubjectPath,
            limit: Limit = PAGE_DEFAULT,
            after: After = None,
        ) -> Rendered:
            with call.connect() as conn:
                kind, key = identify(call, catalog, subject)
                scope = f"{credit.code}?{rule.subject}={key}"
                last = _after(call, scope, after)
                access = call.access(conn, credit)
                status = derived.subject_status(conn, credit, key)
                until = (rule.live_until, today()) if rule.live_until else None
                rows = records.matching(
                    conn,
                    credit,
                    rule.subject,
                    key,
                    limit=limit + 1,
                    after=last,
                    active=True,  # live: active and not past live_until
                    until=until,
                )
            items = [serve(credit, row[credit.key], row, access, None) for row in rows[:limit]]
            call.served(credit, [key], list(access.fields), len(items))
            return Rendered(
                {
                    "subject": key,
                    "subject_type": kind,
                    "status": status["status"] if status else rule.otherwise,
                    "items": items,
                    "next": _page(request, scope, rows, limit, credit.key),
                }
            )

    return router
