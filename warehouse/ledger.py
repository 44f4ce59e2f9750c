"""The batch ledger: one row per batch with its counts, status and timings."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from warehouse.engine import writing
from warehouse.tables import batch_ledger


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_batch_id() -> str:
    """Sortable and unique: UTC time to the microsecond and six random hex digits. Survivorship
    orders values by the batch that supplied them, so the order must follow time closely."""
    return f"{id_at(now())}-{secrets.token_hex(3)}"


def id_at(when: dt.datetime) -> str:
    """The start of the ids of batches begun at `when` (UTC): earlier batches sort before it."""
    return f"{when.astimezone(dt.UTC):%Y%m%dT%H%M%S.%f}"


@dataclass
class BatchSummary:
    """What one batch did; `rows_read = loaded + unchanged + duplicate + quarantined`.

    The `rows_` counts are about the delivery (the department's contribution); `records_changed`
    counts the golden records that changed as a result, `conflicts` the disagreements with other
    departments this batch found, `rows_withdrawn` the keys a full snapshot no longer held
    (`withdrawal_held` when unreadable rows stopped the withdrawal).
    """

    batch_id: str
    resource: str
    department: str
    source: str | None
    file: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_validated: int = 0  # read minus the rows delivered unchanged (not validated again)
    rows_loaded: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    # of rows_quarantined, rows the department sent before and the hub quarantined already
    # (a look-back read again): no new rejections, they do not count toward rejecting the batch
    rows_quarantined_again: int = 0
    rows_withdrawn: int = 0
    withdrawal_held: bool = False
    records_changed: int = 0
    conflicts: int = 0
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    warned_by_rule: dict[str, int] = field(default_factory=dict)
    rules_checked: list[str] = field(default_factory=list)
    retry_of: str | None = None
    same_as: str | None = None  # a skipped re-sent file: the batch that loaded it
    data_docs: str | None = None
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    # columns of fields the department may not write: not read (header -> field)
    withheld_columns: dict[str, str] = field(default_factory=dict)
    status: str = "running"
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def start(engine: sa.Engine, summary: BatchSummary, file_path: str | None) -> dt.datetime:
    """Record the batch as running, in its own transaction, before any data moves."""
    started = now()
    with writing(engine) as conn:
        conn.execute(
            batch_ledger.insert().values(
                batch_id=summary.batch_id,
                resource=summary.resource,
                department=summary.department,
                source=summary.source,
                file_path=file_path,
                status="running",
                rejected_by_rule={},
                unknown_columns=[],
                started_at=started,
            )
        )
    return started


def finish(
    conn: sa.Connection,
    summary: BatchSummary,
    checksum: str | None = None,
    *,
    if_running: bool = False,
) -> None:
    """Write the final counts and status (inside the batch's transaction when it commits).

    `if_running`: only over a `running` row — a failure recorded after the batch's own
    transaction never overwrites the status that transaction committed (a SIGTERM that
    arrives just after the commit)."""
    values = {
        key: getattr(summary, key)
        for key in (
            "encoding",
            "status",
            "rows_read",
            "rows_validated",
            "rows_loaded",
            "rows_inserted",
            "rows_updated",
            "rows_unchanged",
            "rows_duplicate",
            "rows_quarantined",
            "rows_withdrawn",
            "withdrawal_held",
            "records_changed",
            "conflicts",
            "rejected_by_rule",
            "warned_by_rule",
            "rules_checked",
            "retry_of",
            "same_as",
            "data_docs",
            "unknown_columns",
            "error",
            "seconds",
        )
    }
    values["file_path"] = summary.file
    if checksum:
        values["file_checksum"] = checksum
    query = batch_ledger.update().where(batch_ledger.c.batch_id == summary.batch_id)
    if if_running:
        query = query.where(batch_ledger.c.status == "running")
    conn.execute(query.values(finished_at=now(), **values))


def get(conn: sa.Connection, batch_id: str) -> dict | None:
    row = conn.execute(sa.select(batch_ledger).where(batch_ledger.c.batch_id == batch_id)).first()
    return dict(row._mapping) if row else None


def loaded_file(conn: sa.Connection, resource: str, department: str, checksum: str) -> str | None:
    """The batch that already loaded this exact file from this department, if any."""
    return conn.execute(
        sa.select(batch_ledger.c.batch_id)
        .where(
            batch_ledger.c.resource == resource,
            batch_ledger.c.department == department,
            batch_ledger.c.file_checksum == checksum,
            batch_ledger.c.status == "loaded",
        )
        .order_by(batch_ledger.c.started_at)
        .limit(1)
    ).scalar()
