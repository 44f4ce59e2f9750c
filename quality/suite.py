"""The Great Expectations suite of a resource, generated from its declaration, and its runner.

No suite is written by hand: each declared rule becomes one expectation (a custom one from
quality/expectations.py, or a built-in for `required` and `in_set`), tagged with its rule id.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import numpy as np
import pyarrow as pa

from catalog_schema import Resource
from quality import gx_context
from quality.rules import BoundRule

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
logging.getLogger("great_expectations").setLevel(logging.WARNING)
PARTIAL = 20  # values and indexes a SUMMARY result keeps (GX's default)


class RuleError(Exception):
    """A rule could not be evaluated (missing column, wrong type): the batch cannot be judged."""


def expectation(rule: BoundRule):
    """The GX expectation that checks one bound rule."""
    import great_expectations.expectations as gxe

    from quality.expectations import CUSTOM

    meta = {"rule": rule.rule_id}
    column = rule.field.name
    if rule.name == "required":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
    if rule.name == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(
            column=column, value_set=rule.field.values, meta=meta
        )
    cls = CUSTOM[rule.name]
    if rule.arg:
        return cls(column_A=column, column_B=rule.arg, meta=meta)
    return cls(column=column, meta=meta)


class SuiteRunner:
    """A resource's suite for one set of columns, run on many blocks: its validation definition
    is the process's (quality/gx_context.py), built once and reused."""

    def __init__(self, resource: Resource, columns: tuple[str, ...]):
        self.resource = resource
        self.definition = gx_context.definition(resource, columns)
        self.rules = self.definition.rules
        self.suite = self.definition.suite
        self.last_result = None

    def failures(self, table: pa.Table) -> dict[str, np.ndarray]:
        """For each rule id, True where the row failed it, as Great Expectations found it (its
        result is `last_result`, in SUMMARY format)."""
        failures = {rule.rule_id: np.zeros(table.num_rows, dtype=bool) for rule in self.rules}
        self.last_result = None
        if table.num_rows == 0 or not self.rules:
            return failures
        frame = table.to_pandas().reset_index(drop=True)
        result = gx_context.run(self.definition, frame, table.num_rows)
        for outcome in result.results:
            rule_id = outcome.expectation_config.meta["rule"]
            problem = _exception(outcome)
            columns = ", ".join(_rule(self.rules, rule_id).columns())
            if problem:
                raise RuleError(f"rule {rule_id} could not be evaluated on {columns}: {problem}")
            info = outcome.result or {}
            index = info.get("partial_unexpected_index_list") or []
            if len(index) != (info.get("unexpected_count") or 0):
                raise RuleError(
                    f"rule {rule_id} on {columns}: Great Expectations counted "
                    f"{info.get('unexpected_count')} failing rows but named {len(index)}"
                )
            failures[rule_id][np.asarray(index, dtype=np.int64)] = True
            _summary(info)
        self.last_result = result
        return failures


def runner(resource: Resource, columns: tuple[str, ...]) -> SuiteRunner:
    """The runner of a resource declaration and set of columns (its definition is built once
    per process)."""
    return SuiteRunner(resource, columns)


def _summary(info: dict) -> None:
    """Cut a result read with every failing row's index back to GX's plain SUMMARY: 20 values
    and indexes, and the 20 commonest of the first 200 values (what the Data Docs show)."""
    values = info.get("partial_unexpected_list")
    if values is None:
        return
    info["partial_unexpected_list"] = values[:PARTIAL]
    if "partial_unexpected_index_list" in info:
        info["partial_unexpected_index_list"] = info["partial_unexpected_index_list"][:PARTIAL]
    hashable = [tuple(v.values()) if isinstance(v, dict) else v for v in values]
    try:
        common = Counter(hashable).most_common(PARTIAL)
        common = sorted(common, key=lambda item: (-item[1], item[0]))
    except TypeError:
        return
    info["partial_unexpected_counts"] = [{"value": v, "count": n} for v, n in common]


def _rule(rules: list[BoundRule], rule_id: str) -> BoundRule:
    return next(rule for rule in rules if rule.rule_id == rule_id)


def _exception(outcome) -> str | None:
    info = outcome.exception_info or {}
    if "raised_exception" in info:
        return info.get("exception_message") if info["raised_exception"] else None
    messages = [str(v.get("exception_message")) for v in info.values() if v.get("raised_exception")]
    return "; ".join(messages) or None
