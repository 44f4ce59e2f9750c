"""`gdx refresh`: bring the derived data up to date with the calendar.

Loads keep derived data current for the records they touch; time changes it for the others
(a licence passes its end date, a penalty ages out of the last year, a credit record's validity
ends). A refresh is recorded in the ledger as a `derived` batch per resource, so that every
changed record names the batch that changed it.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from catalog_schema import Catalog, configured_catalog
from gdx.batch import first_line
from quality import dates
from warehouse import derived, ledger
from warehouse import engine as engines
from warehouse.ledger import BatchSummary
from warehouse.tables import for_resource


def refresh(
    *, engine: sa.Engine | None = None, catalog: Catalog | None = None, today: dt.date | None = None
) -> list[dict]:
    catalog = catalog or configured_catalog()
    engine = engine or engines.create()
    today = today or dates.today()
    report = []
    for resource in catalog.resources.values():
        if not (resource.expiry or resource.subject_status):
            continue
        tables = for_resource(resource)
        summary = BatchSummary(ledger.new_batch_id(), resource.code, derived.DERIVED, None)
        ledger.start(engine, summary, None)
        try:
            # the resource's writer lock: a batch in flight finishes first, so that nothing is
            # derived from a state about to change
            with engines.writing(engine, lock=resource.code) as conn:
                at = ledger.now()
                expired = derived.expire(conn, tables, today, summary.batch_id, at)
                subjects = derived.refresh_subjects(conn, tables, today, summary.batch_id, at)
                summary.status, summary.records_changed = "derived", expired
                ledger.finish(conn, summary)
        except Exception as exc:
            summary.status, summary.error = "failed", first_line(exc)
            with engines.writing(engine) as conn:
                ledger.finish(conn, summary)
            raise
        report.append(
            {
                "resource": resource.code,
                "batch_id": summary.batch_id,
                "today": today.isoformat(),
                "expired": expired,
                "subjects_changed": subjects,
            }
        )
    return report
