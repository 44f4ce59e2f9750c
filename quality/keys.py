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
    spec = resource.key_field
    if any(ord(char) < 32 for char in raw):
        raise BadKey(f"{spec.name}: control characters are not allowed")
    value = normalize_column(spec, pa.array([raw], pa.string()))
    table = pa.table({spec.name: value})
    failed = [
        rule.name
        for rule in bound_rules(resource, [spec.name])
        if rule.field.name == spec.name and rule.check(table)[0]
    ]
    if failed or value[0].as_py() is None:
        reason = ", ".join(failed) or "required"
        raise BadKey(f"{spec.name}: not a valid {spec.label_zh} ({reason})")
    return value[0].as_py()
