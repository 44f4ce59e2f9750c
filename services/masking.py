"""What a consumer sees of a record: sensitive fields masked, secret fields left out."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from catalog_schema import FieldSpec, Resource


def mask(value: str, spec: FieldSpec) -> str:
    """Keep the declared head and tail, star the rest (`220102********123X`)."""
    return spec.mask.apply(value)


def plain(value: Any) -> Any:
    if value is None or type(value) is str:  # most values, and the cheapest test (batches)
        return value
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # SQLite keeps the UTC times naive
    if isinstance(value, dt.date):  # a datetime is a date too
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return value


Plan = tuple[tuple[str, FieldSpec | None], ...]


def plan(
    resource: Resource,
    unmasked: frozenset[str] = frozenset(),
    fields: tuple[str, ...] | None = None,
) -> Plan:
    """The fields served (all non-secret ones, or only `fields`) in declaration order, each with
    its spec when it is shown masked: worked out once for all the records of a call."""
    return tuple(
        (spec.name, spec if spec.sensitivity == "sensitive" and spec.name not in unmasked else None)
        for spec in resource.fields
        if spec.sensitivity != "secret" and (fields is None or spec.name in fields)
    )


def shown(plan: Plan, record: dict) -> tuple[dict[str, Any], list[str]]:
    """A record's fields as `plan` serves them, and the names of the fields masked."""
    data: dict[str, Any] = {}
    masked: list[str] = []
    for name, masking in plan:
        value = record.get(name)
        if value is not None and type(value) is not str:  # most values are text
            value = plain(value)
        if masking is not None and value is not None:
            value = mask(str(value), masking)
            masked.append(name)
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
