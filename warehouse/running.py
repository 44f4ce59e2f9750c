"""Running batches: each holds a lock for its whole life, so that a dead one can be told apart.

A batch records itself as `running` in the ledger before any data moves. If its process is
killed (SIGKILL, an Airflow worker lost, the machine down) nothing of it commits, but that row
would say `running` forever. So a batch takes a lock of its own before it writes that row and
keeps it until its final status is written: on PostgreSQL a session advisory lock on a
connection of its own (the server drops it with the connection), on SQLite an exclusive `flock`
of a file beside the warehouse (the kernel drops it with the process). Whoever can take the lock
of a `running` batch knows its process is gone: `reap` marks such batches `failed`, with the
reason `interrupted`. The next batch of a resource and `gdx status` reap.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from warehouse.engine import is_postgres, lock_id, writing
from warehouse.ledger import now
from warehouse.tables import batch_ledger

INTERRUPTED = "interrupted"


def _lock_key(batch_id: str) -> int:
    return lock_id(f"batch:{batch_id}")


def _lock_file(engine: sa.Engine, batch_id: str) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    path = Path(database).resolve()
    folder = path.parent / f"{path.name}.running"
    return folder / f"{batch_id}.lock"


@contextlib.contextmanager
def held(engine: sa.Engine, batch_id: str) -> Iterator[None]:
    """Hold the batch's life lock while the block runs (write the running row inside it)."""
    if is_postgres(engine):
        with engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_lock(_lock_key(batch_id))))
            conn.commit()
            try:
                yield
            finally:
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(_lock_key(batch_id))))
                    conn.commit()
        return
    path = _lock_file(engine, batch_id)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def is_dead(engine: sa.Engine, conn: sa.Connection, batch_id: str) -> bool:
    """No process holds the batch's life lock any more (taken and given back at once)."""
    if is_postgres(engine):
        key = _lock_key(batch_id)
        if not conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar():
            return False
        conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
        return True
    path = _lock_file(engine, batch_id)
    if path is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)  # flock needs no write access
    except FileNotFoundError:
        return True  # its process never made the file, or removed it when it ended
    except PermissionError:
        return False  # another user's batch (an Airflow worker's): cannot tell, so alive
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True


def reap(engine: sa.Engine, resource: str | None = None, keep: str | None = None) -> list[str]:
    """Mark the running batches (of `resource`, or all) whose process is gone as failed,
    `interrupted`; `keep` is the caller's own batch. The ids marked."""
    ledger = batch_ledger
    query = sa.select(ledger.c.batch_id).where(ledger.c.status == "running")
    if resource is not None:
        query = query.where(ledger.c.resource == resource)
    with engine.connect() as conn:
        running = [batch for batch in conn.execute(query).scalars() if batch != keep]
        dead = [batch for batch in running if is_dead(engine, conn, batch)]
        conn.commit()
    if not dead:
        return []
    with writing(engine) as conn:
        for batch in dead:  # still running: a batch that ended meanwhile keeps its status
            conn.execute(
                ledger.update()
                .where(ledger.c.batch_id == batch, ledger.c.status == "running")
                .values(status="failed", error=INTERRUPTED, finished_at=now())
            )
    return dead
