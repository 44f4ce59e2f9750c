"""The rule vocabulary of the declarations, each a vectorised check over a normalised table.

A check returns a numpy boolean array, True where a row FAILS the rule. Every rule but
`required` passes on a missing value: absence is the business of `required`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog_schema import FieldSpec, Resource
from quality import citizen_id, uscc
from quality.dates import parse_iso
from quality.text import fill_false
from quality.vocab import ETHNIC_GROUPS, PHONE_PATTERN

Check = Callable[[pa.Table, FieldSpec, "str | None"], np.ndarray]


def _present(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(values), dtype=bool)


_dates = parse_iso


def required(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    return ~_present(table.column(spec.name).combine_chunks())


def valid_citizen_id(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    return _present(values) & ~citizen_id.is_valid(values)


def valid_uscc(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    return _present(values) & ~uscc.is_valid(values)


def in_set(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    return _present(values) & ~fill_false(pc.is_in(values, pa.array(spec.values or [])))


def ethnic_group(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    return _present(values) & ~fill_false(pc.is_in(values, pa.array(ETHNIC_GROUPS)))


def phone(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    return _present(values) & ~fill_false(pc.match_substring_regex(values, PHONE_PATTERN))


def date_format(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    return _present(values) & ~_present(_dates(values))


def not_future(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    dates = _dates(table.column(spec.name).combine_chunks())
    return fill_false(pc.greater(dates, pa.scalar(dt.date.today(), pa.date32())))


def not_before(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    dates = _dates(table.column(spec.name).combine_chunks())
    other = _dates(table.column(arg).combine_chunks())
    return fill_false(pc.less(dates, other))


def gender_agrees_with_id(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    expected = citizen_id.genders(table.column(arg).combine_chunks())
    known = fill_false(pc.is_in(values, pa.array(["男", "女"])))
    return known & fill_false(pc.not_equal(values, expected))


def birth_date_agrees_with_id(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    dates = _dates(table.column(spec.name).combine_chunks())
    expected = _dates(citizen_id.birth_dates(table.column(arg).combine_chunks()))
    return fill_false(pc.not_equal(dates, expected))


def non_negative(table: pa.Table, spec: FieldSpec, arg: str | None) -> np.ndarray:
    values = table.column(spec.name).combine_chunks()
    numbers = pc.cast(values, pa.float64(), safe=False) if len(values) else values
    return fill_false(pc.less(numbers, 0.0))


CHECKS: dict[str, Check] = {
    "required": required,
    "citizen_id": valid_citizen_id,
    "uscc": valid_uscc,
    "in_set": in_set,
    "ethnic_group": ethnic_group,
    "phone": phone,
    "date_format": date_format,
    "not_future": not_future,
    "not_before": not_before,
    "gender_agrees_with_id": gender_agrees_with_id,
    "birth_date_agrees_with_id": birth_date_agrees_with_id,
    "non_negative": non_negative,
}


@dataclass(frozen=True)
class BoundRule:
    """A rule of one field of a resource, ready to run on a table of that resource."""

    field: FieldSpec
    name: str
    arg: str | None

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
        BoundRule(spec, rule.name, rule.arg) for spec in resource.fields for rule in spec.rules
    ]
    return [rule for rule in rules if set(rule.columns()) <= present]
