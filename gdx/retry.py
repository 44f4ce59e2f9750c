"""`gdx quarantine retry BATCH`: re-validate a batch's quarantined rows after a rule fix.

The rows go through the pipeline again as a new batch, as they were delivered: those that now
pass are merged, the others are quarantined again under the new batch. Every retried row is
marked with the batch that retried it, in the same transaction, so no row is merged twice. A row
that a later delivery of its department superseded (the same key again, or any full snapshot)
is left out, so an old row never overwrites a newer delivery nor brings back a key a snapshot
dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import sqlalchemy as sa

from catalog_schema import Catalog, configured_catalog
from connectors.base import RawBatch, strings
from gdx.batch import BatchRequest, run_batch
from gdx.errors import GdxError
from quality.runner import warm
from warehouse import engine as engines
from warehouse import ledger
from warehouse import quarantine as quarantined
from warehouse.ledger import BatchSummary
from warehouse.tables import for_resource


class QuarantinedRows:
    """The quarantined rows of one batch, as a delivery (malformed rows have no columns and
    are left out)."""

    kind = "quarantine"
    encoding = None
    empty_ok = True

    def __init__(self, batch_id: str, rows: list[dict]):
        self.location = f"quarantine of batch {batch_id}"
        self.rows = [row for row in rows if "_text" not in row["raw"]]
        self.header: list[str] = []
        for row in self.rows:
            self.header.extend(name for name in row["raw"] if name not in self.header)

    def checksum(self) -> None:
        return None

    def batches(self) -> Iterator[RawBatch]:
        if self.rows:
            columns = {
                name: [_blank_to_none(row["raw"].get(name)) for row in self.rows]
                for name in self.header
            }
            lines = pa.array([row["line"] for row in self.rows], pa.int64())
            yield RawBatch(strings(columns), lines)

    def next_state(self, current: dict) -> dict:
        return current  # a retry is no delivery: the source stays where it was


def retry(
    batch_id: str, *, engine: sa.Engine | None = None, catalog: Catalog | None = None
) -> BatchSummary:
    warm()  # Great Expectations' import and context, while the quarantined rows are read
    catalog = catalog or configured_catalog()
    engine = engine or engines.create()
    with engine.connect() as conn:
        original = ledger.get(conn, batch_id)
        if original is None:
            raise GdxError(f"no batch {batch_id!r} in the ledger")
        resource = catalog.resource(original["resource"])
        quarantine = for_resource(resource).quarantine
        rows = [
            dict(row._mapping)
            for row in conn.execute(
                sa.select(quarantine)
                .where(quarantine.c.batch_id == batch_id, quarantined.waiting(quarantine))
                .order_by(quarantine.c.line, quarantine.c.id)
            )
        ]
    delivery = QuarantinedRows(batch_id, rows)
    ids = [row["id"] for row in rows if "_text" not in row["raw"]]

    def mark(conn: sa.Connection, retry_batch: str) -> None:
        if not ids:
            return
        marked = conn.execute(
            quarantine.update()
            .where(quarantine.c.id.in_(ids), quarantine.c.retried_in.is_(None))
            .values(retried_in=retry_batch)
        ).rowcount
        if marked != len(ids):  # another retry of this batch committed first
            raise GdxError(f"batch {batch_id} was retried meanwhile; nothing was changed")

    source = original["source"] if original["source"] in catalog.sources else None
    request = BatchRequest(
        resource.code,
        original["department"],
        source=source,
        location=delivery.location,
        before_commit=mark,
        judge_whole=False,  # quarantined rows are bad by definition: no batch verdict
        retry_of=batch_id,
    )
    return run_batch(lambda: delivery, request, engine=engine, catalog=catalog)


def _blank_to_none(value: object) -> object:
    return None if value == "" else value
