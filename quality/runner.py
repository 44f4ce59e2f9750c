"""Split a batch into rows that pass and rows that fail, with every rule each row failed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from catalog_schema import Resource
from quality import gx_context
from quality.rules import bound_rules
from quality.suite import runner


@dataclass(frozen=True)
class Verdict:
    """Row-level outcome of validating one normalised table."""

    failures: dict[str, np.ndarray]  # rule id -> True where the row failed it
    rows: int
    warn_only: frozenset[str] = frozenset()  # rule ids declared `severity: warn`
    report: object = None  # the Great Expectations validation result, when GX judged

    @property
    def failed(self) -> np.ndarray:
        """True where a row failed a rejecting rule (it goes to quarantine)."""
        mask = np.zeros(self.rows, dtype=bool)
        for rule, failed in self.failures.items():
            if rule not in self.warn_only:
                mask |= failed
        return mask

    def counts(self) -> dict[str, int]:
        """Rows rejected per rejecting rule."""
        return {
            rule: int(mask.sum())
            for rule, mask in self.failures.items()
            if mask.any() and rule not in self.warn_only
        }

    def warnings(self) -> dict[str, int]:
        """Rows that failed a warn-only rule and load all the same (no rejecting rule failed),
        per rule."""
        loaded = ~self.failed
        counts = {
            rule: int((mask & loaded).sum())
            for rule, mask in self.failures.items()
            if rule in self.warn_only
        }
        return {rule: count for rule, count in counts.items() if count}

    def rules_of(self, positions: np.ndarray) -> list[list[str]]:
        """For each row position, the ids of the rejecting rules it failed, in declaration
        order."""
        names = [rule for rule in self.failures if rule not in self.warn_only]
        if not names:
            return [[] for _ in positions]
        matrix = np.stack([self.failures[name][positions] for name in names], axis=1)
        return [[names[j] for j in np.flatnonzero(row)] for row in matrix]


def warm() -> None:
    """Import Great Expectations and build its context in a background thread, so that its
    seconds overlap with reading a delivery; `validate` waits for it (quality/gx_context.py)."""
    gx_context.warm()


def validate(resource: Resource, table: pa.Table) -> Verdict:
    """Run the resource's Great Expectations suite (every declared rule the table has columns
    for; its validation definition is built once per process) and read the row-level verdicts
    from its results."""
    suite = runner(resource, tuple(table.column_names))
    failures = suite.failures(table)
    return Verdict(failures, table.num_rows, _warn_only(suite.rules), suite.last_result)


def validate_direct(resource: Resource, table: pa.Table) -> Verdict:
    """The same verdicts from the rule checks alone, without Great Expectations' machinery
    (for single values, e.g. a key in an API call)."""
    rules = bound_rules(resource, table.column_names)
    failures = {rule.rule_id: rule.check(table) for rule in rules}
    return Verdict(failures, table.num_rows, _warn_only(rules))


def _warn_only(rules) -> frozenset[str]:
    return frozenset(rule.rule_id for rule in rules if rule.severity == "warn")
