"""A source's scope as declared (Source.scope): the rows it may write, by the values of a field,
exact (`RT01`) or a prefix (`RT01-*`, `9*`: a key that carries its issuer). What the rows are
checked against (quality/scope.py) and what the records are (warehouse/staging.py) both read
the declaration through these."""

from __future__ import annotations

from collections.abc import Iterable

from catalog_schema.rule_words import SOURCE_SCOPE


def rule_id(field: str) -> str:
    """The rule a row outside the scope of `field` breaks."""
    return f"{field}.{SOURCE_SCOPE}"


def split(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """(exact values, prefixes) of a scope's values; `X*` is the prefix `X`."""
    exact = sorted(v for v in values if not v.endswith("*"))
    prefixes = sorted(v[:-1] for v in values if v.endswith("*"))
    return exact, prefixes
