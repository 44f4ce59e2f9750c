"""One batch: a delivery read, normalised, validated, staged and merged in one transaction.

Quarantine rows, the merge, the source's new state and the ledger's final counts commit together
or not at all. The ledger records the batch as running before it starts and as failed (with the
reason) when it does not commit.
"""

from __future__ import annotations

import datetime as dt
import decimal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from catalog_schema import Catalog, CatalogError, Resource, Source, configured_catalog
from catalog_schema.authority import Authority, WriteRefused, authority, describe_writers
from catalog_schema.headers import HeaderError, HeaderMap, map_headers
from catalog_schema.survivorship import policy
from connectors import ConnectorError, RawBatch
from connectors.base import Delivery, Opener
from gdx.batch_docs import DataDocs
from gdx.errors import GdxError
from quality import dates
from quality import scope as source_scope
from quality.normalize import normalize_table
from quality.rules import bound_rules
from quality.runner import validate
from quality.suite import RuleError
from runtime import settings
from warehouse import derived, ledger, quarantine, running, staging, unchanged
from warehouse import engine as engines
from warehouse.ledger import BatchSummary
from warehouse.merge import Contribution, TooManyWithdrawals, merge
from warehouse.references import missing_references
from warehouse.tables import ResourceTables, for_resource

DUPLICATE_KEY_CONFLICT = "duplicate_key_conflict"
MALFORMED_ROW = "malformed_row"


def run_batch(
    open_delivery: Opener,
    resource_code: str,
    department: str,
    *,
    engine: sa.Engine | None = None,
    catalog: Catalog | None = None,
    source: str | None = None,
    location: str | None = None,
    before_commit: Callable[[sa.Connection, str], None] | None = None,
    judge_whole: bool = True,
    retry_of: str | None = None,
    force: bool = False,
) -> BatchSummary:
    """One delivery through read -> normalise -> validate -> stage -> merge, as one batch.

    A file identical (by checksum) to one this department already loaded into the resource is
    not read again: the batch is `skipped`, naming the earlier batch (`force` reads it anyway).
    `before_commit(conn, batch_id)` runs inside the batch's transaction, after the merge.
    `judge_whole=False` skips batch acceptance (max_reject_ratio), for re-validated rows.
    """
    catalog = catalog or configured_catalog()
    resource = catalog.resource(resource_code)
    catalog.department(department)
    engine = engine or engines.create()
    summary = BatchSummary(ledger.new_batch_id(), resource.code, department, source, location)
    summary.retry_of = retry_of
    docs = DataDocs.of(resource, summary)
    started = time.perf_counter()
    deadline: Deadline | None = None
    with running.held(engine, summary.batch_id):
        _start(engine, summary)
        try:
            running.reap(engine, resource.code, keep=summary.batch_id)
            allowed = authority(catalog, resource.code, department, source)
            deadline = Deadline.of(allowed.source, started)
            delivery = open_delivery()
            summary.file, summary.encoding = delivery.location, delivery.encoding
            headers = map_headers(resource, delivery.header, allowed.mapping, list(allowed.fields))
            summary.withheld_columns = headers.withheld
            _check_authority(catalog, delivery.location, allowed, headers)
            if delivery.header or not delivery.empty_ok:
                _check_columns(delivery.location, resource, headers, allowed.source is not None)
            summary.unknown_columns, summary.missing_columns = headers.unknown, headers.missing
            checksum = delivery.checksum()
            tables = for_resource(resource)
            if checksum and retry_of is None and not force:
                with engine.connect() as conn:
                    summary.same_as = ledger.loaded_file(conn, resource.code, department, checksum)
                if summary.same_as:  # a re-sent file: nothing to read, nothing changes
                    summary.status = "skipped"
                    summary.seconds = round(time.perf_counter() - started, 3)
                    with engines.writing(engine) as conn:
                        ledger.finish(conn, summary, checksum)
                    return summary
            snapshot = catalog.sources[source] if source and retry_of is None else None
            deadline.check(delivery.location)
            with engines.writing(engine, lock=resource.code) as conn:
                deadline.bound_statements(conn)
                _run(
                    conn,
                    catalog,
                    tables,
                    delivery,
                    headers,
                    summary,
                    judge_whole,
                    docs,
                    snapshot,
                    deadline,
                    allowed,
                )
                deadline.check(delivery.location)
                docs.finish(summary)
                if before_commit:
                    before_commit(conn, summary.batch_id)
                summary.status = "loaded"
                summary.seconds = round(time.perf_counter() - started, 3)
                ledger.finish(conn, summary, checksum)
        except WriteRefused as exc:
            summary.status, summary.error = "refused", str(exc)
            summary.seconds = round(time.perf_counter() - started, 3)
            with engines.writing(engine) as conn:
                ledger.finish(conn, summary)
            raise GdxError(summary.error) from None
        except BatchRejected as exc:
            docs.finish(summary, "rejected")
            summary.status, summary.error = "rejected", str(exc)
            summary.rows_loaded = summary.rows_inserted = summary.rows_updated = 0
            summary.rows_withdrawn = summary.records_changed = summary.conflicts = 0
            summary.seconds = round(time.perf_counter() - started, 3)
            with engines.writing(engine) as conn:
                ledger.finish(conn, summary)
            raise
        except Exception as exc:
            docs.finish(summary, "failed")
            if deadline is not None and deadline.ended_by(exc):
                exc = GdxError(deadline.message(summary.file or location or resource.code))
            _failed(engine, summary, exc, started)
            if isinstance(exc, KNOWN_ERRORS):
                raise GdxError(summary.error) from None
            raise
        except BaseException:  # Ctrl-C, SIGTERM (SystemExit), a task Airflow stopped
            docs.finish(summary, "interrupted")
            _failed(engine, summary, running.INTERRUPTED, started)
            raise
    return summary


@dataclass(frozen=True)
class Deadline:
    """The time a batch may take (its source's time_limit_seconds, else the setting), checked
    between blocks and, on PostgreSQL, held by statement_timeout inside the batch's
    transaction: a load that cannot finish fails cleanly instead of holding its library."""

    seconds: int
    declared_by: str
    ends: float  # on the perf_counter clock

    @classmethod
    def of(cls, source: Source | None, started: float) -> Deadline:
        if source is not None:
            limit, by = source.time_limit_seconds, f"time_limit_seconds of {source.code}"
        else:
            setting = "GDX_BATCH_TIME_LIMIT_SECONDS"
            limit, by = settings.positive(setting), setting
        return cls(limit, by, started + limit)

    def message(self, location: str) -> str:
        return (
            f"{location}: the batch ran over its time limit of {self.seconds} s "
            f"({self.declared_by}); nothing of it was merged"
        )

    def check(self, location: str, conn: sa.Connection | None = None) -> None:
        """Fail past the deadline; with `conn`, bound the statements to come by the time left."""
        if time.perf_counter() > self.ends:
            raise GdxError(self.message(location))
        if conn is not None:
            self.bound_statements(conn)

    def ended_by(self, exc: Exception) -> bool:
        """PostgreSQL ended a statement, or the idle transaction's session, on this deadline
        (a session it ends reads as a lost connection)."""
        if not isinstance(exc, sa.exc.DBAPIError):
            return False
        text = str(exc.orig or "")
        timeouts = ("statement timeout", "idle-in-transaction timeout")
        return any(t in text for t in timeouts) or time.perf_counter() > self.ends

    def bound_statements(self, conn: sa.Connection) -> None:
        """No statement of the batch's transaction runs past the deadline, nor does the
        transaction sit idle past it (a delivery stalled in a read): PostgreSQL cancels the
        statement, or ends the session and with it the library's lock. Set again before each
        block, so that each statement gets only the time left."""
        if engines.is_postgres(conn):
            left = max(1, int((self.ends - time.perf_counter()) * 1000))
            conn.execute(sa.text(f"SET LOCAL statement_timeout = {left}"))
            conn.execute(sa.text(f"SET LOCAL idle_in_transaction_session_timeout = {left}"))


class BatchRejected(GdxError):
    """Too many rows of a batch broke the rules: the delivery is broken, nothing is merged."""


KNOWN_ERRORS = (
    ConnectorError,
    HeaderError,
    CatalogError,
    RuleError,
    GdxError,
    sa.exc.DBAPIError,
)


def _failed(engine: sa.Engine, summary: BatchSummary, exc: Exception | str, started: float) -> None:
    """Record the failure; nothing of the batch committed, so it counts nothing but the read."""
    summary.status = "failed"
    summary.error = exc if isinstance(exc, str) else _describe(exc)
    summary.rows_loaded = summary.rows_inserted = summary.rows_updated = 0
    summary.rows_unchanged = summary.rows_duplicate = summary.rows_quarantined = 0
    summary.rows_withdrawn = summary.records_changed = summary.conflicts = 0
    summary.rejected_by_rule, summary.warned_by_rule = {}, {}
    summary.seconds = round(time.perf_counter() - started, 3)
    with engines.writing(engine) as conn:
        ledger.finish(conn, summary, if_running=True)


def _start(engine: sa.Engine, summary: BatchSummary) -> None:
    try:
        ledger.start(engine, summary, summary.file)
    except sa.exc.DBAPIError as exc:
        reason = first_line(exc.orig or exc)
        if "batch_ledger" in reason:  # no such table / relation does not exist
            raise GdxError(f"warehouse not initialised ({reason}); run `gdx init`") from None
        raise GdxError(f"cannot reach the warehouse {engines.describe(engine)}: {reason}") from None


def _check_authority(
    catalog: Catalog, location: str, allowed: Authority, headers: HeaderMap
) -> None:
    """A delivery whose columns are all fields its department may not write (beyond the key)
    is refused whole; otherwise those columns are withheld (not read) and reported."""
    resource = allowed.resource
    if not headers.withheld or any(f != resource.key for f in headers.columns.values()):
        return
    named = "; ".join(
        f"{header} ({name}) is written by {describe_writers(catalog, resource, name)}"
        for header, name in headers.withheld.items()
    )
    raise WriteRefused(
        f"{location}: {allowed.department} may write none of its columns into {resource.code} "
        f"but the key: {named}"
    )


def _check_columns(
    path: Path | str, resource: Resource, headers: HeaderMap, registered: bool
) -> None:
    """The key is always needed; a registered source must also bring its required fields."""
    for name in headers.missing:
        spec = resource.field(name)
        if name == resource.key or (registered and spec.required):
            raise GdxError(
                f"{path}: required column for field {name} ({spec.label_zh}) not found; "
                f"accepted headers: {', '.join(spec.headers())}"
            )


def _run(
    conn: sa.Connection,
    catalog: Catalog,
    tables: ResourceTables,
    delivery: Delivery,
    headers: HeaderMap,
    summary: BatchSummary,
    judge_whole: bool = True,
    docs: DataDocs | None = None,
    source: Source | None = None,
    deadline: Deadline | None = None,
    allowed: Authority | None = None,
) -> None:
    """Read, validate, stage and merge. A registered full-snapshot `source` withdraws the keys
    its delivery no longer holds. Past the `deadline` the batch fails between blocks."""
    resource = tables.resource
    at = ledger.now()
    stg = staging.create(conn, resource)
    kept = staging.temporary(conn, unchanged.kept_table(resource))
    # a retry re-validates quarantined rows: none of them is a contribution yet, and their
    # earlier verdicts are what it questions
    fresh = summary.retry_of is None
    same = unchanged.Known(conn, tables, summary.department, enabled=fresh)
    day = dates.today()  # before any row is validated: verdicts are salted with this day
    # every batch of the same day started within a day (25 hours: a day of a clock change)
    since = at - dt.timedelta(hours=25)
    judged = unchanged.Judged(conn, tables, summary.department, since, enabled=fresh)
    kept_hashes: list[np.ndarray] = []
    key_hashes: list[np.ndarray] = []  # of the staged rows, to find repeated keys
    key_lines: list[np.ndarray] = []
    rejected: dict[str, int] = {}
    warned: dict[str, int] = summary.warned_by_rule
    checked: dict[str, None] = {}  # rule ids in order
    seen = Seen(same, judged, day)
    scope = allowed.scope if allowed is not None else {}
    for batch in delivery.batches():
        if deadline is not None:
            deadline.check(delivery.location, conn)
        summary.rows_read += batch.table.num_rows + len(batch.malformed)
        rows, passed, keys = _validate_batch(
            resource, batch, headers, rejected, warned, checked, docs, seen, scope
        )
        summary.rows_quarantined_again = seen.again
        summary.rules_checked = list(checked)
        summary.rows_validated += batch.table.num_rows + len(batch.malformed)
        summary.rows_validated -= keys.num_rows if keys is not None else 0
        quarantine.add(conn, tables, summary.batch_id, summary.department, at, rows)
        summary.rows_quarantined += len(rows)
        staging.append(conn, stg, passed)
        if passed is not None:
            key_hashes.append(staging.key_hashes(passed.column(resource.key)))
            key_lines.append(passed.column("_line").to_numpy())
        staging.append(conn, kept, keys)
        if keys is not None:
            kept_hashes.append(keys.column("_raw_hash").to_numpy())
    if summary.rows_read == 0:
        if not delivery.empty_ok:
            raise GdxError(f"{delivery.location}: no data rows (header only)")
        staging.drop(conn, stg)
        staging.drop(conn, kept)
        return  # nothing new: an incremental read that found no rows

    if deadline is not None:  # what is left is set-based SQL: each statement by the time left
        deadline.check(delivery.location, conn)
    staging.analyze(conn, stg)
    # keys both kept and staged first: it must see every staged row of such a key
    clashes, repeats, dropped = unchanged.settle(
        conn, tables, stg, kept, summary.department, headers.fields
    )
    suspects = staging.repeated_lines(key_hashes, key_lines)
    conflicts, repeated = staging.duplicates(conn, stg, resource.key, suspects)
    summary.rows_duplicate = len(repeated)
    if fresh:  # so that the repeats sent again today are not validated again
        passed = np.array([h for h in dropped + repeated if h is not None], dtype=np.int64)
        unchanged.remember_passed(
            conn,
            resource.code,
            summary.department,
            summary.batch_id,
            unchanged.day_hashes(passed, day).tolist(),
            ledger.id_at(since),
        )
    conflicts = sorted(conflicts + clashes, key=lambda row: row["_line"])
    if scope:  # rows for records of another source's scope
        foreign = staging.take_foreign(conn, tables, stg, scope)
        for _, broke in foreign:
            for rule in broke:
                rejected[rule] = rejected.get(rule, 0) + 1
        rows = [
            (row["_line"], row[resource.key], broke, _staged_raw(row, headers), None)
            for row, broke in foreign
        ]
        quarantine.add(conn, tables, summary.batch_id, summary.department, at, rows)
        summary.rows_quarantined += len(rows)
    summary.rows_duplicate += unchanged.repeats(kept_hashes) + repeats
    if conflicts:
        rejected[DUPLICATE_KEY_CONFLICT] = len(conflicts)
        # each staged row of these passed every rule today: kept with its day-salted hash, it
        # is known to pass when it comes again today (whether it conflicts is the batch's)
        salted = unchanged.day_hashes(
            np.array([row.get("_raw_hash") or 0 for row in conflicts], dtype=np.int64), day
        ).tolist()
        rows = [
            (
                row["_line"],
                row[resource.key],
                [DUPLICATE_KEY_CONFLICT],
                _staged_raw(row, headers),
                # a kept row is the contribution as it stands: not judged today
                hashed if "_row_hash" in row and row.get("_raw_hash") is not None else None,
            )
            for row, hashed in zip(conflicts, salted, strict=True)
        ]
        quarantine.add(conn, tables, summary.batch_id, summary.department, at, rows)
        summary.rows_quarantined += len(rows)

    summary.rejected_by_rule = dict(sorted(rejected.items()))
    if judge_whole:
        _accept(resource, summary, delivery.location)
    summary.warned_by_rule |= missing_references(conn, catalog, resource, stg, headers.fields)
    contribution = Contribution(
        summary.batch_id,
        summary.department,
        summary.source,
        headers.fields,
        at,
        full_snapshot=bool(source and source.full_snapshot),
        max_withdraw_ratio=source.max_withdraw_ratio if source else 1.0,
        today=dates.today(),
    )
    if deadline is not None:
        deadline.check(delivery.location, conn)
    try:
        counts = merge(conn, tables, stg, contribution, policy(catalog, resource), kept)
    except TooManyWithdrawals as exc:
        raise BatchRejected(f"{delivery.location}: {exc}") from None
    if summary.retry_of is None:  # a retry re-delivers old rows: it supersedes nothing
        quarantine.supersede(
            conn,
            tables,
            summary.department,
            summary.batch_id,
            [sa.select(stg.c[resource.key]), sa.select(kept.c[resource.key])],
            contribution.full_snapshot,
        )
    staging.drop(conn, stg)
    staging.drop(conn, kept)
    if resource.subject_status:
        subjects = derived.changed_subjects(tables, summary.batch_id)
        derived.refresh_subjects(conn, tables, dates.today(), summary.batch_id, at, subjects)
    summary.rows_inserted, summary.rows_updated = counts.inserted, counts.updated
    summary.rows_withdrawn, summary.withdrawal_held = counts.withdrawn, counts.withdrawal_held
    summary.records_changed, summary.conflicts = counts.records_changed, counts.conflicts
    summary.rows_loaded = counts.inserted + counts.updated
    summary.rows_unchanged = (
        summary.rows_read - summary.rows_loaded - summary.rows_duplicate - summary.rows_quarantined
    )
    summary.rejected_by_rule = dict(sorted(rejected.items()))


def _accept(resource: Resource, summary: BatchSummary, location: str) -> None:
    """Reject the batch whole when more than the resource's max_reject_ratio of it, and more
    than its reject_floor rows, are new rejections (DataX's errorLimit: a ratio and a count).

    Rows the department had sent before and that were quarantined already (a look-back window
    read again) are quarantined again but are no new rejections: a source re-reading them every
    hour has not sent a broken extract every hour.
    """
    new = summary.rows_quarantined - summary.rows_quarantined_again
    ratio = new / summary.rows_read
    if ratio <= resource.max_reject_ratio or new <= resource.reject_floor:
        return
    top = sorted(summary.rejected_by_rule.items(), key=lambda item: -item[1])[:3]
    rules = ", ".join(f"{rule} {count}" for rule, count in top)
    summary.rows_unchanged = 0
    raise BatchRejected(
        f"{location}: batch rejected, {ratio:.0%} of {summary.rows_read} rows broke the rules "
        f"(at most {resource.max_reject_ratio:.0%}, or {resource.reject_floor} rows, accepted "
        f"for {resource.code}); top rules: {rules}; nothing was merged"
    )


@dataclass
class Seen:
    """What a batch knows of rows it may have had before: the department's contributions
    (unchanged rows skip validation) and the last day's verdicts (today's rows quarantined
    again with their rules; yesterday's judged again, as dates may compare otherwise today).
    `again` counts the rows quarantined once more that were quarantined before."""

    contributions: unchanged.Known
    quarantined: unchanged.Judged
    day: dt.date
    again: int = 0

    def quarantined_before(self, raw_hashes: np.ndarray) -> int:
        """How many of these rows, failing today, a batch of yesterday quarantined already."""
        yesterday = unchanged.day_hashes(raw_hashes, self.day - dt.timedelta(days=1))
        _, rules = self.quarantined.look_up(yesterday)
        return sum(1 for broke in rules if broke not in ([], [DUPLICATE_KEY_CONFLICT]))


def _validate_batch(
    resource: Resource,
    batch: RawBatch,
    headers: HeaderMap,
    rejected: dict[str, int],
    warned: dict[str, int],
    checked: dict[str, None],
    docs: DataDocs | None = None,
    seen: Seen | None = None,
    scope: dict[str, frozenset[str]] | None = None,
) -> tuple[list[tuple], pa.Table | None, pa.Table | None]:
    """Quarantine rows (line, key, rules, raw, day-salted hash), the normalised rows that
    passed and the keys (and lines) of the rows delivered unchanged, which are not validated
    again. Rows quarantined earlier the same day are quarantined again with their rules."""
    mapped = pa.table(
        {field: batch.table.column(header) for header, field in headers.columns.items()}
    )
    raw_table, lines = batch.table, batch.lines.to_numpy()
    raw_hashes = unchanged.row_hashes(mapped, seen.contributions.seed if seen else 0)
    keys = None
    rows = [
        (bad.line, None, [MALFORMED_ROW], {"_text": bad.text, "_reason": bad.reason}, None)
        for bad in batch.malformed
    ]
    if batch.malformed:
        rejected[MALFORMED_ROW] = rejected.get(MALFORMED_ROW, 0) + len(batch.malformed)

    def keep(kept: np.ndarray) -> None:  # only the rows `kept` go on
        nonlocal mapped, raw_table, lines, raw_hashes
        mask = pa.array(kept)
        mapped, raw_table = mapped.filter(mask), raw_table.filter(mask)
        lines, raw_hashes = lines[kept], raw_hashes[kept]

    def key_of(table: pa.Table) -> pa.Table:
        return normalize_table(resource, table.select([resource.key]))

    def block_keys() -> list:
        return key_of(mapped).column(0).to_pylist()

    known_good = np.zeros(mapped.num_rows, dtype=bool)  # rows that passed every rule today
    if seen is not None:
        skip = unchanged.among(raw_hashes, seen.contributions.hashes(mapped.num_rows, block_keys))
        if skip.any():
            keys = key_of(mapped.filter(pa.array(skip)))
            keys = keys.append_column("_line", pa.array(lines[skip]))
            keys = keys.append_column("_raw_hash", pa.array(raw_hashes[skip]))
            keep(~skip)
        known_good = np.zeros(mapped.num_rows, dtype=bool)
        # rows judged earlier today: quarantined again with their rules, or, when they were
        # only repeats of their key (identical or not), known to pass every rule
        salted = unchanged.day_hashes(raw_hashes, seen.day)
        found, rules = seen.quarantined.look_up(salted)
        at = np.flatnonzero(found)
        passing = np.array([r in ([], [DUPLICATE_KEY_CONFLICT]) for r in rules], dtype=bool)
        again, again_rules = at[~passing], [r for r, p in zip(rules, passing, strict=True) if not p]
        if len(at):
            checked.update(_rule_ids(resource, mapped.column_names))
        if len(again):
            seen.again += len(again)
            again_keys = key_of(mapped.take(pa.array(again))).column(0).to_pylist()
            raws = raw_table.take(pa.array(again)).to_pylist()
            salts = salted[again].tolist()
            rows += zip(lines[again].tolist(), again_keys, again_rules, raws, salts, strict=True)
            for failed in again_rules:
                for rule in failed:
                    rejected[rule] = rejected.get(rule, 0) + 1
        known_good[at[passing]] = True
        if len(again):
            going_on = np.ones(mapped.num_rows, dtype=bool)
            going_on[again] = False
            keep(going_on)
            known_good = known_good[going_on]
    if mapped.num_rows == 0:
        return rows, None, keys
    normal = normalize_table(resource, mapped)
    failed = np.zeros(mapped.num_rows, dtype=bool)
    unknown = np.flatnonzero(~known_good)
    positions, failed_rules = unknown[:0], []
    if len(unknown):
        judging = normal if len(unknown) == normal.num_rows else normal.take(pa.array(unknown))
        verdict = validate(resource, judging)
        for rule, count in verdict.counts().items():
            rejected[rule] = rejected.get(rule, 0) + count
        for rule, count in verdict.warnings().items():
            warned[rule] = warned.get(rule, 0) + count
        checked.update(verdict.failures)
        if docs is not None:
            docs.add(verdict)
        bad = np.flatnonzero(verdict.failed)
        positions, failed_rules = unknown[bad], verdict.rules_of(bad)
        failed[positions] = True
        if seen is not None and len(positions):
            seen.again += seen.quarantined_before(raw_hashes[positions])
    if scope:  # rows that pass every rule but are not the source's to write
        found = source_scope.outside(normal, scope)
        foreign = np.flatnonzero(np.logical_or.reduce(list(found.values())) & ~failed)
        if len(foreign):
            checked.update(dict.fromkeys(found))
            foreign_rules = source_scope.rules_of(found, foreign)
            for broke in foreign_rules:
                for rule in broke:
                    rejected[rule] = rejected.get(rule, 0) + 1
            positions = np.concatenate([positions, foreign])
            failed_rules = [*failed_rules, *foreign_rules]
            failed[foreign] = True
    failed_keys = normal.column(resource.key).take(pa.array(positions)).to_pylist()
    raws = raw_table.take(pa.array(positions)).to_pylist()
    salted = unchanged.day_hashes(raw_hashes[positions], seen.day) if seen else None
    rows += zip(
        lines[positions].tolist(),
        failed_keys,
        failed_rules,
        raws,
        salted.tolist() if salted is not None else [None] * len(positions),
        strict=True,
    )
    passed = normal.filter(pa.array(~failed))
    extra = {
        "_line": pa.array(lines[~failed]),
        "_row_hash": pa.array(unchanged.row_hashes(passed)),
        "_raw_hash": pa.array(raw_hashes[~failed]),
    }
    for name, column in extra.items():
        passed = passed.append_column(name, column)
    return rows, passed, keys


def _rule_ids(resource: Resource, columns: list[str]) -> dict[str, None]:
    """The rules a block with these columns is judged by, in declaration order."""
    return dict.fromkeys(rule.rule_id for rule in bound_rules(resource, columns))


def _staged_raw(row: dict, headers: HeaderMap) -> dict:
    """A conflicting row as staged (normalised values), under the department's headers."""
    return {header: _plain(row.get(field)) for header, field in headers.columns.items()}


def _plain(value: object) -> object:
    """A staged value as JSON holds it: dates as ISO text, decimals as their digits."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _describe(exc: Exception) -> str:
    if isinstance(exc, sa.exc.DBAPIError):
        return f"database error: {first_line(exc.orig or exc)}"
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
