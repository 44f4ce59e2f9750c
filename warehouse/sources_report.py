"""Per registered source: its last batch and where its state stands (`gdx sources list`)."""

from __future__ import annotations

import sqlalchemy as sa

from catalog_schema import Catalog
from warehouse import source_state
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
