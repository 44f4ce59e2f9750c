"""A batch's unit of work in the warehouse: one object owns what a batch writes before it
commits — its staging table, the keys it delivered unchanged, its quarantine rows — and the
merge that ends it.

A batch asks it what is known of a block's rows (`sort`: delivered unchanged before, or judged
earlier today), gives it each block once judged (`add`), settles the repeated keys of the whole
delivery (`settle`) and merges (`merge`). Everything happens in the caller's transaction, on its
connection; only `sort` and `quarantined_before` read, and they read through `reader` (a second
connection on PostgreSQL, so that the next block is sorted while this one is written).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from warehouse import derived, ledger, quarantine, staging, unchanged
from warehouse.merge import Contribution, MergeCounts, merge
from warehouse.quarantine import Rejected
from warehouse.tables import ResourceTables

DUPLICATE_KEY_CONFLICT = "duplicate_key_conflict"
#: every batch of the same day started within a day (25 hours: a day of a clock change)
DAY_WINDOW = dt.timedelta(hours=25)


@dataclass(frozen=True)
class Sorting:
    """What the warehouse knows of a block's rows before they are judged; masks and positions
    over the block's rows."""

    raw_hashes: np.ndarray  # of each row as delivered (seeded: see unchanged.seed)
    day_hashes: np.ndarray  # the same, salted with today (verdicts compare dates with today)
    unchanged: np.ndarray  # delivered so before: not judged, only their keys kept
    again: np.ndarray  # positions of rows that broke rules earlier today: quarantined again
    again_rules: list[list[str]]  # the rules each of those broke
    known_good: np.ndarray  # judged earlier today and passed every rule: not judged again
    judged_before: bool  # some rows were judged earlier today (their rules count as checked)

    @property
    def to_judge(self) -> np.ndarray:
        """Positions of the rows the batch judges."""
        rest = ~self.unchanged
        rest[self.again] = False
        return np.flatnonzero(rest)


@dataclass(frozen=True)
class Block:
    """A judged block, as the warehouse takes it."""

    rejected: list[Rejected]
    passed: pa.Table | None  # normalised rows with `_line`, `_row_hash`, `_raw_hash`
    kept: pa.Table | None  # keys of the rows delivered unchanged, with `_line`, `_raw_hash`


@dataclass(frozen=True)
class Settled:
    """The delivery's repeated keys settled: identical repeats dropped, conflicting rows and
    rows outside the source's scope quarantined."""

    duplicate: int
    quarantined: int
    rejected: Counter[str] = field(default_factory=Counter)


def staged_rows(normal: pa.Table, lines: np.ndarray, raw_hashes: np.ndarray) -> pa.Table:
    """Normalised rows as staging takes them: with their line and both hashes."""
    extra = {
        "_line": pa.array(lines),
        "_row_hash": pa.array(unchanged.row_hashes(normal)),
        "_raw_hash": pa.array(raw_hashes),
    }
    for name, column in extra.items():
        normal = normal.append_column(name, column)
    return normal


def kept_rows(keys: pa.Array, lines: np.ndarray, raw_hashes: np.ndarray) -> pa.Table:
    """Keys of rows delivered unchanged, with their line and raw hash."""
    return pa.table({"key": keys, "_line": pa.array(lines), "_raw_hash": pa.array(raw_hashes)})


class BatchWork:
    """The warehouse side of one batch; see the module's docstring."""

    def __init__(
        self,
        conn: sa.Connection,
        tables: ResourceTables,
        batch_id: str,
        department: str,
        *,
        at: dt.datetime,
        day: dt.date,
        fresh: bool,
        code: bytes,
        reader: sa.Connection | None = None,
    ):
        """`fresh` False (a retry of quarantined rows): nothing is known of its rows, and it
        supersedes nothing. `code`: the digest of the code that judges rows (unchanged.seed)."""
        self.conn, self.tables, self.resource = conn, tables, tables.resource
        self.batch_id, self.department, self.at, self.day, self.fresh = (
            batch_id, department, at, day, fresh
        )  # fmt: skip
        self.since = at - DAY_WINDOW
        self.stg = staging.create(conn, self.resource)
        self.kept = staging.temporary(conn, unchanged.kept_table(self.resource))
        reader = reader or conn
        self._known = unchanged.Known(reader, tables, department, enabled=fresh, code=code)
        self._judged = unchanged.Judged(reader, tables, department, self.since, enabled=fresh)
        self._key_hashes: list[np.ndarray] = []  # of the staged rows, to find repeated keys
        self._key_lines: list[np.ndarray] = []
        self._kept_hashes: list[np.ndarray] = []

    # -- before a block is judged (the reader's side) --------------------------------------

    def sort(self, rows: pa.Table, keys: Callable[[], list]) -> Sorting:
        """What is known of `rows` (raw values by field); `keys()` gives their normalised keys,
        asked only when a small block looks its keys up."""
        raw = unchanged.row_hashes(rows, self._known.seed)
        same = unchanged.among(raw, self._known.hashes(rows.num_rows, keys))
        salted = unchanged.day_hashes(raw, self.day)
        # rows judged earlier today: quarantined again with their rules, or, when they were
        # only repeats of their key (identical or not), known to pass every rule
        candidates = np.flatnonzero(~same)
        found, rules = self._judged.look_up(salted[candidates])
        at = candidates[found]
        passing = np.array([r in ([], [DUPLICATE_KEY_CONFLICT]) for r in rules], dtype=bool)
        known_good = np.zeros(rows.num_rows, dtype=bool)
        known_good[at[passing]] = True
        again, again_rules = at[~passing], [r for r, p in zip(rules, passing, strict=True) if not p]
        return Sorting(raw, salted, same, again, again_rules, known_good, bool(len(at)))

    def quarantined_before(self, raw_hashes: np.ndarray) -> int:
        """How many of these rows, failing today, a batch of yesterday quarantined already
        (no new rejections: a source re-reading a window has not sent a broken extract)."""
        yesterday = unchanged.day_hashes(raw_hashes, self.day - dt.timedelta(days=1))
        _, rules = self._judged.look_up(yesterday)
        return sum(1 for broke in rules if broke not in ([], [DUPLICATE_KEY_CONFLICT]))

    # -- the writer's side -----------------------------------------------------------------

    def add(self, block: Block) -> None:
        """Store a judged block: its quarantine rows, staged rows and kept keys."""
        conn, key = self.conn, self.resource.key
        quarantine.add(conn, self.tables, self.batch_id, self.department, self.at, block.rejected)
        if block.passed is not None and block.passed.num_rows:
            staging.append(conn, self.stg, block.passed)
            self._key_hashes.append(staging.key_hashes(block.passed.column(key)))
            self._key_lines.append(block.passed.column("_line").to_numpy())
        if block.kept is not None and block.kept.num_rows:
            staging.append(conn, self.kept, block.kept.rename_columns([key, "_line", "_raw_hash"]))
            self._kept_hashes.append(block.kept.column("_raw_hash").to_numpy())

    def settle(self, columns: dict[str, str], scope: dict[str, frozenset[str]] | None) -> Settled:
        """Settle the repeated keys of the whole delivery and take out the rows of records
        outside the source's `scope`; `columns` maps the department's headers to fields (a
        quarantined staged row is shown under them)."""
        conn, tables, key = self.conn, self.tables, self.resource.key
        staging.analyze(conn, self.stg)
        # keys both kept and staged first: it must see every staged row of such a key
        fields = list(columns.values())
        clashes, repeats, dropped = unchanged.settle(
            conn, tables, self.stg, self.kept, self.department, fields
        )
        suspects = staging.repeated_lines(self._key_hashes, self._key_lines)
        conflicts, repeated = staging.duplicates(conn, self.stg, key, suspects)
        if self.fresh:  # so that the repeats sent again today are not validated again
            self._remember_passed(dropped + repeated)
        rejected: Counter[str] = Counter()
        rows: list[Rejected] = []
        for row, broke in staging.take_foreign(conn, tables, self.stg, scope) if scope else []:
            rejected.update(broke)
            rows.append(Rejected(row["_line"], row[key], broke, _as_delivered(row, columns)))
        conflicts = sorted(conflicts + clashes, key=lambda row: row["_line"])
        if conflicts:
            rejected[DUPLICATE_KEY_CONFLICT] = len(conflicts)
            rows += self._conflicting(conflicts, columns)
        quarantine.add(conn, tables, self.batch_id, self.department, self.at, rows)
        duplicate = len(repeated) + unchanged.repeats(self._kept_hashes) + repeats
        return Settled(duplicate, len(rows), rejected)

    def merge(self, contribution: Contribution, policy: dict) -> MergeCounts:
        """Merge the staged rows into the library (merge.TooManyWithdrawals when a full
        snapshot would withdraw too much), supersede the department's older quarantine rows
        of the keys delivered, and refresh the subjects whose records changed."""
        conn, tables, key = self.conn, self.tables, self.resource.key
        counts = merge(conn, tables, self.stg, contribution, policy, self.kept)
        if self.fresh:  # a retry re-delivers old rows: it supersedes nothing
            delivered = [sa.select(self.stg.c[key]), sa.select(self.kept.c[key])]
            quarantine.supersede(
                conn, tables, self.department, self.batch_id, delivered,
                contribution.full_snapshot,
            )  # fmt: skip
        self.discard()
        if self.resource.subject_status:
            subjects = derived.changed_subjects(tables, self.batch_id)
            derived.refresh_subjects(
                conn, tables, contribution.today, self.batch_id, self.at, subjects
            )
        return counts

    def discard(self) -> None:
        """Drop the batch's scratch tables (nothing to merge)."""
        staging.drop(self.conn, self.stg)
        staging.drop(self.conn, self.kept)

    def _remember_passed(self, raw_hashes: list[int | None]) -> None:
        passed = np.array([h for h in raw_hashes if h is not None], dtype=np.int64)
        unchanged.remember_passed(
            self.conn, self.resource.code, self.department, self.batch_id,
            unchanged.day_hashes(passed, self.day).tolist(), ledger.id_at(self.since),
        )  # fmt: skip

    def _conflicting(self, conflicts: list[dict], columns: dict[str, str]) -> list[Rejected]:
        """Rows of keys delivered with different values. Each staged one passed every rule
        today: kept with its day-salted hash, it is known to pass when it comes again today
        (whether it conflicts is the batch's). A kept row is the contribution as it stands:
        not judged today, so no hash."""
        raw = np.array([row.get("_raw_hash") or 0 for row in conflicts], dtype=np.int64)
        salted = unchanged.day_hashes(raw, self.day).tolist()
        key = self.resource.key
        return [
            Rejected(
                row["_line"],
                row[key],
                [DUPLICATE_KEY_CONFLICT],
                _as_delivered(row, columns),
                hashed if "_row_hash" in row and row.get("_raw_hash") is not None else None,
            )  # fmt: skip
            for row, hashed in zip(conflicts, salted, strict=True)
        ]


def _as_delivered(row: dict, columns: dict[str, str]) -> dict:
    """A staged row (normalised values) under the department's headers, as JSON holds it."""
    return {header: _plain(row.get(name)) for header, name in columns.items()}


def _plain(value: object) -> object:
    """A staged value as JSON holds it: dates as ISO text, decimals as their digits."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else value
