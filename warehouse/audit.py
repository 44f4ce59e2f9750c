"""The tamper-evident audit log: every data call, append-only and hash-chained.

Each record's `hash` is the SHA-256 of a canonical JSON of all its other columns, `prev_hash`
included, so that altering, deleting or inserting a record breaks the chain at that point. The
first record's `prev_hash` is 64 zeros. `seq` runs 1, 2, 3 … without gaps, assigned under a lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extras
import sqlalchemy as sa

from warehouse.engine import is_postgres, lock_id, writing
from warehouse.tables import audit_log

GENESIS = "0" * 64
LOCK = "audit_log"
CHUNK = 10_000
HASHED = tuple(column.name for column in audit_log.columns if column.name != "hash")
# columns added after records were chained: hashed only where they hold a value, so that every
# record written before them keeps its hash
LATER = frozenset({"action", "person", "department"})
_LENGTHS = {
    column.name: column.type.length
    for column in audit_log.columns
    if isinstance(column.type, sa.String) and column.type.length
}
_INT32 = 2**31 - 1


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Record:
    """One data call (or a person's portal action) as the log keeps it; values are cleaned to
    what the columns hold."""

    method: str
    path: str
    status: int
    at: dt.datetime = field(default_factory=now)
    consumer_id: int | None = None
    consumer: str | None = None
    purpose: str | None = None
    resource: str | None = None
    keys: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    reason: str | None = None
    action: str | None = None
    person: str | None = None
    department: str | None = None

    def __post_init__(self) -> None:
        self.at = utc(self.at)
        self.method = _text(self.method, "method") or "?"
        self.path = _text(self.path, "path") or ""
        self.status = _int(self.status) or 0
        self.consumer_id = _int(self.consumer_id)
        self.consumer = _text(self.consumer, "consumer")
        self.purpose = _text(self.purpose, "purpose")
        self.resource = _text(self.resource, "resource")
        self.keys = _texts(self.keys)
        self.fields = _texts(self.fields)
        self.reason = _text(self.reason, "reason")
        self.action = _text(self.action, "action")
        self.person = _text(self.person, "person")
        self.department = _text(self.department, "department")

    def row(self, seq: int, prev_hash: str) -> dict[str, Any]:
        """The table row at `seq` after `prev_hash`, with its hash."""
        values = {
            "seq": seq,
            "at": self.at,
            "consumer_id": self.consumer_id,
            "consumer": self.consumer,
            "purpose": self.purpose,
            "method": self.method,
            "path": self.path,
            "resource": self.resource,
            "keys": list(self.keys),
            "fields": list(self.fields),
            "status": self.status,
            "reason": self.reason,
            "action": self.action,
            "person": self.person,
            "department": self.department,
            "prev_hash": prev_hash,
        }
        values["hash"] = digest(values)
        return values


@dataclass(frozen=True)
class Verification:
    """What `verify` found: the records checked, the head, and the first bad record if any."""

    records: int
    head: str | None
    bad_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_seq is None


def utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC time; a naive one is taken as UTC (SQLite keeps UTC naive)."""
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: every column except `hash` (a later column only when
    it holds a value), as sorted compact JSON."""
    document = {
        name: _plain(row[name]) for name in HASHED if name not in LATER or row.get(name) is not None
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def digest(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def head(conn: sa.Connection) -> tuple[int, str]:
    """The last record's seq and hash; (0, GENESIS) for an empty log."""
    last = conn.execute(
        sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


def append(conn: sa.Connection, records: Sequence[Record]) -> None:
    """Extend the chain by `records`, in order, in the caller's transaction (one INSERT).

    `conn` should be a write transaction of `warehouse.engine.writing()`: on SQLite that holds
    the single writer's lock from the start; on PostgreSQL the chain's advisory lock is taken
    here, so writers of other processes append one after the other.
    """
    if not records:
        return
    if is_postgres(conn) and conn.dialect.driver == "psycopg2":
        _append_postgres(conn, records)
        return
    if is_postgres(conn):
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id(LOCK))))
    seq, prev_hash = head(conn)
    conn.execute(audit_log.insert(), _chained(records, seq, prev_hash))


def _chained(records: Sequence[Record], seq: int, prev_hash: str) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        seq += 1
        row = record.row(seq, prev_hash)
        prev_hash = row["hash"]
        rows.append(row)
    return rows


_COLUMNS = tuple(column.name for column in audit_log.columns)
_JSON = frozenset(c.name for c in audit_log.columns if isinstance(c.type, sa.JSON))
_LOCK_AND_HEAD = (  # each statement of a query string sees what committed before it ran
    "SELECT pg_advisory_xact_lock(%s); SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
)
_INSERT = f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) VALUES %s"


def _append_postgres(conn: sa.Connection, records: Sequence[Record]) -> None:
    """`append` through the driver: the chain's lock and its head in one round trip, the rows
    in another. The API's audit writer appends at every group commit, and SQLAlchemy's
    statement machinery cost it more than PostgreSQL did."""
    with conn.connection.cursor() as cursor:
        cursor.execute(_LOCK_AND_HEAD, (lock_id(LOCK),))
        last = cursor.fetchone()
        rows = _chained(records, *(last if last else (0, GENESIS)))
        values = [
            tuple(
                json.dumps(row[name], ensure_ascii=False) if name in _JSON else row[name]
                for name in _COLUMNS
            )
            for row in rows
        ]
        psycopg2.extras.execute_values(cursor, _INSERT, values, page_size=len(values))


def write(engine: sa.Engine, records: Sequence[Record]) -> None:
    """Append `records` in a transaction of their own."""
    with writing(engine) as conn:
        append(conn, records)


def rows(conn: sa.Connection, chunk: int = CHUNK) -> Iterator[sa.Row]:
    """Every record in seq order, read `chunk` at a time (keyset pages, never all at once)."""
    after: int | None = None
    while True:
        select = sa.select(audit_log).order_by(audit_log.c.seq).limit(chunk)
        if after is not None:
            select = select.where(audit_log.c.seq > after)
        page = conn.execute(select).all()
        yield from page
        if len(page) < chunk:
            return
        after = page[-1].seq


def verify(conn: sa.Connection, chunk: int = CHUNK) -> Verification:
    """Walk the chain and stop at the first record that is altered, missing or out of place."""
    count, expected, prev_hash = 0, 1, GENESIS
    for row in rows(conn, chunk):
        reason = _fault(row, expected, prev_hash)
        if reason:
            return Verification(count, prev_hash if count else None, row.seq, reason)
        count, expected, prev_hash = count + 1, row.seq + 1, row.hash
    return Verification(count, prev_hash if count else None)


def _fault(row: sa.Row, expected: int, prev_hash: str) -> str | None:
    before = expected - 1
    if row.seq > expected:
        missing = str(expected) if row.seq == expected + 1 else f"{expected}-{row.seq - 1}"
        where = f"follows seq {before}" if before else "is the first record"
        return f"seq {row.seq} {where}: records {missing} are missing (deleted)"
    if row.seq < expected:
        return f"seq {row.seq} is out of sequence (inserted)"
    if row.prev_hash != prev_hash:
        previous = f"the hash of seq {before}" if before else "the genesis hash"
        return (
            f"its prev_hash does not match {previous}: a record before it was deleted, "
            "inserted or rewritten"
        )
    if row.hash != digest(row._mapping):
        return "its hash does not match its content: the record was altered (or forged)"
    return None


def query(
    conn: sa.Connection,
    consumer: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    resource: str | None = None,
    limit: int = 100,
    person: str | None = None,
) -> list[dict[str, Any]]:
    """Records oldest first: of a consumer (by name, or id when all digits), at or after
    `since`, before `until`, of a resource, of a person of the portal; at most `limit`."""
    select = sa.select(audit_log).order_by(audit_log.c.seq).limit(max(limit, 0))
    if consumer is not None:
        match = audit_log.c.consumer == consumer
        if consumer.isdigit() and int(consumer) <= _INT32:
            match = sa.or_(match, audit_log.c.consumer_id == int(consumer))
        select = select.where(match)
    if since is not None:
        select = select.where(audit_log.c.at >= utc(since))
    if until is not None:
        select = select.where(audit_log.c.at < utc(until))
    if resource is not None:
        select = select.where(audit_log.c.resource == resource)
    if person is not None:
        select = select.where(audit_log.c.person == person)
    found = []
    for row in conn.execute(select):
        values = dict(row._mapping)
        values["at"] = utc(values["at"])
        found.append(values)
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _clean(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    # PostgreSQL text holds no NUL; lone surrogates cannot be encoded
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _text(value: object, column: str) -> str | None:
    if value is None:
        return None
    text = _clean(value)
    length = _LENGTHS.get(column)
    return text[:length] if length else text


def _texts(values: Iterable[object] | None) -> list[str]:
    if values is None or isinstance(values, str | bytes):
        return [] if values is None else [_clean(values)]
    try:
        return [_clean(value) for value in values]
    except TypeError:
        return [_clean(values)]


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return number if -_INT32 <= number <= _INT32 else None
