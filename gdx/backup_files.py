"""The deployment's files a backup keeps beside the warehouse, and the checksums of it all."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gdx.errors import GdxError
from runtime import settings
from warehouse.secret import SECRET_FILE

MANIFEST = "manifest.json"
FOLDER = "files"  # the deployment's files inside a backup
CHUNK = 1 << 20


@dataclass(frozen=True)
class Item:
    """A file or folder of the deployment that a backup keeps, by its setting."""

    name: str  # its name under files/ in the backup
    setting: str
    path: Callable[[], Path]


ITEMS = (
    Item("connections.yaml", "GDX_CONNECTIONS_FILE", settings.connections_file),
    Item(SECRET_FILE, "GDX_HOME", lambda: settings.home() / SECRET_FILE),
    Item("catalog_imports", "GDX_IMPORTS_DIR", settings.imports_dir),
    Item("data_docs", "GDX_DATA_DOCS_DIR", settings.data_docs_dir),
)


def copy_out(item: Item, folder: Path) -> dict[str, Any] | None:
    """Copy the item into the backup; None when the deployment has none."""
    source = item.path()
    entry = {"name": item.name, "setting": item.setting, "from": str(source)}
    if source.is_file():
        folder.mkdir(exist_ok=True)
        shutil.copy2(source, folder / item.name)
        return entry | {"kind": "file", "files": 1}
    if not source.is_dir():
        return None
    copied = 0
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        destination = folder / item.name / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(path, destination)
        except FileNotFoundError:  # removed meanwhile (a batch's pages being rewritten)
            continue
        copied += 1
    return entry | {"kind": "folder", "files": copied}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def checksums(folder: Path) -> dict[str, dict[str, Any]]:
    """SHA-256 and size of every file under `folder` but the manifest, by relative path."""
    return {
        path.relative_to(folder).as_posix(): {"sha256": sha256(path), "bytes": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() != MANIFEST
    }


def check_files(source: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there with its checksum, and no other file is."""
    listed = manifest["files"]
    for name, entry in listed.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not isinstance(entry, dict):
            raise GdxError(f"{source / MANIFEST}: malformed file entry {name!r}")
        path = source / relative
        if not path.is_file():
            raise GdxError(f"{path}: missing (the manifest lists it)")
        if entry.get("bytes") != path.stat().st_size or entry.get("sha256") != sha256(path):
            raise GdxError(f"{path}: checksum mismatch, the file was changed or damaged")
    for path in sorted(source.rglob("*")):
        name = path.relative_to(source).as_posix()
        if path.is_file() and name != MANIFEST and name not in listed:
            raise GdxError(f"{path}: not in the manifest (added to the backup afterwards)")


def differs(destination: Path, files: dict[str, Any], name: str) -> bool:
    """Whether `destination` holds something other than the backup's file or folder `name`."""
    if destination.is_file():
        return name not in files or sha256(destination) != files[name]["sha256"]
    if not destination.is_dir():
        return False
    present = {
        f"{name}/{path.relative_to(destination).as_posix()}": sha256(path)
        for path in destination.rglob("*")
        if path.is_file()
    }
    expected = {key: entry["sha256"] for key, entry in files.items() if key.startswith(name + "/")}
    return bool(present) and present != expected


def copy_in(source: Path, destination: Path, kind: str) -> None:
    """Put a file or folder of the backup in place: copied beside it, then renamed over it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fresh = destination.with_name(f".{destination.name}.restoring-{secrets.token_hex(4)}")
    if kind == "file":
        shutil.copy2(source, fresh)
        os.replace(fresh, destination)
        return
    if source.is_dir():
        shutil.copytree(source, fresh)
    else:
        fresh.mkdir()  # a folder that was empty when backed up
    old = destination.with_name(f".{destination.name}.replaced-{secrets.token_hex(4)}")
    if destination.exists():
        os.rename(destination, old)
    os.rename(fresh, destination)
    shutil.rmtree(old, ignore_errors=True)
