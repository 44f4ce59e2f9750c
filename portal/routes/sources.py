"""A department administrator's sources: its registered deliveries, what it loaded by hand, and
the last batches of each from the batch ledger."""

from __future__ import annotations

from fastapi import APIRouter, Request

from portal import pages
from portal.session import DepartmentAdminDep
from warehouse.ledger import now as utc_now
from warehouse.sources_report import department_deliveries

router = APIRouter(tags=["portal: sources"])
LAST = 5  # batches shown per source


@router.get("/sources")
def sources_page(request: Request, session: DepartmentAdminDep):
    catalog = request.app.state.catalog
    with request.app.state.engine.connect() as conn:
        deliveries = department_deliveries(
            conn, catalog, session.person.department, utc_now(), limit=LAST
        )
    for delivery in deliveries:
        found = catalog.resources.get(delivery["resource"])
        delivery["resource_name"] = (found.name_zh, found.name_en) if found else None
    return pages.render(
        request,
        "sources.html",
        registered=[d for d in deliveries if d["source"] is not None],
        by_hand=[d for d in deliveries if d["source"] is None],
        last=LAST,
    )
