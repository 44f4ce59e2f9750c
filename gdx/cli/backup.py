"""`gdx backup` and `gdx restore`: disaster backup (灾备) of the whole deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gdx.cli.console import fail, out, when
from gdx.errors import GdxError

PLAIN: dict[str, Any] = {"markup": False, "highlight": False}  # names and paths as they are


def backup_command(
    folder: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    data_docs: Annotated[
        bool,
        typer.Option(
            "--data-docs/--no-data-docs", help="Include the Data Docs (HTML report of each batch)."
        ),
    ] = True,
) -> None:
    """Back up the warehouse (while loads run), the connections file, the API secret, the
    imported declarations and the Data Docs, with a manifest of rows, audit head and
    checksums."""
    from gdx import backup

    try:
        manifest = backup.backup(folder, data_docs=data_docs)
    except GdxError as exc:
        raise fail(str(exc)) from None
    database = manifest["database"]
    out.print(
        f"backup of the {database['kind']} warehouse {database['url']} written to "
        f"{Path(folder).absolute()}",
        **PLAIN,
    )
    _print_contents(manifest)
    for item in manifest["items"]:
        count = f" ({item['files']} files)" if item["kind"] == "folder" else ""
        out.print(f"  {item['name']}{count} from {item['from']}", **PLAIN)
    bytes_written = sum(entry["bytes"] for entry in manifest["files"].values())
    out.print(f"  {len(manifest['files'])} files, {bytes_written:,} bytes", **PLAIN)


def restore_command(
    folder: Annotated[Path, typer.Argument(help="A folder written by `gdx backup`.")],
    force: Annotated[
        bool, typer.Option(help="Replace a warehouse that holds data, and differing files.")
    ] = False,
) -> None:
    """Restore a backup into the warehouse GDX_DATABASE_URL names and the files the settings
    name: checksums first, all or nothing, then the rows of every table and the audit chain's
    head are checked against the manifest."""
    from gdx import backup

    try:
        manifest, found = backup.restore(folder, force=force)
    except GdxError as exc:
        raise fail(str(exc)) from None
    out.print(
        f"restored {Path(folder).absolute()} (made {when(manifest['created_at'])} by gdx "
        f"{manifest['gdx_version']}); every count, the audit head and the batch ledger match "
        "the manifest:",
        **PLAIN,
    )
    _print_contents(found)
    for item in manifest["items"]:
        out.print(f"  {item['name']} restored ({item['setting']})", **PLAIN)
    if manifest["gdx_version"] != backup.version():
        out.print(
            f"the backup was made by gdx {manifest['gdx_version']}: run `gdx init` to bring "
            "its schema up to date",
            **PLAIN,
        )


def _print_contents(found: dict[str, Any]) -> None:
    tables = found["tables"]
    for name, rows in tables.items():
        if rows:
            out.print(f"  {name}: {rows} rows", **PLAIN)
    empty = sum(1 for rows in tables.values() if not rows)
    out.print(f"  {len(tables)} tables ({empty} empty), {found['rows']} rows", **PLAIN)
    if "ledger" in found:
        out.print(f"  batch ledger: {found['ledger']['batches']} batches", **PLAIN)
    chain = found.get("audit")
    if chain and chain["intact"]:
        head = (chain["head"] or "")[:16] or "none (empty)"
        out.print(f"  audit log intact: {chain['records']} records, head {head}", **PLAIN)
    elif chain:
        out.print(
            f"  audit log: {chain['records']} records, broken at seq {chain['bad_seq']} "
            "(as it was when backed up; `gdx audit verify` names the record)",
            **PLAIN,
        )
