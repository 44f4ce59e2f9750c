"""Build the connector of a registered source: one small class per kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catalog_schema import Resource, Source
from catalog_schema.models import (
    CsvOptions,
    DropFolderOptions,
    HttpOptions,
    SqlOptions,
    XlsxOptions,
    header_key,
)
from connectors.base import Opener
from connectors.csv_file import CsvFile
from connectors.drop_folder import DropFolder
from connectors.http_api import HttpApi
from connectors.sql_table import SqlTable
from connectors.xlsx_file import XlsxFile

#: Resolves a connection id to its URL (from the environment or Airflow), injected by the caller.
Resolve = Callable[[str], str]


def pending(
    source: Source,
    resource: Resource,
    state: dict,
    incoming: Path,
    resolve: Resolve,
    block_bytes: int,
) -> list[Opener]:
    """Openers of the deliveries the source has for us now, in the order to load them."""
    options = source.options
    if isinstance(options, XlsxOptions):
        path = _under(incoming, options.path)
        known = header_test(resource, source.mapping)
        return [lambda: XlsxFile(path, known, options.sheet)]
    if isinstance(options, CsvOptions):
        path = _under(incoming, options.path)
        return [lambda: CsvFile(path, options.encoding, block_bytes)]
    if isinstance(options, DropFolderOptions):
        folder = DropFolder(_under(incoming, options.folder), options.pattern, options.encoding,
                            block_bytes)  # fmt: skip
        return folder.pending(state)
    if isinstance(options, SqlOptions):
        settings = options.model_dump(exclude={"kind", "connection"})
        return [lambda: SqlTable(resolve(options.connection), state=state, **settings)]
    if isinstance(options, HttpOptions):
        settings = options.model_dump(exclude={"kind", "connection"})
        expected = [*source.mapping, *source.fields]
        return [
            lambda: HttpApi(resolve(options.connection), state=state, expected=expected, **settings)
        ]
    raise TypeError(f"no connector for {options.kind}")


def header_test(resource: Resource, mapping: dict[str, str] | None = None):
    """Whether a text is a known header of the resource (or of the source's mapping)."""
    known = {header_key(h) for spec in resource.fields for h in spec.headers()}
    known |= {header_key(h) for h in (mapping or {})}
    return lambda text: header_key(str(text)) in known


def _under(incoming: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else incoming / path
