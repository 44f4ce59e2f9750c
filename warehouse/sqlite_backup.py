"""The embedded warehouse (SQLite) copied out and back through SQLite's online backup API.

The copy is one backup step: it reads one consistent snapshot (WAL: writers go on meanwhile,
their uncommitted work is not in it), and written into place it replaces the database in one
write transaction, so readers see the old warehouse or the restored one, never a mix.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from warehouse import contents
from warehouse.contents import BackupError

#: seconds a copy waits for a writer's lock (the restore's write into place)
BUSY_SECONDS = 30


def database_path(engine: sa.Engine) -> Path:
    name = engine.url.database
    if not name or name == ":memory:":
        raise BackupError(f"{engine.url}: an in-memory warehouse cannot be backed up or restored")
    return Path(name).resolve()


def _read_only(path: Path) -> sqlite3.Connection:
    # mode=ro never creates a file, a journal or a -wal beside it
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=BUSY_SECONDS)


@contextmanager
def reading(path: Path) -> Iterator[sa.Connection]:
    """A read-only SQLAlchemy connection to a database file (no pragmas, no WAL switch)."""
    engine = sa.create_engine("sqlite://", creator=lambda: _read_only(path), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def copy_out(source: Path, target: Path) -> dict[str, Any]:
    """Copy the warehouse at `source` into the new file `target` and describe the copy (what
    it holds is the snapshot, whatever loads committed since)."""
    if not source.is_file():
        raise BackupError(f"{source}: no warehouse there (run `gdx init` first)")
    with closing(_read_only(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
        # a single self-contained file, whatever the warehouse's journal mode
        dst.execute("PRAGMA journal_mode=DELETE")
    with reading(target) as conn:
        return contents.describe(conn)


def holds_data(path: Path) -> str | None:
    """A table of the warehouse at `path` that holds rows, or None."""
    if not path.exists():
        return None
    with reading(path) as conn:
        return contents.first_with_rows(conn)


def copy_in(backup: Path, target: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """Check the backup's database against the manifest, then write it over `target` (created
    when missing) and check the counts and the audit head there again."""
    with reading(backup) as conn:
        found = contents.describe(conn)
    problem = contents.difference(found, expected)
    if problem:
        raise BackupError(f"{backup.name}: {problem}; nothing was restored")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(_read_only(backup)) as src,
        closing(sqlite3.connect(target, timeout=BUSY_SECONDS)) as dst,
    ):
        src.backup(dst)
    with reading(target) as conn:
        restored = contents.describe(conn)
    problem = contents.difference(restored, expected)
    if problem:
        raise BackupError(f"{target}: restored, but {problem}")
    return restored
