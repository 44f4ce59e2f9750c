"""Disaster backup (灾备) of a whole deployment, and its restore.

A backup folder holds the warehouse (`warehouse.sqlite`, a copy made by SQLite's online backup
API, or `warehouse.pgdump`, `pg_dump -Fc` of the hub's schema), the deployment's files that
cannot be rebuilt (`files/`: the connections file, the API secret, the declarations departments
imported, the Data Docs), and `manifest.json`: when, which gdx, which database, the rows of every
table, the audit chain's head, a digest of the batch ledger and the SHA-256 of every file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gdx import backup_files as files
from gdx.backup_files import Item
from gdx.errors import GdxError
from runtime import clock
from warehouse import engine as engines
from warehouse import pg_backup, sqlite_backup
from warehouse.contents import BackupError

FORMAT = "gdx-backup/1"
DATABASE_FILES = {"sqlite": "warehouse.sqlite", "postgresql": "warehouse.pgdump"}


def _kind(engine: sa.Engine) -> str:
    return "postgresql" if engines.is_postgres(engine) else "sqlite"


def version() -> str:
    try:
        return metadata.version("gdx")
    except metadata.PackageNotFoundError:
        return "unknown"


def backup(target: Path, data_docs: bool = True) -> dict[str, Any]:
    """Write a backup of the deployment into the new (or empty) folder `target`.

    It is written into a hidden folder beside `target` and renamed at the end: a backup that
    fails leaves nothing behind.
    """
    target = Path(target).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise GdxError(f"{target}: exists and is not empty; back up into a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    engine = engines.create()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))  # 0700
    try:
        manifest = {"format": FORMAT, "created_at": _now(), "gdx_version": version()}
        manifest |= _dump(engine, work)
        kept = [item for item in files.ITEMS if data_docs or item.name != "data_docs"]
        manifest["items"] = [files.copy_out(item, work / files.FOLDER) for item in kept]
        manifest["items"] = [found for found in manifest["items"] if found]
        manifest["files"] = files.checksums(work)
        (work / files.MANIFEST).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        )
        if target.exists():
            target.rmdir()  # the empty folder named: the backup takes its place
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _now() -> str:
    """When the backup was made: local ISO 8601 with offset, to the second (runtime/clock.py)."""
    return clock.iso(clock.now().replace(microsecond=0))


def _dump(engine: sa.Engine, work: Path) -> dict[str, Any]:
    kind = _kind(engine)
    file = DATABASE_FILES[kind]
    try:
        if kind == "sqlite":
            found = sqlite_backup.copy_out(sqlite_backup.database_path(engine), work / file)
        else:
            found = pg_backup.dump(engine, work / file)
    except BackupError as exc:
        raise GdxError(str(exc)) from None
    database = {
        "kind": kind,
        "url": engines.describe(engine),
        "schema": found.pop("schema", None),
        "server_version": found.pop("server_version", None),
        "file": file,
    }
    return {"database": database} | found


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of a backup folder, checked for what a restore reads from it."""
    path = source / files.MANIFEST
    if not path.is_file():
        raise GdxError(f"{path}: missing; {source} is not a gdx backup folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GdxError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GdxError(f"{path}: not a manifest of format {FORMAT}")
    shapes = {"database": dict, "tables": dict, "files": dict, "items": list}
    for key, shape in shapes.items():
        if not isinstance(manifest.get(key), shape):
            raise GdxError(f"{path}: {key} is missing or malformed")
    database = manifest["database"]
    if database.get("kind") not in DATABASE_FILES or database.get("file") not in manifest["files"]:
        raise GdxError(f"{path}: database.kind or database.file is missing or malformed")
    if database["kind"] == "postgresql" and not isinstance(database.get("schema"), str):
        raise GdxError(f"{path}: database.schema is missing")
    return manifest


def restore(source: Path, force: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore a backup folder into the deployment the settings name (database and files).
    Returns the manifest and what the restored warehouse holds."""
    source = Path(source).absolute()
    manifest = read_manifest(source)
    files.check_files(source, manifest)
    engine = engines.create()
    kind, database = _kind(engine), manifest["database"]
    if database["kind"] != kind:
        raise GdxError(
            f"{source / files.MANIFEST}: the backup holds a {database['kind']} warehouse and "
            f"GDX_DATABASE_URL names a {kind} one; restore it into a {database['kind']} warehouse"
        )
    items = [_item(source, entry) for entry in manifest["items"]]
    if not force:
        _refuse_overwrite(engine, manifest, items)
    backup_file = source / database["file"]
    try:
        if kind == "sqlite":
            target = sqlite_backup.database_path(engine)
            found = sqlite_backup.copy_in(backup_file, target, manifest)
        else:
            found = pg_backup.restore(engine, backup_file, database["schema"], manifest)
    except BackupError as exc:
        raise GdxError(str(exc)) from None
    for item, entry in items:
        files.copy_in(source / files.FOLDER / item.name, item.path(), entry["kind"])
    return manifest, found


def _item(source: Path, entry: Any) -> tuple[Item, dict[str, Any]]:
    known = {item.name: item for item in files.ITEMS}
    if not isinstance(entry, dict) or entry.get("name") not in known:
        raise GdxError(f"{source / files.MANIFEST}: unknown item {entry!r}")
    if entry.get("kind") not in ("file", "folder"):
        raise GdxError(f"{source / files.MANIFEST}: item {entry['name']} has no kind")
    return known[entry["name"]], entry


def _refuse_overwrite(engine: sa.Engine, manifest: dict[str, Any], items: list) -> None:
    """Nothing the deployment holds is replaced without --force."""
    try:
        if _kind(engine) == "sqlite":
            table = sqlite_backup.holds_data(sqlite_backup.database_path(engine))
        else:
            table = pg_backup.holds_data(engine)
    except BackupError as exc:
        raise GdxError(str(exc)) from None
    if table:
        raise GdxError(
            f"the warehouse {engines.describe(engine)} holds data (table {table} has rows); "
            "restore with --force to replace all of it"
        )
    for item, _entry in items:
        destination = item.path()
        if files.differs(destination, manifest["files"], f"{files.FOLDER}/{item.name}"):
            raise GdxError(
                f"{destination} exists and differs from the backup's {item.name} "
                f"({item.setting}); restore with --force to replace it"
            )
