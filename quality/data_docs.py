"""The Data Docs of a batch: a page per validated block and an index of the batch, rendered by
the hub from the Great Expectations validation results into plain HTML that needs no other host.

Each expectation is shown as the rule it checks, in Chinese and English (catalog_schema's one
vocabulary), with its column, result, unexpected rows and a few unexpected values: escaped
(Jinja2 autoescape), sensitive ones masked as the directory declares, secret ones withheld.
The checks the hub makes of the whole batch rather than in a block's suite (malformed rows, a key
repeated with other content, a source's scope, references) are listed on the batch's index and
count in its result, as `gdx load` counts them. The facts of the batch are kept beside its pages
(`batch.json`) for the Home page (quality/docs_home.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from catalog_schema import FieldSpec, Resource
from catalog_schema.rule_words import ROW_RULES, explain
from quality import docs_pages
from quality.runner import Verdict

RECORD = "batch.json"  # the facts of a batch, beside its pages
UNLOADED = {"rejected": "batch_rejected", "failed": "failed", "interrupted": "interrupted"}
EXAMPLES = 10  # unexpected values shown per expectation (GX keeps the 20 most frequent)
LONGEST = 120  # characters of a value shown


@dataclass
class Block:
    """What one validated block came to (its page is `page`, beside the batch index)."""

    number: int
    page: str
    rows: int
    rejected: int  # rows that failed a rejecting rule (quarantined)
    warned: int  # rows that failed only warn-only rules (loaded)
    checked: list[str] = field(default_factory=list)  # rule ids of the block's expectations
    unexpected: dict[str, int] = field(default_factory=dict)  # rule id -> rows that failed it
    failed: list[str] = field(default_factory=list)  # rule ids whose expectation failed


@dataclass
class Batch:
    """The facts of a batch's Data Docs, as its pages and the Home page show them."""

    resource: str
    name_zh: str
    name_en: str
    batch_id: str
    department: str
    source: str | None = None
    file: str | None = None
    started: str = ""  # as shown: local ISO 8601 with offset
    severity: dict[str, str] = field(default_factory=dict)  # rule id -> reject | warn
    blocks: list[Block] = field(default_factory=list)
    # rule id -> rows, of the checks of the whole batch (not in a block's suite)
    whole: dict[str, int] = field(default_factory=dict)
    quarantined: int | None = None  # rows the batch quarantined by any check, once it ended
    outcome: str | None = None  # rejected, failed or interrupted: nothing of it was merged

    @property
    def rows(self) -> int:
        return sum(block.rows for block in self.blocks)

    @property
    def rejected(self) -> int:
        """Rows quarantined: by any check once the batch ended, else by the blocks' rules."""
        if self.quarantined is not None:
            return self.quarantined
        return sum(block.rejected for block in self.blocks)

    @property
    def warned(self) -> int:
        """Rows loaded with a warning: of the blocks' rules, then of each whole-batch warning
        (a row that has two warnings counts twice)."""
        checks = sum(n for rule, n in self.whole.items() if self.severity.get(rule) == "warn")
        return sum(block.warned for block in self.blocks) + checks

    @property
    def checked(self) -> list[str]:
        """Rule ids some block was validated by, in the declaration's order."""
        return _ordered(self.severity, {rule for block in self.blocks for rule in block.checked})

    @property
    def failed(self) -> list[str]:
        """Rule ids whose expectation failed in some block, or whole-batch checks that found
        rows, in the declaration's order."""
        failed = {rule for block in self.blocks for rule in block.failed}
        return _ordered(self.severity, failed | {rule for rule, n in self.whole.items() if n})

    @property
    def result(self) -> str:
        """`rejected` (rows quarantined), `warned` (only warn-only rules failed) or `passed`;
        a batch that merged nothing says so instead (`batch_rejected`, `failed`, `interrupted`)."""
        if self.outcome is not None:
            return UNLOADED[self.outcome]
        if self.rejected or any(self.severity.get(r, "reject") == "reject" for r in self.failed):
            return "rejected"
        return "warned" if self.failed else "passed"

    def unexpected(self, rule: str) -> int:
        return sum(block.unexpected.get(rule, 0) for block in self.blocks)

    def add_whole(self, rejected: dict[str, int], warned: dict[str, int]) -> None:
        """The batch's rows per rule (as the ledger counts them) of the checks no block's
        suite made: what `rejected` and `warned` name beyond the blocks' rules."""
        checked = {rule for block in self.blocks for rule in block.checked}
        for counts, severity in ((rejected, "reject"), (warned, "warn")):
            for rule, count in counts.items():
                if count and rule not in checked:
                    self.whole[rule] = count
                    self.severity.setdefault(rule, severity)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Batch:
        data = json.loads(text)
        data["blocks"] = [Block(**block) for block in data.get("blocks", [])]
        return cls(**data)


def batch_of(resource: Resource, batch_id: str, department: str, **facts) -> Batch:
    """The facts of a new batch of `resource`, its rules in declaration order."""
    severity = {
        f"{spec.name}.{rule.name}": rule.severity for spec in resource.fields for rule in spec.rules
    }
    return Batch(
        resource.code,
        resource.name_zh,
        resource.name_en,
        batch_id,
        department,
        severity=severity,
        **facts,
    )


def block_page(folder: Path, batch: Batch, verdict: Verdict, resource: Resource) -> Block:
    """Render one block's validation to `folder/block-NNN.html`; the block joins `batch`."""
    result = verdict.report
    number = len(batch.blocks) + 1
    checks = [_check(resource, outcome) for outcome in result.results]
    warn = np.zeros(verdict.rows, dtype=bool)
    for rule in verdict.warn_only:
        warn |= verdict.failures.get(rule, warn)
    rejected = verdict.failed
    block = Block(
        number,
        f"block-{number:03d}.html",
        verdict.rows,
        int(rejected.sum()),
        int((warn & ~rejected).sum()),
        [check["rule"] for check in checks],
        {check["rule"]: check["unexpected"] for check in checks if check["unexpected"]},
        [check["rule"] for check in checks if not check["success"]],
    )
    for check in checks:
        check["severity"] = batch.severity.get(check["rule"], "reject")
    folder.mkdir(parents=True, exist_ok=True)
    text = docs_pages.render("block.html", batch=batch, block=block, checks=checks)
    docs_pages.write(folder / block.page, text)
    batch.blocks.append(block)
    return block


def batch_index(folder: Path, batch: Batch, resource: Resource) -> Path:
    """Write the batch's index page and its facts (`batch.json`) beside its block pages."""
    rules = []
    for rule in batch.checked:
        zh, en = _words(resource, rule)
        count = batch.unexpected(rule)
        rules.append(
            {
                "rule": rule,
                "zh": zh,
                "en": en,
                "severity": batch.severity.get(rule, "reject"),
                "success": rule not in batch.failed,
                "unexpected": count,
                "percent": _percent(count, batch.rows),
            }
        )
    whole = []
    for rule, count in batch.whole.items():
        zh, en = _words(resource, rule)
        whole.append({"rule": rule, "zh": zh, "en": en, "rows": count})
        whole[-1]["severity"] = batch.severity.get(rule, "reject")
    folder.mkdir(parents=True, exist_ok=True)
    docs_pages.write(folder / RECORD, batch.to_json())
    index = folder / "index.html"
    text = docs_pages.render("batch.html", batch=batch, rules=rules, whole=whole)
    docs_pages.write(index, text)
    return index


def _ordered(declared: dict[str, str], found: set[str]) -> list[str]:
    return [rule for rule in declared if rule in found] + sorted(found - set(declared))


def _check(resource: Resource, outcome) -> dict:
    """One expectation's outcome as the page shows it."""
    config = outcome.expectation_config
    kwargs = config.kwargs
    rule = (config.meta or {}).get("rule") or config.type
    columns = [kwargs[key] for key in ("column", "column_A", "column_B") if kwargs.get(key)]
    specs = [_spec(resource, name) for name in columns]
    info = outcome.result or {}
    rows = int(info.get("element_count") or 0)
    unexpected = int(info.get("unexpected_count") or 0)
    zh, en = _words(resource, rule)
    examples = [
        (_shown(item.get("value"), specs), int(item.get("count") or 0))
        for item in (info.get("partial_unexpected_counts") or [])[:EXAMPLES]
    ]
    return {
        "rule": rule,
        "zh": zh,
        "en": en,
        "columns": [
            (spec.label_zh if spec else name, name)
            for spec, name in zip(specs, columns, strict=True)
        ],
        "success": bool(outcome.success),
        "rows": rows,
        "unexpected": unexpected,
        "percent": _percent(unexpected, rows),
        "examples": examples,
        "error": _error(outcome),
    }


def _words(resource: Resource, rule: str) -> tuple[str, str]:
    if "." not in rule and rule not in ROW_RULES:  # no rule the hub knows (every one of the
        return rule, rule  # suite's expectations is a declared rule)
    return explain(resource, rule)


def _spec(resource: Resource, name: str) -> FieldSpec | None:
    try:
        return resource.field(name)
    except KeyError:
        return None


def _shown(value, specs: list[FieldSpec | None]) -> list[str | None]:
    """A value (or a pair's values) as the page may show it; None where it is empty."""
    values = list(value) if isinstance(value, tuple | list) and len(specs) > 1 else [value]
    return [_one(item, spec) for item, spec in zip(values, specs, strict=False)]


def _one(value, spec: FieldSpec | None) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if spec is not None and spec.sensitivity == "secret":
        return "（保密字段，不显示）secret, not shown"
    text = str(value)
    if spec is not None and spec.sensitivity == "sensitive":
        text = spec.mask.apply(text)
    return text if len(text) <= LONGEST else text[:LONGEST] + "…"


def _error(outcome) -> str | None:
    info = outcome.exception_info or {}
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info["raised_exception"] else None
    found = [str(v.get("exception_message")) for v in info.values() if v.get("raised_exception")]
    return "; ".join(found) or None


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0
