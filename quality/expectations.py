"""Great Expectations custom expectations, one per rule of the vocabulary.

Each wraps the vectorised check of quality/rules.py, so Great Expectations and the rest of the
hub mean the same thing by a rule. GX registers classes globally when they are defined: import
this module once, under this name only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

logging.getLogger("great_expectations").setLevel(logging.WARNING)

from great_expectations.execution_engine import PandasExecutionEngine  # noqa: E402
from great_expectations.expectations.expectation import (  # noqa: E402
    ColumnMapExpectation,
    ColumnPairMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (  # noqa: E402
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
)

from quality import rules  # noqa: E402

PairPolicy = Literal["both_values_are_missing", "either_value_is_missing", "neither"]


def _passes(fails: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(~fails, index=index, dtype=bool)


def _column_metric(metric: str, fails: Callable[[pd.Series], np.ndarray]) -> type:
    """A column map metric whose condition is `not fails(column)`; nulls reach the check."""

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return _passes(fails(column), column.index)

    name = "".join(part.capitalize() for part in metric.replace(".", "_").split("_"))
    attrs = {"condition_metric_name": metric, "filter_column_isnull": False, "_pandas": _pandas}
    return type(name, (ColumnMapMetricProvider,), attrs)


def _pair_metric(metric: str, fails: Callable[[pd.Series, pd.Series], np.ndarray]) -> type:
    """A column pair metric whose condition is `not fails(column_A, column_B)`."""

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs) -> pd.Series:
        return _passes(fails(column_A, column_B), column_A.index)

    name = "".join(part.capitalize() for part in metric.replace(".", "_").split("_"))
    domain = (
        "batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser",
        "ignore_row_if",
    )  # fmt: skip
    attrs = {"condition_metric_name": metric, "condition_domain_keys": domain, "_pandas": _pandas}
    return type(name, (ColumnPairMapMetricProvider,), attrs)


_column_metric("column_values.valid_citizen_id", rules.not_citizen_id)
_column_metric("column_values.valid_uscc", rules.not_uscc)
_column_metric("column_values.ethnic_group", rules.not_ethnic_group)
_column_metric("column_values.phone_number", rules.not_phone)
_column_metric("column_values.calendar_date", rules.not_date)
_column_metric("column_values.not_in_future", rules.in_future)
_column_metric("column_values.industry_code", rules.not_industry_code)
_column_metric("column_values.decimal_number", rules.not_number)
_column_metric("column_values.non_negative_number", rules.negative)
_pair_metric("column_pair_values.a_not_before_b", rules.before)
_pair_metric("column_pair_values.subject_id_matches_type", rules.subject_id_mismatch)
_pair_metric("column_pair_values.gender_agrees_with_citizen_id", rules.gender_disagrees)
_pair_metric("column_pair_values.birth_date_agrees_with_citizen_id", rules.birth_date_disagrees)


class ExpectColumnValuesToBeValidCitizenId(ColumnMapExpectation):
    """Values are 18-character citizen ID numbers (GB 11643): check character, birth date, and
    a division code that is or was assigned."""

    map_metric = "column_values.valid_citizen_id"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Values are unified social credit codes (GB 32100) with a valid organisation code."""

    map_metric = "column_values.valid_uscc"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeAnEthnicGroup(ColumnMapExpectation):
    """Values are one of the 56 ethnic groups of China, or 其他."""

    map_metric = "column_values.ethnic_group"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeAPhoneNumber(ColumnMapExpectation):
    """Values are mainland mobile numbers or landlines with an area code."""

    map_metric = "column_values.phone_number"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeCalendarDates(ColumnMapExpectation):
    """Values are real days of the calendar, written YYYY-MM-DD after normalisation."""

    map_metric = "column_values.calendar_date"
    success_keys = ("mostly",)


class ExpectColumnValuesToNotBeInTheFuture(ColumnMapExpectation):
    """Date values are not after today."""

    map_metric = "column_values.not_in_future"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeIndustryCodes(ColumnMapExpectation):
    """Values are GB/T 4754 industry codes: a section letter and up to 4 digits."""

    map_metric = "column_values.industry_code"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeDecimalNumbers(ColumnMapExpectation):
    """Values are decimal numbers: digits, an optional sign and decimal point."""

    map_metric = "column_values.decimal_number"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeNonNegativeNumbers(ColumnMapExpectation):
    """Numeric values are not below zero."""

    map_metric = "column_values.non_negative_number"
    success_keys = ("mostly",)


class ExpectColumnPairValuesAToNotBeBeforeB(ColumnPairMapExpectation):
    """The date in column A is not before the date in column B (e.g. death after birth)."""

    ignore_row_if: PairPolicy = "either_value_is_missing"
    map_metric = "column_pair_values.a_not_before_b"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")


class ExpectColumnPairSubjectIdToMatchSubjectType(ColumnPairMapExpectation):
    """The identifier in column A is a citizen ID where the type in column B is 自然人 and a
    USCC where it is 法人."""

    ignore_row_if: PairPolicy = "either_value_is_missing"
    map_metric = "column_pair_values.subject_id_matches_type"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")


class ExpectColumnPairGenderToAgreeWithCitizenId(ColumnPairMapExpectation):
    """The gender in column A agrees with the sequence digit of the ID in column B."""

    ignore_row_if: PairPolicy = "either_value_is_missing"
    map_metric = "column_pair_values.gender_agrees_with_citizen_id"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")


class ExpectColumnPairBirthDateToAgreeWithCitizenId(ColumnPairMapExpectation):
    """The birth date in column A agrees with the birth date inside the ID in column B."""

    ignore_row_if: PairPolicy = "either_value_is_missing"
    map_metric = "column_pair_values.birth_date_agrees_with_citizen_id"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")


#: rule of the vocabulary -> the custom expectation that checks it (built-ins in suite.py)
CUSTOM = {
    "citizen_id": ExpectColumnValuesToBeValidCitizenId,
    "uscc": ExpectColumnValuesToBeValidUscc,
    "ethnic_group": ExpectColumnValuesToBeAnEthnicGroup,
    "phone": ExpectColumnValuesToBeAPhoneNumber,
    "date_format": ExpectColumnValuesToBeCalendarDates,
    "not_future": ExpectColumnValuesToNotBeInTheFuture,
    "industry_code": ExpectColumnValuesToBeIndustryCodes,
    "subject_id": ExpectColumnPairSubjectIdToMatchSubjectType,
    "number_format": ExpectColumnValuesToBeDecimalNumbers,
    "non_negative": ExpectColumnValuesToBeNonNegativeNumbers,
    "not_before": ExpectColumnPairValuesAToNotBeBeforeB,
    "gender_agrees_with_id": ExpectColumnPairGenderToAgreeWithCitizenId,
    "birth_date_agrees_with_id": ExpectColumnPairBirthDateToAgreeWithCitizenId,
}
