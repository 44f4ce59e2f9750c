"""Per-source state (checksums seen, watermark, since): moved only when a batch commits."""

from __future__ import annotations

import sqlalchemy as sa

from warehouse.ledger import now
from warehouse.tables import source_state


def get(conn: sa.Connection, source: str) -> dict:
    row = conn.execute(
        sa.select(source_state.c.state).where(source_state.c.source == source)
    ).first()
    return dict(row[0]) if row else {}


def put(conn: sa.Connection, source: str, state: dict, batch_id: str) -> None:
    """Store the state in the batch's own transaction, so that it commits with the data."""
    values = {"state": state, "batch_id": batch_id, "updated_at": now()}
    updated = conn.execute(
        source_state.update().where(source_state.c.source == source).values(**values)
    ).rowcount
    if not updated:
        conn.execute(source_state.insert().values(source=source, **values))


def all_states(conn: sa.Connection) -> dict[str, dict]:
    rows = conn.execute(sa.select(source_state))
    return {row.source: dict(row._mapping) for row in rows}
