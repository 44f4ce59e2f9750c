"""Verification: a verdict on what an applicant states, never the data behind it."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from catalog_schema import Catalog, Resource
from quality.dates import today
from quality.keys import BadKey
from services import formats
from services.access import Call, CallDep
from services.problems import DATA_CALL, responses
from services.routes.records import normalized_key
from services.routes.subjects import subject_key
from warehouse import records

PERSON, ENTITY, LICENCE = "population.person", "legal_entity.organization", "e_licence.licence"

Text = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=64, strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]


# a key is judged as typed (its shape is declared, and checked once the caller is known)
Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CitizenClaim(Claim):
    id_number: Key = Field(
        description=f"Citizen ID number as the applicant gives it: {formats.CITIZEN_ID.says}.",
        json_schema_extra=formats.CITIZEN_ID.schema(),
    )
    name: Text = Field(description="Name as the applicant gives it.")


class EntityClaim(Claim):
    uscc: Key = Field(
        description=f"Unified social credit code as the applicant gives it: {formats.USCC.says}.",
        json_schema_extra=formats.USCC.schema(),
    )
    name: Text = Field(description="Registered name as the applicant gives it.")


class LicenceClaim(Claim):
    licence_no: Text = Field(description="Number printed on the licence.")
    holder_id: Key = Field(
        description="Citizen ID or USCC of the holder, as the applicant gives it: "
        f"{formats.CITIZEN_ID.says}; or {formats.USCC.says}.",
        json_schema_extra=formats.any_of(formats.CITIZEN_ID, formats.USCC),
    )


class IdentityVerdict(BaseModel):
    verdict: Literal["match", "mismatch", "not_found"] = Field(
        description="match: the key exists and the name agrees; mismatch: it exists under "
        "another name; not_found: no such record."
    )
    state: Literal["active", "ended"] | None = Field(
        description="ended: the person died, or the entity was deregistered, revoked or moved "
        "away (注销, 吊销, 迁出); null when not found."
    )


class LicenceVerdict(BaseModel):
    verdict: Literal["valid", "expired", "revoked", "not_found"] = Field(
        description="valid; expired (past its validity); revoked (吊销 or 注销); not_found (no "
        "such licence for that holder)."
    )
    status_zh: str | None = Field(description="The status as held: 有效, 过期, 吊销, 注销.")


def same_name(held: str | None, claimed: str) -> bool:
    """Names agree after width folding and without blanks (全角/半角, spaces, middle dots)."""

    def fold(text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        return "".join(ch for ch in text if not ch.isspace() and ch not in "·•・.").casefold()

    return held is not None and fold(held) == fold(claimed)


def build_router(catalog: Catalog) -> APIRouter:
    router = APIRouter(prefix="/api/v1/verify", tags=["verification"])
    errors = responses(*DATA_CALL)

    def identity(call: Call, resource: Resource, raw: str, name: str):
        call.audit.update(resource=resource.code, keys=[raw[:64]], fields=[])
        with call.connect() as conn:
            key = normalized_key(call, resource, raw)
            call.audit["keys"] = [key]
            call.access(conn, resource)
            record = records.by_key(conn, resource, key)
        call.served(resource, [key], [], 0)
        if record is None or record["_state"] == "removed":
            return {"verdict": "not_found", "state": None}
        verdict = "match" if same_name(record.get("name"), name) else "mismatch"
        return {"verdict": verdict, "state": record["_state"]}

    if PERSON in catalog.resources:
        person = catalog.resource(PERSON)

        @router.post(
            "/citizen",
            response_model=IdentityVerdict,
            summary="Does this citizen ID exist, under this name?",
            responses=errors,
        )
        def verify_citizen(claim: CitizenClaim, call: CallDep) -> dict:
            return identity(call, person, claim.id_number, claim.name)

    if ENTITY in catalog.resources:
        entity = catalog.resource(ENTITY)

        @router.post(
            "/entity",
            response_model=IdentityVerdict,
            summary="Does this USCC exist, under this name?",
            responses=errors,
        )
        def verify_entity(claim: EntityClaim, call: CallDep) -> dict:
            return identity(call, entity, claim.uscc, claim.name)

    if LICENCE in catalog.resources:
        licence = catalog.resource(LICENCE)

        @router.post(
            "/licence",
            response_model=LicenceVerdict,
            summary="Is this licence valid, and held by this holder?",
            responses=errors,
        )
        def verify_licence(claim: LicenceClaim, call: CallDep) -> dict:
            number = unicodedata.normalize("NFKC", claim.licence_no).strip()
            call.audit.update(resource=licence.code, keys=[number], fields=[])
            with call.connect() as conn:
                holder = _holder(call, catalog, claim.holder_id)
                call.access(conn, licence)
                found = [
                    row
                    for row in records.matching(conn, licence, "licence_no", number, limit=50)
                    if row.get("holder_id") == holder
                ]
            call.served(licence, [number], [], 0)  # the number asked, found or not
            if not found:
                return {"verdict": "not_found", "status_zh": None}
            verdicts = [licence_verdict(row) for row in found]
            order = ["valid", "expired", "revoked"]
            return min(verdicts, key=lambda item: order.index(item["verdict"]))

    return router


def _holder(call: Call, catalog: Catalog, raw: str) -> str:
    """The holder's key as stored; 422 unless it is a valid citizen ID or USCC (a holder that
    is neither could never match, and a typo must not read as `not_found`)."""
    shaped = formats.CITIZEN_ID.matches(raw) or formats.USCC.matches(raw)
    found = subject_key(catalog, raw) if shaped else None
    if found is None or isinstance(found, BadKey):
        raise call.deny(
            422,
            "bad_request",
            f"holder_id: {raw[:64]!r} is neither a valid citizen ID nor a valid USCC",
        )
    return found[1]


def licence_verdict(row: dict) -> dict:
    status = row.get("status")
    until = row.get("valid_until")
    if status in {"吊销", "注销"} or row["_state"] == "ended":
        verdict = "revoked"
    elif status == "过期" or (until is not None and until < today()):
        verdict = "expired"
    else:
        verdict = "valid"
    return {"verdict": verdict, "status_zh": status}
