"""A record key as a consumer or an administrator types it, normalised and checked exactly as
the loads normalise and check it."""

from __future__ import annotations

import pyarrow as pa

from catalog_schema import Resource
from quality.normalize import normalize_column
from quality.rules import bound_rules


class BadKey(ValueError):
    """The key breaks a rule of the key field; the message names the field and the rule."""


def normalize_key(resource: Resource, raw: str) -> str:
    value = normalize_keys(resource, [raw])[0]
    if isinstance(value, BadKey):
        raise value
    return value


def normalize_keys(resource: Resource, raws: list[str]) -> list[str | BadKey]:
    """Each key normalised, or the BadKey it raises: one vectorised pass for a batch."""
    spec = resource.key_field
    values = normalize_column(spec, pa.array(raws, pa.string()))
    table = pa.table({spec.name: values})
    checks = [
        (rule.name, rule.check(table))
        for rule in bound_rules(resource, [spec.name])
        if rule.field.name == spec.name
    ]
    result: list[str | BadKey] = []
    for index, raw in enumerate(raws):
        value = values[index].as_py()
        failed = [name for name, flags in checks if flags[index]]
        if any(ord(char) < 32 for char in raw):
            result.append(BadKey(f"{spec.name}: control characters are not allowed"))
        elif failed or value is None:
            reason = ", ".join(failed) or "required"
            result.append(BadKey(f"{spec.name}: not a valid {spec.label_zh} ({reason})"))
        else:
            result.append(value)
    return result
