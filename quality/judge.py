"""Judge a block of delivered rows: normalise them, run every declared rule (Great Expectations)
over the rows not already known to pass, then the source's scope. A pure function of the block:
it reads and writes nothing, so a batch can judge block n+1 while the warehouse stores block n.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from catalog_schema import Resource
from quality import scope as source_scope
from quality.normalize import normalize_table
from quality.rules import bound_rules
from quality.runner import Verdict, validate


@dataclass
class RuleCounts:
    """Rows rejected and warned per rule, and the rules checked in declaration order."""

    rejected: Counter[str] = field(default_factory=Counter)
    warned: Counter[str] = field(default_factory=Counter)
    checked: dict[str, None] = field(default_factory=dict)

    def reject(self, rules_per_row: list[list[str]]) -> None:
        for rules in rules_per_row:
            self.rejected.update(rules)

    def add(self, other: RuleCounts) -> None:
        self.rejected.update(other.rejected)
        self.warned.update(other.warned)
        self.checked.update(other.checked)


@dataclass(frozen=True)
class Judgement:
    """A block judged: every row normalised, the positions of the rows that failed with the
    rules each broke (declared rules first, then the scope's), and the counts."""

    normal: pa.Table
    failed_at: np.ndarray
    failed_rules: list[list[str]]
    counts: RuleCounts
    verdict: Verdict | None  # Great Expectations' verdict, for the Data Docs

    @property
    def passed(self) -> np.ndarray:
        mask = np.ones(self.normal.num_rows, dtype=bool)
        mask[self.failed_at] = False
        return mask


def judge(
    resource: Resource,
    rows: pa.Table,
    known_good: np.ndarray | None = None,
    scope: dict[str, frozenset[str]] | None = None,
) -> Judgement:
    """Judge `rows` (raw values under field names). Rows marked `known_good` passed every rule
    earlier today and are not validated again; every row is checked against `scope`."""
    normal = normalize_table(resource, rows)
    counts = RuleCounts()
    unknown = np.flatnonzero(~known_good) if known_good is not None else np.arange(rows.num_rows)
    failed_at, failed_rules, verdict = unknown[:0], [], None
    if len(unknown):
        judging = normal if len(unknown) == normal.num_rows else normal.take(pa.array(unknown))
        verdict = validate(resource, judging)
        counts.rejected.update(verdict.counts())
        counts.warned.update(verdict.warnings())
        counts.checked.update(dict.fromkeys(verdict.failures))
        bad = np.flatnonzero(verdict.failed)
        failed_at, failed_rules = unknown[bad], verdict.rules_of(bad)
    if scope:  # rows that pass every rule but are not the source's to write
        outside = source_scope.outside(normal, scope)
        failed = np.zeros(normal.num_rows, dtype=bool)
        failed[failed_at] = True
        foreign = np.flatnonzero(np.logical_or.reduce(list(outside.values())) & ~failed)
        if len(foreign):
            counts.checked.update(dict.fromkeys(outside))
            foreign_rules = source_scope.rules_of(outside, foreign)
            counts.reject(foreign_rules)
            failed_at = np.concatenate([failed_at, foreign])
            failed_rules = [*failed_rules, *foreign_rules]
    return Judgement(normal, failed_at, failed_rules, counts, verdict)


def normal_keys(resource: Resource, rows: pa.Table) -> pa.Array:
    """The key of each row, normalised as the warehouse stores it."""
    return normalize_table(resource, rows.select([resource.key])).column(0).combine_chunks()


def rule_ids(resource: Resource, columns: list[str]) -> dict[str, None]:
    """The rules a block with these columns is judged by, in declaration order."""
    return dict.fromkeys(rule.rule_id for rule in bound_rules(resource, columns))


@functools.cache
def code_digest() -> bytes:
    """A digest of this package's code and data: it changes when a rule or a normaliser does,
    so that rows delivered unchanged before are judged again (the warehouse seeds its row
    hashes with it)."""
    folder = Path(__file__).parent
    code = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".yaml", ".csv", ".txt", ".json"}:
            code.update(path.relative_to(folder).as_posix().encode())
            code.update(path.read_bytes())
    return code.digest()
