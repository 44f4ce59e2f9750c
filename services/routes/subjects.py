"""Views of one subject (a person by citizen ID, a legal entity by USCC): its licences and its
credit status with the records behind it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from catalog_schema import Catalog, Resource
from quality.dates import today
from quality.keys import BadKey, normalize_key
from services import formats
from services.access import Call, CallDep
from services.problems import DATA_CALL, responses
from services.routes.records import serve
from warehouse import derived, records

PERSON, ENTITY = "population.person", "legal_entity.organization"
LICENCE, CREDIT = "e_licence.licence", "credit.record"
MOST = 1000  # records of one subject served at most


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


def _live(resource: Resource, row: dict) -> bool:
    """Active and, when the resource declares a live_until date, not past it."""
    rule = resource.subject_status
    until = row.get(rule.live_until) if rule and rule.live_until else None
    return row["_state"] == "active" and (until is None or until >= today())


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

        @router.get(
            "/{subject}/licences",
            summary="The licences a person or legal entity holds (valid, expired or revoked)",
            responses=responses(*DATA_CALL),
        )
        def subject_licences(call: CallDep, subject: str = SubjectPath) -> dict[str, Any]:
            with call.connect() as conn:
                kind, key = identify(call, catalog, subject)
                access = call.access(conn, licence)
                rows = records.matching(conn, licence, "holder_id", key, limit=MOST)
            items = [serve(licence, row[licence.key], row, access, None) for row in rows]
            call.served(licence, [key], list(access.fields), len(items))
            return {"subject": key, "subject_type": kind, "licences": items}

    if CREDIT in catalog.resources and catalog.resource(CREDIT).subject_status:
        credit = catalog.resource(CREDIT)
        rule = credit.subject_status

        @router.get(
            "/{subject}/credit",
            summary="The credit status of a person or legal entity and its live records",
            description="Status levels, first match wins: "
            + "; ".join(f"{level.level} ({', '.join(level.values)})" for level in rule.levels)
            + f"; otherwise {rule.otherwise}. A record is live while active and not past "
            f"{rule.live_until}.",
            responses=responses(*DATA_CALL),
        )
        def subject_credit(call: CallDep, subject: str = SubjectPath) -> dict[str, Any]:
            with call.connect() as conn:
                kind, key = identify(call, catalog, subject)
                access = call.access(conn, credit)
                status = derived.subject_status(conn, credit, key)
                rows = records.matching(conn, credit, rule.subject, key, limit=MOST)
            live = [row for row in rows if _live(credit, row)]
            items = [serve(credit, row[credit.key], row, access, None) for row in live]
            call.served(credit, [key], list(access.fields), len(items))
            return {
                "subject": key,
                "subject_type": kind,
                "status": status["status"] if status else rule.otherwise,
                "live_records": items,
            }

    return router
