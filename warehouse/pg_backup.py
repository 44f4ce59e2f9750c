"""The production warehouse (PostgreSQL): the hub's schema dumped with `pg_dump -Fc`, restored
with `pg_restore` + `psql` into a staging schema, checked there, and swapped into place.

The dump runs in a snapshot exported by the transaction that counts the rows and reads the
audit chain, so the manifest describes exactly what the dump holds while loads go on. A restore
commits nothing into the target schema until the staging copy matches the manifest; the swap
(drop the old schema, rename the staging one) is one transaction.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from psycopg2.extensions import make_dsn

from warehouse import contents
from warehouse.contents import BackupError

#: where Debian and Ubuntu install the client tools of each PostgreSQL version
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: how long the swap waits for the old schema's tables (a running load or API call) before
#: it gives up, replacing nothing
LOCK_TIMEOUT = "60s"


def tool(name: str, beside: str | None = None) -> str:
    """The client tool `name`: next to `beside` (same version), on PATH, or the newest one
    under PG_BIN_GLOB."""
    if beside:
        sibling = Path(beside).with_name(name)
        if os.access(sibling, os.X_OK):
            return str(sibling)
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(glob.glob(os.path.join(PG_BIN_GLOB, name)), key=_version, reverse=True)
    if installed:
        return installed[0]
    raise BackupError(
        f"{name} not found on PATH or in {PG_BIN_GLOB}: install the PostgreSQL client tools "
        "of the server's version (e.g. the postgresql-client package)"
    )


def _version(path: str) -> tuple[int, ...]:
    folder = Path(path).parent.parent.name  # /usr/lib/postgresql/15/bin/pg_dump -> 15
    return tuple(int(part) for part in re.findall(r"\d+", folder))


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A connection string for the client tools, and their environment with the password (kept
    out of the command line, which other users of the machine can read)."""
    params: dict[str, Any] = {
        "dbname": url.database,
        "host": url.host,
        "port": url.port,
        "user": url.username,
    }
    for key, value in url.query.items():
        params[key] = value[-1] if isinstance(value, tuple) else value
    conninfo = make_dsn(**{key: str(value) for key, value in params.items() if value is not None})
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return conninfo, environment


def _failure(name: str, stderr: str, code: int) -> BackupError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"error|fatal", line, re.IGNORECASE)]
    reason = (errors or lines or [f"exit status {code}"])[0]
    return BackupError(f"{name} failed: {reason}")


def server_version(conn: sa.Connection) -> str:
    return conn.exec_driver_sql("SHOW server_version").scalar_one()


def dump(engine: sa.Engine, path: Path) -> dict[str, Any]:
    """Dump the engine's schema into `path` (custom format) and describe what the dump holds."""
    pg_dump = tool("pg_dump")
    conninfo, environment = _libpq(engine.url)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            if schema is None:
                raise BackupError(
                    f"{engine.url.render_as_string()}: its search_path names no schema that "
                    "exists (run `gdx init` first)"
                )
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            described = contents.describe(conn)
            described["schema"] = schema
            described["server_version"] = server_version(conn)
            command = [
                pg_dump,
                "--format=custom",
                f"--schema={quoted(schema)}",  # a pattern: quoted, the name is taken literally
                f"--snapshot={snapshot}",
                "--no-password",
                f"--file={path}",
                f"--dbname={conninfo}",
            ]
            done = subprocess.run(command, env=environment, capture_output=True, text=True)
            if done.returncode:
                raise _failure("pg_dump", done.stderr, done.returncode)
    return described


def target_schema(conn: sa.Connection) -> str:
    """The schema the warehouse lives in: the first of the search_path (it may not exist yet)."""
    current = conn.exec_driver_sql("SELECT current_schema()").scalar()
    if current:
        return current
    for part in conn.exec_driver_sql("SHOW search_path").scalar_one().split(","):
        name = part.strip()
        if name and name != '"$user"':
            return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
    raise BackupError("GDX_DATABASE_URL's search_path names no schema to restore into")


def holds_data(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return contents.first_with_rows(conn)


def _exists(conn: sa.Connection, schema: str) -> bool:
    found = sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :name")
    return conn.execute(found, {"name": schema}).first() is not None


def restore(engine: sa.Engine, path: Path, schema: str, expected: dict) -> dict[str, Any]:
    """Restore the dump of `schema` at `path` into the engine's schema, all or nothing."""
    pg_restore = tool("pg_restore")
    psql = tool("psql", beside=pg_restore)
    with engine.connect() as conn:
        target = target_schema(conn)
    staging = f"gdx_restore_{secrets.token_hex(4)}"
    _load(engine, (pg_restore, psql), path, schema, staging)
    try:
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"SET LOCAL search_path TO {quoted(staging)}")
            found = contents.describe(conn)
        problem = contents.difference(found, expected)
        if problem:
            raise BackupError(f"{path.name}: {problem}; nothing was restored")
        _swap(engine, staging, target)
    except BaseException:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quoted(staging)} CASCADE")
        raise
    with engine.connect() as conn:
        restored = contents.describe(conn)
    problem = contents.difference(restored, expected)
    if problem:
        raise BackupError(f"schema {target}: restored, but {problem}")
    return restored


def _load(engine: sa.Engine, tools: tuple[str, str], path: Path, schema: str, staging: str):
    """Replay the dump into the schema `staging` in one psql transaction.

    pg_restore recreates the schema under its dumped name; a schema of that name already in
    the database (the live warehouse itself, or another) is renamed aside inside the same
    transaction and back before it commits, so other sessions never see it change.
    """
    pg_restore, psql = tools
    conninfo, environment = _libpq(engine.url)
    with engine.connect() as conn:
        taken = _exists(conn, schema)
    hold = quoted(f"gdx_hold_{secrets.token_hex(4)}")
    before = f"ALTER SCHEMA {quoted(schema)} RENAME TO {hold};\n" if taken else ""
    after = f"ALTER SCHEMA {quoted(schema)} RENAME TO {quoted(staging)};\n"
    if taken:
        after += f"ALTER SCHEMA {hold} RENAME TO {quoted(schema)};\n"
    with tempfile.TemporaryFile() as reader_err, tempfile.TemporaryFile() as writer_err:
        reader = subprocess.Popen(
            [pg_restore, "--no-owner", "--file=-", str(path)],
            stdout=subprocess.PIPE,
            stderr=reader_err,
        )
        writer = subprocess.Popen(
            [psql, "--no-psqlrc", "--quiet", "--no-password", "--single-transaction"]
            + ["--set=ON_ERROR_STOP=1", f"--dbname={conninfo}", "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=writer_err,
            env=environment,
        )
        _pipe(reader, writer, before.encode(), after.encode())
        # psql's own error first: pg_restore then only died of the closed pipe; a psql killed
        # (negative status) was stopped because pg_restore failed
        if writer.returncode > 0:
            raise _failure("psql", _text(writer_err), writer.returncode)
        if reader.returncode:
            raise _failure("pg_restore", _text(reader_err), reader.returncode)
        if writer.returncode:
            raise _failure("psql", _text(writer_err), writer.returncode)


def _pipe(reader: subprocess.Popen, writer: subprocess.Popen, before: bytes, after: bytes):
    """Feed `before`, the dump's script and `after` to psql. psql commits at the end of its
    input: when pg_restore fails, psql is killed first, so its transaction rolls back."""
    assert reader.stdout is not None and writer.stdin is not None
    try:
        writer.stdin.write(before)
        shutil.copyfileobj(reader.stdout, writer.stdin, 1 << 20)
        if reader.wait() == 0:
            writer.stdin.write(after)
        else:
            writer.kill()
    except BrokenPipeError:  # psql stopped at an error; its message is on its stderr
        pass
    finally:
        reader.stdout.close()  # pg_restore, if still writing, stops
        try:
            writer.stdin.close()
        except BrokenPipeError:
            pass
        reader.wait()
        writer.wait()


def _text(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def _swap(engine: sa.Engine, staging: str, target: str) -> None:
    """Replace the schema `target` (if any) by `staging`, in one transaction."""
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            if _exists(conn, target):
                old = quoted(f"gdx_replaced_{secrets.token_hex(4)}")
                conn.exec_driver_sql(f"ALTER SCHEMA {quoted(target)} RENAME TO {old}")
                conn.exec_driver_sql(f"DROP SCHEMA {old} CASCADE")
            conn.exec_driver_sql(f"ALTER SCHEMA {quoted(staging)} RENAME TO {quoted(target)}")
    except sa.exc.OperationalError as exc:
        if "lock timeout" not in str(exc):
            raise
        raise BackupError(
            f"schema {target} is in use (no lock within {LOCK_TIMEOUT}): stop `gdx serve`, "
            "the scheduler and loads, then restore again; nothing was restored"
        ) from None
