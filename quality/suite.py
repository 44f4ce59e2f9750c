"""The Great Expectations suite of a resource, generated from its declaration, and its runner.

No suite is written by hand: each declared rule becomes one expectation (a custom one from
quality/expectations.py, or a built-in for `required` and `in_set`), tagged with its rule id.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow as pa

from catalog_schema import Resource
from quality.rules import BoundRule, bound_rules

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
logging.getLogger("great_expectations").setLevel(logging.WARNING)


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
    """An ephemeral GX context holding one resource's suite, for many batches of it."""

    def __init__(self, resource: Resource, columns: tuple[str, ...]):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
        self.resource = resource
        self.rules = bound_rules(resource, list(columns))
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        name = resource.table_name
        asset = self.context.data_sources.add_pandas(name).add_dataframe_asset(name)
        self.batch_definition = asset.add_batch_definition_whole_dataframe(name)
        suite = gx.ExpectationSuite(name=f"{resource.code} suite")
        for rule in self.rules:
            suite.add_expectation(expectation(rule))
        self.suite = self.context.suites.add(suite)

    def failures(self, table: pa.Table) -> dict[str, np.ndarray]:
        """For each rule id, True where the row failed it (the GX result is `last_result`)."""
        failures = {rule.rule_id: np.zeros(table.num_rows, dtype=bool) for rule in self.rules}
        self.last_result = None
        if table.num_rows == 0 or not self.rules:
            return failures
        frame = table.to_pandas().reset_index(drop=True)
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(self.suite, result_format="COMPLETE")
        self.last_result = result
        for outcome in result.results:
            rule_id = outcome.expectation_config.meta["rule"]
            problem = _exception(outcome)
            if problem:
                columns = ", ".join(_rule(self.rules, rule_id).columns())
                raise RuleError(f"rule {rule_id} could not be evaluated on {columns}: {problem}")
            index = (outcome.result or {}).get("unexpected_index_list") or []
            failures[rule_id][np.asarray(index, dtype=np.int64)] = True
        return failures


_runners: dict[tuple[str, tuple[str, ...]], SuiteRunner] = {}


def runner(resource: Resource, columns: tuple[str, ...]) -> SuiteRunner:
    """One runner per resource declaration and set of columns, per process."""
    found = _runners.get((resource.code, columns))
    if found is None or found.resource != resource:
        found = _runners[(resource.code, columns)] = SuiteRunner(resource, columns)
    return found


def _rule(rules: list[BoundRule], rule_id: str) -> BoundRule:
    return next(rule for rule in rules if rule.rule_id == rule_id)


def _exception(outcome) -> str | None:
    info = outcome.exception_info or {}
    if "raised_exception" in info:
        return info.get("exception_message") if info["raised_exception"] else None
    messages = [str(v.get("exception_message")) for v in info.values() if v.get("raised_exception")]
    return "; ".join(messages) or None
