"""`collect(source)` and `load_file(...)`: what the DAG tasks and the command line call.

Each delivery of a source (one file, one table read, one API crawl, each new file of a drop
folder) becomes one all-or-nothing batch (gdx/batch.py).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from catalog_schema import Catalog, Source, configured_catalog
from catalog_schema.models import CsvOptions, DropFolderOptions, XlsxOptions
from connectors import ConnectorError, registry
from connectors.base import Delivery, Opener
from connectors.csv_file import CsvFile
from connectors.xlsx_file import XlsxFile
from gdx import connections
from gdx.batch import BatchRequest, first_line, run_batch
from gdx.errors import GdxError
from quality.runner import warm
from runtime import settings
from warehouse import engine as engines
from warehouse import source_state
from warehouse.ledger import BatchSummary


def collect(
    source_code: str,
    *,
    engine: sa.Engine | None = None,
    catalog: Catalog | None = None,
    force: bool = False,
) -> list[BatchSummary]:
    """Collect one registered source (what the DAG tasks and `gdx collect` call).

    Each delivery the source has for us (one file, one table read, one API crawl, or every new
    file of a drop folder) is one batch; the source's state moves with each batch's commit. A
    failed delivery does not stop the ones after it; CollectError then names it and carries the
    summaries of those that committed.
    """
    warm()  # Great Expectations' import and context, while the source is looked up and read
    catalog = catalog or configured_catalog()
    source = catalog.source(source_code)
    engine = engine or engines.create()
    state = _state(engine, source.code)
    try:
        openers = registry.pending(
            source,
            catalog.resource(source.resource),
            state,
            settings.incoming_dir(),
            connections.resolve,
            settings.read_block_bytes(),
        )
    except ConnectorError as exc:
        openers = [_raiser(exc)]
    summaries, errors = [], []  # `force`: read a file the department already loaded
    for opener in openers:
        delivery = _Opened(opener, source.code)
        try:
            summaries.append(
                run_batch(
                    delivery.open,
                    BatchRequest(
                        source.resource,
                        source.department,
                        source=source.code,
                        before_commit=delivery.move_state,
                        force=force,
                    ),
                    engine=engine,
                    catalog=catalog,
                )
            )
        except GdxError as exc:
            errors.append(str(exc))
    if errors:
        more = f" (and {len(errors) - 1} more failed deliveries)" if len(errors) > 1 else ""
        raise CollectError(errors[0] + _where_read(source, catalog) + more, summaries)
    return summaries


def _where_read(source: Source, catalog: Catalog) -> str:
    """For a source whose file or folder is not there: where it is read from, and why there."""
    options = source.options
    if isinstance(options, CsvOptions | XlsxOptions):
        where = options.path
    elif isinstance(options, DropFolderOptions):
        where = options.folder
    else:
        return ""
    if Path(where).is_absolute():
        if Path(where).exists():
            return ""
        return f" (the path {source.code} declares in {catalog.directory / 'sources.yaml'})"
    incoming = settings.incoming_dir()
    if (incoming / where).exists():
        return ""
    return (
        f" (relative source paths are read from GDX_INCOMING_DIR, now {incoming}; "
        "`gdx demo-data` writes there by default)"
    )


class _Opened:
    """A source's delivery, remembered when the batch opens it, so that the source's state moves
    to where this delivery leaves it in the batch's own transaction."""

    def __init__(self, opener: Opener, source: str):
        self.opener, self.source, self.delivery = opener, source, None

    def open(self) -> Delivery:
        self.delivery = self.opener()
        return self.delivery

    def move_state(self, conn: sa.Connection, batch_id: str) -> None:
        state = self.delivery.next_state(source_state.get(conn, self.source))
        source_state.put(conn, self.source, state, batch_id)


class CollectError(GdxError):
    """Some deliveries of a source failed; the others committed (`summaries`)."""

    def __init__(self, message: str, summaries: list[BatchSummary]):
        super().__init__(message)
        self.summaries = summaries


def load_file(
    path: Path | str,
    resource_code: str,
    department: str,
    *,
    engine: sa.Engine | None = None,
    catalog: Catalog | None = None,
    encoding: str = "auto",
    block_bytes: int | None = None,
    force: bool = False,
    source: str | None = None,
) -> BatchSummary:
    """Load one department file (CSV or XLSX) into a resource as one batch. A file the
    department already loaded is skipped unless `force`.

    With `source`, the file is a delivery of that registered source: its department's authority
    and field list, its mapping, and (for a full snapshot) its withdrawals; the source's read
    state (a watermark, a checksum) stays where collection left it.
    """
    blocks = block_bytes or settings.read_block_bytes()
    catalog = catalog or configured_catalog()

    def open_file() -> Delivery:
        if Path(path).suffix.lower() == ".xlsx":
            return XlsxFile(path, registry.header_test(catalog.resource(resource_code)))
        return CsvFile(path, encoding, blocks)

    request = BatchRequest(
        resource_code, department, source=source, location=str(path), force=force
    )
    return run_batch(open_file, request, engine=engine, catalog=catalog)


def _state(engine: sa.Engine, source: str) -> dict:
    try:
        with engine.connect() as conn:
            return source_state.get(conn, source)
    except sa.exc.DBAPIError as exc:
        reason = first_line(exc.orig or exc)
        raise GdxError(f"warehouse not ready ({reason}); run `gdx init`") from None


def _raiser(exc: Exception) -> Opener:
    def fail() -> Delivery:
        raise exc

    return fail
