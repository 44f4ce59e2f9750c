"""The rule vocabulary of the declarations, as vectorised checks over normalised columns.

Every check returns a numpy boolean array, True where a row FAILS. Every rule but `required`
passes on a missing value: absence is the business of `required`. The same functions back the
Great Expectations custom expectations (quality/expectations.py), so a rule means one thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog_schema import FieldSpec, Resource
from quality import citizen_id, uscc
from quality.dates import parse_iso, today
from quality.text import fill_false, to_arrow
from quality.vocab import (
    ETHNIC_GROUPS,
    INDUSTRY_CODE_PATTERN,
    LEGAL_PERSON,
    NATURAL_PERSON,
    PHONE_PATTERN,
)

_NUMBER = r"^[-+]?\d{1,16}(\.\d+)?$"  # the warehouse keeps 16 digits before the point


def _present(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(values), dtype=bool)


def missing(values) -> np.ndarray:
    return ~_present(to_arrow(values))


def not_citizen_id(values) -> np.ndarray:
    values = to_arrow(values)
    return _present(values) & ~citizen_id.is_valid(values)


def not_uscc(values) -> np.ndarray:
    values = to_arrow(values)
    return _present(values) & ~uscc.is_valid(values)


def not_in(values, allowed: list[str]) -> np.ndarray:
    values = to_arrow(values)
    return _present(values) & ~fill_false(pc.is_in(values, pa.array(allowed, pa.string())))


def not_ethnic_group(values) -> np.ndarray:
    return not_in(values, list(ETHNIC_GROUPS))


def not_phone(values) -> np.ndarray:
    values = to_arrow(values)
    return _present(values) & ~fill_false(pc.match_substring_regex(values, PHONE_PATTERN))


def not_date(values) -> np.ndarray:
    values = to_arrow(values)
    return _present(values) & ~_present(parse_iso(values))


def in_future(values) -> np.ndarray:
    dates = parse_iso(to_arrow(values))
    return fill_false(pc.greater(dates, pa.scalar(today(), pa.date32())))


def before(values, other) -> np.ndarray:
    return fill_false(pc.less(parse_iso(to_arrow(values)), parse_iso(to_arrow(other))))


def gender_disagrees(genders, ids) -> np.ndarray:
    genders = to_arrow(genders)
    expected = citizen_id.genders(to_arrow(ids))
    known = fill_false(pc.is_in(genders, pa.array(["男", "女"])))
    return known & fill_false(pc.not_equal(genders, expected))


def birth_date_disagrees(dates, ids) -> np.ndarray:
    expected = parse_iso(citizen_id.birth_dates(to_arrow(ids)))
    return fill_false(pc.not_equal(parse_iso(to_arrow(dates)), expected))


def not_industry_code(values) -> np.ndarray:
    values = to_arrow(values)
    return _present(values) & ~fill_false(pc.match_substring_regex(values, INDUSTRY_CODE_PATTERN))


def subject_id_mismatch(ids, types) -> np.ndarray:
    """A citizen ID where the type is 自然人, a USCC where it is 法人; other types fail (a
    missing type is the business of the type field's own rules)."""
    ids, types = to_arrow(ids), to_arrow(types)
    person = fill_false(pc.equal(types, NATURAL_PERSON))
    legal = fill_false(pc.equal(types, LEGAL_PERSON))
    ok = (person & citizen_id.is_valid(ids)) | (legal & uscc.is_valid(ids))
    return _present(ids) & _present(types) & ~ok


def not_number(values) -> np.ndarray:
    values = to_arrow(values)
    return _present(values) & ~fill_false(pc.match_substring_regex(values, _NUMBER))


def negative(values) -> np.ndarray:
    values = to_arrow(values)
    shaped = pc.match_substring_regex(values, _NUMBER)
    numbers = pc.cast(pc.if_else(shaped, values, pa.scalar(None, pa.string())), pa.float64())
    return fill_false(pc.less(numbers, 0.0))


Check = Callable[[pa.Table, FieldSpec, "str | None"], np.ndarray]


def _unary(check: Callable[[pa.Array], np.ndarray]) -> Check:
    return lambda table, spec, arg: check(table.column(spec.name))


def _binary(check: Callable[[pa.Array, pa.Array], np.ndarray]) -> Check:
    return lambda table, spec, arg: check(table.column(spec.name), table.column(arg))


CHECKS: dict[str, Check] = {
    "required": _unary(missing),
    "citizen_id": _unary(not_citizen_id),
    "uscc": _unary(not_uscc),
    "in_set": lambda table, spec, arg: not_in(table.column(spec.name), spec.values or []),
    "ethnic_group": _unary(not_ethnic_group),
    "phone": _unary(not_phone),
    "date_format": _unary(not_date),
    "not_future": _unary(in_future),
    "not_before": _binary(before),
    "gender_agrees_with_id": _binary(gender_disagrees),
    "birth_date_agrees_with_id": _binary(birth_date_disagrees),
    "industry_code": _unary(not_industry_code),
    "subject_id": _binary(subject_id_mismatch),
    "number_format": _unary(not_number),
    "non_negative": _unary(negative),
}


@dataclass(frozen=True)
class BoundRule:
    """A rule of one field of a resource, ready to run on a table of that resource."""

    field: FieldSpec
    name: str
    arg: str | None
    severity: str = "reject"

    @property
    def rule_id(self) -> str:
        """How the rule is named in summaries and quarantine: `field.rule`."""
        return f"{self.field.name}.{self.name}"

    def columns(self) -> tuple[str, ...]:
        return (self.field.name, self.arg) if self.arg else (self.field.name,)

    def check(self, table: pa.Table) -> np.ndarray:
        return CHECKS[self.name](table, self.field, self.arg)


def bound_rules(resource: Resource, columns: list[str] | None = None) -> list[BoundRule]:
    """Every declared rule of the resource whose columns are all in `columns` (default: all)."""
    present = set(columns) if columns is not None else {spec.name for spec in resource.fields}
    rules = [
        BoundRule(spec, rule.name, rule.arg, rule.severity)
        for spec in resource.fields
        for rule in spec.rules
    ]
    return [rule for rule in rules if set(rule.columns()) <= present]
