"""`collect(source)` and `load_file(...)`: extract -> normalise -> validate -> stage -> merge.

One batch is one transaction: quarantine rows, the merge and the ledger's final counts commit
together or not at all. The ledger records the batch as running before it starts and as failed
(with the reason) when it does not commit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from catalog_schema import Catalog, CatalogError, Resource, Source, load_catalog
from catalog_schema.headers import HeaderError, HeaderMap, map_headers
from connectors import ConnectorError, RawBatch
from connectors.csv_file import CsvFile
from gdx.errors import GdxError
from quality.normalize import normalize_table
from quality.runner import validate
from quality.suite import RuleError
from warehouse import engine as engines
from warehouse import ledger, quarantine, settings, staging
from warehouse.ledger import BatchSummary
from warehouse.merge import merge
from warehouse.tables import ResourceTables, for_resource

DUPLICATE_KEY_CONFLICT = "duplicate_key_conflict"
MALFORMED_ROW = "malformed_row"


def collect(
    source_code: str, *, engine: sa.Engine | None = None, catalog: Catalog | None = None
) -> BatchSummary:
    """Collect one registered source (what the DAG tasks and `gdx collect` call)."""
    catalog = catalog or load_catalog(settings.catalog_dir())
    source = catalog.source(source_code)
    path = Path(source.path)
    if not path.is_absolute():
        path = settings.incoming_dir() / path
    return load_file(
        path,
        source.resource,
        source.department,
        engine=engine,
        catalog=catalog,
        source=source_code,
        encoding=source.encoding,
    )


def load_file(
    path: Path | str,
    resource_code: str,
    department: str,
    *,
    engine: sa.Engine | None = None,
    catalog: Catalog | None = None,
    source: str | None = None,
    encoding: str = "auto",
    block_bytes: int | None = None,
) -> BatchSummary:
    """Load one department file into a resource as one batch and return its summary."""
    catalog = catalog or load_catalog(settings.catalog_dir())
    resource = catalog.resource(resource_code)
    catalog.department(department)
    engine = engine or engines.create()
    registered = catalog.sources[source] if source else _registered(catalog, resource, department)
    summary = BatchSummary(ledger.new_batch_id(), resource.code, department, source, str(path))
    started = time.perf_counter()
    try:
        ledger.start(engine, summary, str(path))
    except sa.exc.DBAPIError as exc:
        reason = _first_line(exc.orig or exc)
        if "batch_ledger" in reason:  # no such table / relation does not exist
            raise GdxError(f"warehouse not initialised ({reason}); run `gdx init`") from None
        raise GdxError(f"cannot reach the warehouse {engines.describe(engine)}: {reason}") from None
    try:
        reader = CsvFile(path, encoding, block_bytes or settings.read_block_bytes())
        summary.encoding = reader.encoding
        headers = map_headers(
            resource,
            reader.header,
            registered.mapping if registered else None,
            registered.fields if registered else None,
        )
        _check_columns(path, resource, headers, registered is not None)
        summary.unknown_columns, summary.missing_columns = headers.unknown, headers.missing
        checksum = reader.checksum()
        tables = for_resource(resource)
        with engine.begin() as conn:
            _run(conn, tables, reader, headers, summary)
            summary.status = "loaded"
            summary.seconds = round(time.perf_counter() - started, 3)
            ledger.finish(conn, summary, checksum)
    except Exception as exc:
        summary.status = "failed"
        summary.error = _describe(exc)
        summary.seconds = round(time.perf_counter() - started, 3)
        with engine.begin() as conn:
            ledger.finish(conn, summary)
        if isinstance(exc, ConnectorError | HeaderError | CatalogError | RuleError | GdxError):
            raise GdxError(summary.error) from None
        raise
    return summary


def _registered(catalog: Catalog, resource: Resource, department: str) -> Source | None:
    """The registered source of this department for this resource, when there is exactly one."""
    found = [
        s
        for s in catalog.sources.values()
        if s.resource == resource.code and s.department == department
    ]
    return found[0] if len(found) == 1 else None


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
    tables: ResourceTables,
    reader: CsvFile,
    headers: HeaderMap,
    summary: BatchSummary,
) -> None:
    resource = tables.resource
    at = ledger.now()
    stg = staging.create(conn, resource)
    rejected: dict[str, int] = {}
    for batch in reader.batches():
        summary.rows_read += batch.table.num_rows + len(batch.malformed)
        rows, passed = _validate_batch(resource, batch, headers, rejected)
        quarantine.add(conn, tables, summary.batch_id, summary.department, at, rows)
        summary.rows_quarantined += len(rows)
        staging.append(conn, stg, passed)
    if summary.rows_read == 0:
        raise GdxError(f"{reader.path}: no data rows (header only)")

    conflicts, summary.rows_duplicate = staging.duplicates(conn, stg, resource.key)
    if conflicts:
        rejected[DUPLICATE_KEY_CONFLICT] = len(conflicts)
        rows = [
            (row["_line"], row[resource.key], [DUPLICATE_KEY_CONFLICT], _staged_raw(row, headers))
            for row in conflicts
        ]
        quarantine.add(conn, tables, summary.batch_id, summary.department, at, rows)
        summary.rows_quarantined += len(rows)

    counts = merge(conn, tables, stg, headers.fields, summary.batch_id, summary.department, at)
    staging.drop(conn, stg)
    summary.rows_inserted, summary.rows_updated = counts.inserted, counts.updated
    summary.rows_loaded = counts.inserted + counts.updated
    summary.rows_unchanged = (
        summary.rows_read - summary.rows_loaded - summary.rows_duplicate - summary.rows_quarantined
    )
    summary.rejected_by_rule = dict(sorted(rejected.items()))


def _validate_batch(
    resource: Resource, batch: RawBatch, headers: HeaderMap, rejected: dict[str, int]
) -> tuple[list[tuple], pa.Table]:
    """Quarantine rows (line, key, rules, raw) and the normalised rows that passed."""
    mapped = pa.table(
        {field: batch.table.column(header) for header, field in headers.columns.items()}
    )
    normal = normalize_table(resource, mapped)
    verdict = validate(resource, normal)
    for rule, count in verdict.counts().items():
        rejected[rule] = rejected.get(rule, 0) + count
    failed = verdict.failed
    positions = np.flatnonzero(failed)
    lines = batch.lines.to_numpy()
    keys = normal.column(resource.key).take(pa.array(positions)).to_pylist()
    raws = batch.table.take(pa.array(positions)).to_pylist()
    rows = list(
        zip(lines[positions].tolist(), keys, verdict.rules_of(positions), raws, strict=True)
    )
    for bad in batch.malformed:
        rows.append((bad.line, None, [MALFORMED_ROW], {"_text": bad.text, "_reason": bad.reason}))
    if batch.malformed:
        rejected[MALFORMED_ROW] = rejected.get(MALFORMED_ROW, 0) + len(batch.malformed)
    passed = normal.filter(pa.array(~failed))
    passed_lines = pa.array(lines[~failed])
    return rows, passed.append_column("_line", passed_lines).append_column(
        "_row_hash", pa.array(_row_hashes(passed))
    )


def _row_hashes(table: pa.Table) -> np.ndarray:
    """A 64-bit content hash per row, to tell identical repeats of a key from conflicting ones."""
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    frame = table.to_pandas()
    return pd.util.hash_pandas_object(frame, index=False).to_numpy().view(np.int64)


def _staged_raw(row: dict, headers: HeaderMap) -> dict:
    """A conflicting row as staged (normalised values), under the department's headers."""
    return {header: _plain(row.get(field)) for header, field in headers.columns.items()}


def _plain(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _describe(exc: Exception) -> str:
    if isinstance(exc, sa.exc.DBAPIError):
        return f"database error: {_first_line(exc.orig or exc)}"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
