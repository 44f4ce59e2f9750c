"""What a consumer sees of a record: sensitive fields masked, secret fields left out.

A legal entity's unified social credit code is public (it is printed on its licence and in the
registers), so a value that is one is never masked: a field with the rule `uscc`, or a subject
field (rule `subject_id`, a citizen ID or a USCC as its type field says) of a row whose type is
法人. A personal identifier keeps the field's declared sensitivity.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, NamedTuple

import orjson

from catalog_schema import FieldSpec, Resource
from runtime import clock

LEGAL_PERSON = "法人"


def mask(value: str, spec: FieldSpec) -> str:
    """Keep the declared head and tail, star the rest (`220102********123X`)."""
    return spec.mask.apply(value)


def number(value: decimal.Decimal) -> int | float | orjson.Fragment:
    """A decimal as a JSON number without trailing zeros (`531.5500` → 531.55): a whole number
    as an int, else a float when that is exact, else its digits as they are (orjson writes a
    Fragment as given), so no digit of the warehouse's 20 is lost or made up."""
    text = digits(value)
    if "." not in text:
        whole = int(text)
        # orjson writes ints of 64 bits only (SQLite keeps a wider one in a NUMERIC column)
        return whole if -(2**63) <= whole < 2**64 else orjson.Fragment(text)
    as_float = float(text)
    return as_float if repr(as_float) == text else orjson.Fragment(text)


def digits(value: decimal.Decimal) -> str:
    """The decimal's digits without trailing zeros after the point: `531.55`, `8200`."""
    if not value.is_finite():
        raise ValueError(f"{value}: not a number JSON can carry")
    if value == value.to_integral_value():
        return format(value.quantize(decimal.Decimal(1)), "f")
    return format(value.normalize(), "f")


def plain(value: Any) -> Any:
    """A value as the API shows it: a time local with its offset (runtime.clock.iso), a date
    `YYYY-MM-DD`, a decimal a JSON number (`number`)."""
    if value is None or type(value) is str:  # most values, and the cheapest test (batches)
        return value
    if isinstance(value, dt.datetime):
        return clock.iso(value)  # a naive time (SQLite) is UTC
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return number(value)
    return value


def _text(value: Any) -> str:
    """A value as text, to be masked."""
    if isinstance(value, decimal.Decimal):
        return digits(value)
    shown = plain(value)
    return shown if isinstance(shown, str) else str(shown)


class Shown(NamedTuple):
    """How one served field is shown: masked per `spec` (None: in clear), except on a row whose
    `entity_when` field says 法人 (the value is a legal entity's code)."""

    name: str
    spec: FieldSpec | None
    entity_when: str | None = None


Plan = tuple[Shown, ...]


def masked_when(spec: FieldSpec) -> tuple[bool, str | None]:
    """Whether a sensitive field is masked at all, and the type field whose 法人 rows show it in
    clear (a subject field: a citizen ID or a USCC)."""
    names = {rule.name: rule.arg for rule in spec.rules}
    if "uscc" in names:
        return False, None  # a legal entity's code, always
    return True, names.get("subject_id")


def plan(
    resource: Resource,
    unmasked: frozenset[str] = frozenset(),
    fields: tuple[str, ...] | None = None,
) -> Plan:
    """The fields served (all non-secret ones, or only `fields`) in declaration order, each with
    how it is shown: worked out once for all the records of a call."""
    shown = []
    for spec in resource.fields:
        if spec.sensitivity == "secret" or (fields is not None and spec.name not in fields):
            continue
        masking, entity_when = None, None
        if spec.sensitivity == "sensitive" and spec.name not in unmasked:
            masked, entity_when = masked_when(spec)
            masking = spec if masked else None
        shown.append(Shown(spec.name, masking, entity_when))
    return tuple(shown)


def shown(plan: Plan, record: dict) -> tuple[dict[str, Any], list[str]]:
    """A record's fields as `plan` serves them, and the names of the fields masked."""
    data: dict[str, Any] = {}
    masked: list[str] = []
    for name, masking, entity_when in plan:
        value = record.get(name)
        if (
            masking is not None
            and value is not None
            and (entity_when is None or record.get(entity_when) != LEGAL_PERSON)
        ):
            text = value if type(value) is str else _text(value)
            value = mask(text, masking)
            masked.append(name)
        elif value is not None and type(value) is not str:  # most values are text
            value = plain(value)
        data[name] = value
    return data, masked


def present(
    resource: Resource,
    record: dict,
    unmasked: frozenset[str] = frozenset(),
    fields: tuple[str, ...] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The record's fields as served (all non-secret ones, or only `fields`), and the names of
    the fields that were masked."""
    return shown(plan(resource, unmasked, fields), record)


def described(spec: FieldSpec) -> str:
    """How a field is served, for the API document: its sensitivity, and when a sensitive field
    shows a value in clear."""
    if spec.sensitivity != "sensitive":
        return spec.sensitivity
    masked, entity_when = masked_when(spec)
    if not masked:
        return "sensitive, shown in clear: a legal entity's code is public"
    if entity_when:
        return f"sensitive: masked unless a grant names it; in clear where {entity_when} is 法人"
    return "sensitive: masked unless a grant names it"
