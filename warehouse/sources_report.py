"""Per registered source: its last batch and where its state stands (`gdx sources list`); a
department's deliveries with their last batches (the portal's sources page)."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath

import sqlalchemy as sa

from catalog_schema import Catalog
from warehouse import source_state, status
from warehouse.tables import batch_ledger


def describe_state(state: dict) -> str:
    if "watermark" in state:
        return f"watermark {state['watermark']}"
    if "since" in state:
        return f"since {state['since']}"
    if "seen" in state:
        return f"{len(state['seen'])} files loaded"
    if "checksum" in state:
        return f"file sha256 {state['checksum'][:12]}…"
    return "—"


def sources_report(conn: sa.Connection, catalog: Catalog) -> list[dict]:
    states = source_state.all_states(conn)
    latest = (
        sa.select(batch_ledger.c.source, sa.func.max(batch_ledger.c.started_at).label("at"))
        .group_by(batch_ledger.c.source)
        .subquery()
    )
    rows = conn.execute(
        sa.select(batch_ledger).join(
            latest,
            sa.and_(
                batch_ledger.c.source == latest.c.source, batch_ledger.c.started_at == latest.c.at
            ),
        )
    )
    last = {row.source: row._mapping for row in rows}
    report = []
    for code, source in catalog.sources.items():
        batch = last.get(code)
        state = states.get(code, {}).get("state", {})
        report.append(
            {
                "source": code,
                "department": source.department,
                "resource": source.resource,
                "kind": source.kind,
                "schedule": source.schedule or catalog.resource(source.resource).update_cycle,
                "last_batch": batch["batch_id"] if batch else None,
                "last_status": batch["status"] if batch else None,
                "last_run": batch["started_at"].isoformat() if batch else None,
                "rows_read": batch["rows_read"] if batch else None,
                "rows_loaded": batch["rows_loaded"] if batch else None,
                "error": batch["error"] if batch else None,
                "state": state,
                "state_summary": describe_state(state),
            }
        )
    return report


# --- a department's deliveries (the portal's sources page) -----------------------------------

BATCH_COLUMNS = (
    "batch_id",
    "resource",
    "source",
    "file_path",
    "status",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "retry_of",
    "error",
    "started_at",
    "finished_at",
)


def last_batches(
    conn: sa.Connection,
    department: str,
    source: str | None,
    resource: str | None = None,
    limit: int = 5,
) -> list[dict]:
    """The last `limit` batches of the registered `source`, newest first; with `source` None,
    those `department` loaded by hand (`gdx load`, no source) into `resource`."""
    ledger = batch_ledger
    query = sa.select(*(ledger.c[name] for name in BATCH_COLUMNS)).where(
        ledger.c.department == department
    )
    if source is not None:
        query = query.where(ledger.c.source == source)
    else:
        query = query.where(ledger.c.source.is_(None), ledger.c.resource == resource)
    rows = conn.execute(query.order_by(ledger.c.started_at.desc()).limit(max(1, limit)))
    found = []
    for row in rows:
        batch = dict(row._mapping)
        batch["started_at"] = _aware(batch["started_at"])
        batch["finished_at"] = _aware(batch["finished_at"])
        batch["file_name"] = PurePath(batch["file_path"]).name if batch["file_path"] else None
        found.append(batch)
    return found


def department_deliveries(
    conn: sa.Connection, catalog: Catalog, department: str, now: dt.datetime, limit: int = 5
) -> list[dict]:
    """`department`'s registered sources and, after them, what it loaded by hand (per
    resource), each with its last `limit` batches and whether it is late against its update
    cycle (`status.source_status`'s rule: no success within 1.5 cycles).

    Keys: source (None for loads by hand), resource, cycle, last_success, late, failed_since,
    quarantined (rows waiting, registered sources only), batches (see `last_batches`)."""
    found = []
    for shown in status.source_status(conn, catalog, now):
        source = catalog.sources[shown["source"]]
        if source.department != department:
            continue
        found.append(
            {
                "source": source.code,
                "description": source.description,
                "resource": source.resource,
                "cycle": shown["cycle"],
                "last_success": _aware(_parsed(shown["last_success"])),
                "late": shown["late"],
                "failed_since": shown["failed_since"],
                "quarantined": shown["quarantined"],
                "batches": last_batches(conn, department, source.code, limit=limit),
            }
        )
    ledger = batch_ledger
    by_hand = conn.execute(
        sa.select(ledger.c.resource)
        .where(ledger.c.department == department, ledger.c.source.is_(None))
        .group_by(ledger.c.resource)
        .order_by(ledger.c.resource)
    ).scalars()
    for resource in by_hand:
        declared = catalog.resources.get(resource)
        cycle = declared.update_cycle if declared else "daily"
        success = _aware(
            conn.execute(
                sa.select(sa.func.max(ledger.c.finished_at)).where(
                    ledger.c.department == department,
                    ledger.c.source.is_(None),
                    ledger.c.resource == resource,
                    ledger.c.status.in_(["loaded", "skipped"]),
                    ledger.c.retry_of.is_(None),
                )
            ).scalar()
        )
        batches = last_batches(conn, department, None, resource, limit=limit)
        found.append(
            {
                "source": None,
                "description": "",
                "resource": resource,
                "cycle": cycle,
                "last_success": success,
                "late": success is None
                or now - success > status.CYCLES.get(cycle, status.CYCLES["daily"]) * status.GRACE,
                "failed_since": bool(
                    batches
                    and batches[0]["status"] in ("failed", "rejected", "refused")
                    and (success is None or batches[0]["started_at"] > success)
                ),
                "quarantined": None,
                "batches": batches,
            }
        )
    return found


def _parsed(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite keeps UTC naive
