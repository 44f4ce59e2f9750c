"""A record key as a consumer or an administrator types it, normalised and checked exactly as
the loads normalise and check it."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import pyarrow as pa

from catalog_schema import FieldSpec, Resource
from quality import citizen_id
from quality.normalize import normalize_column
from quality.rules import bound_rules


class BadKey(ValueError):
    """The key breaks a rule of the key field; the message names the field and the rule."""


def normalize_key(resource: Resource, raw: str) -> str:
    """One key, as `normalize_keys` gives it; an ASCII key of a field whose normalisation and
    rules have a one-value version takes it (Arrow's compute functions cost tens of µs a call,
    so one key took over a millisecond through the column path)."""
    # beyond ASCII, Python's Unicode tables (NFKC, case) may be older than Arrow's
    one = _one_value(resource.key_field) if raw.isascii() else None
    value = normalize_keys(resource, [raw])[0] if one is None else _one_key(resource, raw, one)
    if isinstance(value, BadKey):
        raise value
    return value


_TRIMMED = " \t\r\n\u3000\ufeff\xa0"  # as normalize.trim
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ONE_VALUE_CHECKS: dict[str, Callable[[str | None], bool]] = {
    "required": lambda value: value is not None,
    # as in the column rules, an empty value breaks `required` only
    "citizen_id": lambda value: value is None or citizen_id.is_valid_one(value),
}


def _one_value(spec: FieldSpec) -> Callable[[str | None], str | None] | None:
    """The one-value normaliser of a key field, if it and every rule of the field have one."""
    return _one_value_of(frozenset(rule.name for rule in spec.rules), spec.type)


@functools.cache
def _one_value_of(names: frozenset[str], kind: str) -> Callable[[str | None], str | None] | None:
    if not names <= _ONE_VALUE_CHECKS.keys() or kind in ("date", "decimal"):
        return None
    return citizen_id.normalize_one if "citizen_id" in names else _as_is


def _as_is(value: str | None) -> str | None:
    return value


def _one_key(
    resource: Resource, raw: str, normalize: Callable[[str | None], str | None]
) -> str | BadKey:
    spec = resource.key_field
    trimmed = _CONTROL.sub("", raw).strip(_TRIMMED) or None
    value = normalize(trimmed)
    failed = [name for name in _key_rules(resource) if not _ONE_VALUE_CHECKS[name](value)]
    return _verdict(spec, raw, value, failed)


_key_rules_of: dict[int, tuple[Resource, list[str]]] = {}


def _key_rules(resource: Resource) -> list[str]:
    """The names of the rules that check the key alone, per resource declaration."""
    held = _key_rules_of.get(id(resource))
    if held is None or held[0] is not resource:
        spec = resource.key_field
        names = [r.name for r in bound_rules(resource, [spec.name]) if r.field.name == spec.name]
        held = _key_rules_of[id(resource)] = (resource, names)
    return held[1]


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
    return [
        _verdict(spec, raw, values[index].as_py(), [name for name, flags in checks if flags[index]])
        for index, raw in enumerate(raws)
    ]


def _verdict(spec: FieldSpec, raw: str, value: str | None, failed: list[str]) -> str | BadKey:
    if any(ord(char) < 32 for char in raw):
        return BadKey(f"{spec.name}: control characters are not allowed")
    if failed or value is None:
        reason = ", ".join(failed) or "required"
        return BadKey(f"{spec.name}: not a valid {spec.label_zh} ({reason})")
    return value
