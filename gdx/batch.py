"""One batch: a delivery read, normalised, validated, staged and merged in one transaction.

Quarantine rows, the merge, the source's new state and the ledger's final counts commit together
or not at all. The ledger records the batch as running before it starts and as failed (with the
reason) when it does not commit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from gdx.ahead import ahead
from gdx.batch_docs import DataDocs
from gdx.errors import GdxError
from quality import dates
from quality.judge import RuleCounts, code_digest, judge, normal_keys, rule_ids
from quality.runner import warm
from quality.suite import RuleError
from runtime import settings
from warehouse import engine as engines
from warehouse import ledger, running
from warehouse.batch_work import BatchWork, Block, Settled, Sorting, kept_rows, staged_rows
from warehouse.ledger import BatchSummary
from warehouse.merge import Contribution, MergeCounts, TooManyWithdrawals
from warehouse.quarantine import Rejected
from warehouse.references import missing_references
from warehouse.tables import ResourceTables, for_resource

MALFORMED_ROW = "malformed_row"


@dataclass(frozen=True)
class BatchRequest:
    """What a batch is asked to do.

    `source`: the registered source delivering (None: an ad-hoc delivery of the department).
    `before_commit(conn, batch_id)` runs inside the batch's transaction, after the merge.
    `judge_whole=False` skips batch acceptance (max_reject_ratio), for re-validated rows.
    `retry_of`: the batch whose quarantined rows these are. `force`: read a file identical (by
    checksum) to one the department already loaded into the resource, which is otherwise
    `skipped`, naming the earlier batch.
    """

    resource: str
    department: str
    source: str | None = None
    location: str | None = None
    before_commit: Callable[[sa.Connection, str], None] | None = None
    judge_whole: bool = True
    retry_of: str | None = None
    force: bool = False


def run_batch(
    open_delivery: Opener,
    request: BatchRequest,
    *,
    engine: sa.Engine | None = None,
    catalog: Catalog | None = None,
) -> BatchSummary:
    """One delivery through read -> judge -> stage -> merge, as one all-or-nothing batch."""
    warm()  # Great Expectations' import and context, while the delivery is opened and read
    catalog = catalog or configured_catalog()
    resource = catalog.resource(request.resource)
    catalog.department(request.department)
    batch = _Batch(engine or engines.create(), catalog, resource, request)
    with running.held(batch.engine, batch.summary.batch_id):
        _start(batch.engine, batch.summary)
        try:
            batch.run(open_delivery)
        except WriteRefused as exc:
            batch.end("refused", str(exc))
            raise GdxError(str(exc)) from None
        except BatchRejected as exc:
            batch.end("rejected", str(exc))
            raise
        except Exception as exc:
            batch.failed(exc)
            if isinstance(exc, KNOWN_ERRORS):
                raise GdxError(batch.summary.error) from None
            raise
        except BaseException:  # Ctrl-C, SIGTERM (SystemExit), a task Airflow stopped
            batch.docs.finish(batch.summary, "interrupted")
            _failed(batch.engine, batch.summary, running.INTERRUPTED, batch.started)
            raise
    return batch.summary


class _Batch:
    """One batch under way: its request, summary, Data Docs, clock and deadline."""

    def __init__(self, engine: sa.Engine, catalog: Catalog, resource: Resource, request):
        self.engine, self.catalog, self.resource, self.request = engine, catalog, resource, request
        self.summary = BatchSummary(
            ledger.new_batch_id(), resource.code, request.department, request.source,
            request.location,
        )  # fmt: skip
        self.summary.retry_of = request.retry_of
        self.docs = DataDocs.of(resource, self.summary)
        self.started = time.perf_counter()
        self.deadline: Deadline | None = None

    def run(self, open_delivery: Opener) -> None:
        """Open the delivery, check its columns and rights, skip it if already loaded, else
        load it in the resource's writing transaction."""
        request, resource, summary = self.request, self.resource, self.summary
        running.reap(self.engine, resource.code, keep=summary.batch_id)
        allowed = authority(self.catalog, resource.code, request.department, request.source)
        self.deadline = Deadline.of(allowed.source, self.started)
        delivery = open_delivery()
        summary.file, summary.encoding = delivery.location, delivery.encoding
        headers = map_headers(resource, delivery.header, allowed.mapping, list(allowed.fields))
        summary.withheld_columns = headers.withheld
        _check_authority(self.catalog, delivery.location, allowed, headers)
        if delivery.header or not delivery.empty_ok:
            _check_columns(delivery.location, resource, headers, allowed.source is not None)
        summary.unknown_columns, summary.missing_columns = headers.unknown, headers.missing
        checksum = delivery.checksum()
        if checksum and request.retry_of is None and not request.force:
            if self._skipped(checksum):
                return
        self.deadline.check(delivery.location)
        self._load(delivery, Plan(resource, headers, allowed.scope, self.docs), checksum)

    def _skipped(self, checksum: str) -> bool:
        """A re-sent file: nothing to read, nothing changes; the batch names the earlier one."""
        summary = self.summary
        with self.engine.connect() as conn:
            summary.same_as = ledger.loaded_file(
                conn, summary.resource, summary.department, checksum
            )
        if summary.same_as:
            self.end("skipped", None, checksum)
        return bool(summary.same_as)

    def _load(self, delivery: Delivery, plan: Plan, checksum: str | None) -> None:
        request, summary, deadline = self.request, self.summary, self.deadline
        registered = request.source and request.retry_of is None  # a retry is no delivery
        source = self.catalog.sources[request.source] if registered else None
        with engines.writing(self.engine, lock=self.resource.code) as conn:
            deadline.bound_statements(conn)
            _run(
                conn, self.engine, self.catalog, for_resource(self.resource), delivery, plan,
                summary, request.judge_whole, source, deadline,
            )  # fmt: skip
            deadline.check(delivery.location)
            self.docs.finish(summary)
            if request.before_commit:
                request.before_commit(conn, summary.batch_id)
            summary.status = "loaded"
            summary.seconds = round(time.perf_counter() - self.started, 3)
            ledger.finish(conn, summary, checksum)

    def end(self, status: str, error: str | None, checksum: str | None = None) -> None:
        """Record a batch that merged nothing: refused, rejected whole, or skipped."""
        summary = self.summary
        if status == "rejected":
            self.docs.finish(summary, "rejected")
            summary.rows_loaded = summary.rows_inserted = summary.rows_updated = 0
            summary.rows_withdrawn = summary.records_changed = summary.conflicts = 0
        summary.status, summary.error = status, error
        summary.seconds = round(time.perf_counter() - self.started, 3)
        with engines.writing(self.engine) as conn:
            ledger.finish(conn, summary, checksum)

    def failed(self, exc: Exception) -> None:
        """Record a batch that failed (past its deadline, say so)."""
        self.docs.finish(self.summary, "failed")
        if self.deadline is not None and self.deadline.ended_by(exc):
            where = self.summary.file or self.request.location or self.resource.code
            exc = GdxError(self.deadline.message(where))
        _failed(self.engine, self.summary, exc, self.started)


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


@dataclass
class Tally:
    """What the blocks of a batch counted, added up as they are stored."""

    read: int = 0
    validated: int = 0  # read minus the rows delivered unchanged (not judged again)
    quarantined: int = 0
    again: int = 0  # of those, rows the hub had quarantined already (no new rejections)
    rules: RuleCounts = field(default_factory=RuleCounts)

    def add(self, other: Tally) -> None:
        self.read += other.read
        self.validated += other.validated
        self.quarantined += other.quarantined
        self.again += other.again
        self.rules.add(other.rules)


@dataclass(frozen=True)
class Plan:
    """What every block of one batch is judged with."""

    resource: Resource
    headers: HeaderMap
    scope: dict[str, frozenset[str]]
    docs: DataDocs | None


def _run(
    conn: sa.Connection,
    engine: sa.Engine,
    catalog: Catalog,
    tables: ResourceTables,
    delivery: Delivery,
    plan: Plan,
    summary: BatchSummary,
    judge_whole: bool = True,
    source: Source | None = None,
    deadline: Deadline | None = None,
) -> None:
    """Read and judge the blocks (a thread ahead, on PostgreSQL), store them, settle the
    repeated keys, accept the batch, merge. A registered full-snapshot `source` withdraws the
    keys its delivery no longer holds. Past the `deadline` the batch fails between blocks."""
    with _reader(engine, conn) as reader:
        work = BatchWork(
            conn, tables, summary.batch_id, summary.department, at=ledger.now(),
            day=dates.today(),  # before any row is judged: verdicts are salted with this day
            fresh=summary.retry_of is None, code=code_digest(), reader=reader,
        )  # fmt: skip
        tally = _store_blocks(conn, work, delivery, plan, summary, deadline, reader is not conn)
    if tally.read == 0:
        if not delivery.empty_ok:
            raise GdxError(f"{delivery.location}: no data rows (header only)")
        work.discard()
        return  # nothing new: an incremental read that found no rows
    if deadline is not None:  # what is left is set-based SQL: each statement by the time left
        deadline.check(delivery.location, conn)
    settled = work.settle(plan.headers.columns, plan.scope)
    _judged(summary, tally, settled)
    if judge_whole:
        _accept(tables.resource, summary, delivery.location)
    summary.warned_by_rule |= missing_references(
        conn, catalog, tables.resource, work.stg, plan.headers.fields
    )
    contribution = Contribution(
        summary.batch_id, summary.department, summary.source, plan.headers.fields, work.at,
        full_snapshot=bool(source and source.full_snapshot),
        max_withdraw_ratio=source.max_withdraw_ratio if source else 1.0, today=dates.today(),
    )  # fmt: skip
    if deadline is not None:
        deadline.check(delivery.location, conn)
    try:
        counts = work.merge(contribution, policy(catalog, tables.resource))
    except TooManyWithdrawals as exc:
        raise BatchRejected(f"{delivery.location}: {exc}") from None
    _merged(summary, counts)


def _reader(engine: sa.Engine, conn: sa.Connection) -> contextlib.AbstractContextManager:
    """The connection a batch reads what it knows of rows through: a second one on
    PostgreSQL, so that blocks are judged in a thread while the batch's connection writes;
    SQLite's one writer judges and writes in turn, on its own connection."""
    if engines.is_postgres(conn):
        return engine.connect()
    return contextlib.nullcontext(conn)


def _store_blocks(
    conn: sa.Connection,
    work: BatchWork,
    delivery: Delivery,
    plan: Plan,
    summary: BatchSummary,
    deadline: Deadline | None,
    threaded: bool,
) -> Tally:
    """Every block of the delivery judged and stored; the rows read are on the summary as
    they are (a failed batch still says how far it read)."""
    tally = Tally()

    def judged() -> Iterator[tuple[Block, Tally]]:
        for batch in delivery.batches():
            yield judge_block(plan, work, batch)

    blocks = ahead(judged) if threaded else judged()
    with contextlib.closing(blocks):
        for block, counted in blocks:
            if deadline is not None:
                deadline.check(delivery.location, conn)
            work.add(block)
            tally.add(counted)
            summary.rows_read, summary.rows_validated = tally.read, tally.validated
    return tally


def judge_block(plan: Plan, work: BatchWork, batch: RawBatch) -> tuple[Block, Tally]:
    """One block read: rows delivered unchanged only keep their key, rows quarantined earlier
    today are quarantined again with their rules, the rest are judged (quality.judge)."""
    resource = plan.resource
    rows = pa.table(
        {field: batch.table.column(header) for header, field in plan.headers.columns.items()}
    )
    lines = batch.lines.to_numpy()
    sorting = work.sort(rows, lambda: normal_keys(resource, rows).to_pylist())
    tally = Tally(read=rows.num_rows + len(batch.malformed))
    tally.validated = tally.read - int(sorting.unchanged.sum())
    rejected = _malformed(batch, tally)
    kept = None
    if sorting.unchanged.any():
        same = sorting.unchanged
        keys = normal_keys(resource, rows.filter(pa.array(same)))
        kept = kept_rows(keys, lines[same], sorting.raw_hashes[same])
    if sorting.judged_before:
        tally.rules.checked.update(rule_ids(resource, rows.column_names))
    again = sorting.again
    if len(again):
        tally.again += len(again)
        tally.rules.reject(sorting.again_rules)
        keys = normal_keys(resource, rows.take(pa.array(again))).to_pylist()
        rejected += _rejected(batch, lines, again, keys, sorting.again_rules, sorting)
    rest = sorting.to_judge
    if len(rest) == 0:
        tally.quarantined = len(rejected)
        return Block(rejected, None, kept), tally
    judging = rows if len(rest) == rows.num_rows else rows.take(pa.array(rest))
    judgement = judge(resource, judging, sorting.known_good[rest], plan.scope)
    tally.rules.add(judgement.counts)
    if plan.docs is not None and judgement.verdict is not None:
        plan.docs.add(judgement.verdict)
    failed = rest[judgement.failed_at]
    if len(failed):
        tally.again += work.quarantined_before(sorting.raw_hashes[failed])
    keys = judgement.normal.column(resource.key).take(pa.array(judgement.failed_at)).to_pylist()
    rejected += _rejected(batch, lines, failed, keys, judgement.failed_rules, sorting)
    passing = rest[judgement.passed]
    passed = judgement.normal.filter(pa.array(judgement.passed))
    passed = staged_rows(passed, lines[passing], sorting.raw_hashes[passing])
    tally.quarantined = len(rejected)
    return Block(rejected, passed, kept), tally


def _malformed(batch: RawBatch, tally: Tally) -> list[Rejected]:
    """Lines the connector could not read as rows."""
    if batch.malformed:
        tally.rules.rejected[MALFORMED_ROW] += len(batch.malformed)
    return [
        Rejected(bad.line, None, [MALFORMED_ROW], {"_text": bad.text, "_reason": bad.reason})
        for bad in batch.malformed
    ]


def _rejected(
    batch: RawBatch,
    lines: np.ndarray,
    positions: np.ndarray,
    keys: list,
    rules: list[list[str]],
    sorting: Sorting,
) -> list[Rejected]:
    """Quarantine rows of these positions of the block, as the department delivered them."""
    raws = batch.table.take(pa.array(positions, pa.int64())).to_pylist()
    salted = sorting.day_hashes[positions].tolist()
    found = zip(lines[positions].tolist(), keys, rules, raws, salted, strict=True)
    return [Rejected(*row) for row in found]


def _judged(summary: BatchSummary, tally: Tally, settled: Settled) -> None:
    """The summary of a delivery read and judged whole (before the batch is accepted)."""
    rejected = tally.rules.rejected + settled.rejected
    summary.rows_read, summary.rows_validated = tally.read, tally.validated
    summary.rows_quarantined = tally.quarantined + settled.quarantined
    summary.rows_quarantined_again = tally.again
    summary.rows_duplicate = settled.duplicate
    summary.rules_checked = list(tally.rules.checked)
    summary.rejected_by_rule = dict(sorted(rejected.items()))
    summary.warned_by_rule = dict(tally.rules.warned)


def _merged(summary: BatchSummary, counts: MergeCounts) -> None:
    """The summary of a batch merged: what the merge returned, and the rows left unchanged."""
    summary.rows_inserted, summary.rows_updated = counts.inserted, counts.updated
    summary.rows_withdrawn, summary.withdrawal_held = counts.withdrawn, counts.withdrawal_held
    summary.records_changed, summary.conflicts = counts.records_changed, counts.conflicts
    summary.rows_loaded = counts.inserted + counts.updated
    summary.rows_unchanged = (
        summary.rows_read - summary.rows_loaded - summary.rows_duplicate - summary.rows_quarantined
    )


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
    raise BatchRejected(
        f"{location}: batch rejected, {ratio:.0%} of {summary.rows_read} rows broke the rules "
        f"(at most {resource.max_reject_ratio:.0%}, or {resource.reject_floor} rows, accepted "
        f"for {resource.code}); top rules: {rules}; nothing was merged"
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, sa.exc.DBAPIError):
        return f"database error: {first_line(exc.orig or exc)}"
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
