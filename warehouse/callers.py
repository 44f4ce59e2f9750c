"""The API's callers, cached per process and forgotten the moment their access changes.

Every data call needs its caller: the live consumer holding the key and its grants for the
declared purpose (`grants.caller`). On PostgreSQL a server process keeps them, per key hash
and purpose, instead of reading them on every call; what makes that safe:

- `gdx init` puts a trigger on the consumers and the access requests that notifies the channel
  `tables.ACCESS_CHANNEL` after every statement changing them, whoever writes (the CLI, the
  portal, another server process, psql); PostgreSQL delivers it when the writer commits.
- A thread of each server process LISTENs on a connection of its own. Any notification empties
  the cache; a call also takes in what has arrived on that connection before it trusts an
  entry, so a revocation committed before the call reached the server is seen by the call.
- While that connection is not there (start-up, lost, the triggers missing) the cache is not
  used at all: every call reads the database, as without a cache. The thread reconnects, and
  the cache is emptied before it is trusted again.
- An entry is used for at most `TTL_SECONDS` and never past the earliest end of the grants it
  holds; an entry read before an invalidation is never stored after it (a generation count).

SQLite (the embedded default) caches nothing: `for_engine` gives None and calls read as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from warehouse import grants
from warehouse.consumers import Consumer, hash_key
from warehouse.tables import ACCESS_CHANNEL, ACCESS_TABLES, ACCESS_TRIGGER

log = logging.getLogger("gdx.callers")

TTL_SECONDS = 60.0  # the safety net: no entry is used longer, notified or not
MAX_ENTRIES = 10_000  # emptied when full: a flood of keys cannot grow the process
HEARTBEAT_SECONDS = 5.0  # the listener looks at its connection at least this often
#: libpq's TCP keepalives on the listening connection: a silent peer is found in about 11 s
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between reconnections, the last repeated

Found = tuple[Consumer, grants.Held | None]


@dataclass(frozen=True)
class _Entry:
    found: Found
    until: float  # time.monotonic() after which it is read again
    ends: dt.datetime | None  # the earliest end of the grants it holds


class Callers:
    """`grants.caller` with a cache invalidated by PostgreSQL notifications (see the module)."""

    def __init__(
        self, engine: sa.Engine, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str | None], _Entry] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._listening = None  # the psycopg2 connection that LISTENs, while it is trusted
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None
        self.connects = 0  # how often the listener (re)connected, for the tests

    # --- the calls ----------------------------------------------------------------------------

    def caller(self, conn: sa.Connection, key: str, service_item: str | None, at: dt.datetime):
        """As `grants.caller(conn, key, service_item, at)`, from the cache when it is trusted."""
        digest = hash_key(key)
        with self._lock:
            trusted = self._take_notifications()
            generation = self._generation
            entry = self._entries.get((digest, service_item)) if trusted else None
        if entry is not None and entry.until > time.monotonic():
            if entry.ends is None or at < entry.ends:
                return entry.found
        found = grants.caller_by_hash(conn, digest, service_item, at)
        if trusted and found is not None:
            self._keep((digest, service_item), found, generation)
        return found

    @property
    def trusted(self) -> bool:
        """Whether calls use the cache now (the listener is connected and up to date)."""
        with self._lock:
            return self._take_notifications()

    def _keep(self, key: tuple[str, str | None], found: Found, generation: int) -> None:
        held = found[1]
        ends = min((row.expires_at for row in held.rows), default=None) if held else None
        entry = _Entry(found, time.monotonic() + self.ttl, ends)
        with self._lock:
            # what arrived while it was read counts: a change committed meanwhile empties
            if not self._take_notifications() or generation != self._generation:
                return  # invalidated while it was read: it may be stale already
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = entry

    def _take_notifications(self) -> bool:
        """(Under the lock.) Empty the cache if a notification has arrived; False when the
        listening connection is not there or turns out to be gone (then the cache is not
        used until the listener has reconnected)."""
        connection = self._listening
        if connection is None:
            return False
        try:
            connection.poll()
        except Exception as exc:
            self._forget(f"the listening connection is gone: {exc}")
            return False
        if connection.notifies:
            connection.notifies.clear()
            self._invalidate()
        return True

    def _invalidate(self) -> None:
        self._entries.clear()
        self._generation += 1

    def _forget(self, why: str) -> None:
        """(Under the lock.) Stop trusting the cache: the listener reconnects."""
        if self._listening is not None:
            log.warning("API caller cache off until the listener reconnects: %s", why)
            self._listening = None
        self._invalidate()
        try:
            self._wake_w.send(b"x")  # the listener gives the connection up and reconnects
        except OSError:
            pass  # closed: the cache has stopped

    # --- the listener -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="gdx-callers", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            self._listening = None
            self._invalidate()
        self._wake_r.close()
        self._wake_w.close()

    def _connect(self):
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams.setdefault("connect_timeout", 10)
        for name, value in KEEPALIVES.items():
            cparams.setdefault(name, value)
        connection = self.engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {ACCESS_CHANNEL}")
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = %s "
                "AND tgrelid = ANY(ARRAY["
                + ", ".join(["to_regclass(%s)"] * len(ACCESS_TABLES))
                + "])",
                (ACCESS_TRIGGER, *ACCESS_TABLES),
            )
            (triggers,) = cursor.fetchone()
        if triggers != len(ACCESS_TABLES):
            connection.close()
            raise RuntimeError(f"the triggers {ACCESS_TRIGGER} are missing: run `gdx init`")
        return connection

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            connection = None
            try:
                connection = self._connect()
                with self._lock:
                    self._invalidate()  # whatever happened while nobody listened
                    self._listening = connection
                    self.connects += 1
                failures = 0
                self._serve(connection)
            except Exception as exc:
                if failures == 0 and not self._stop.is_set():
                    why = (str(exc).strip().splitlines() or [repr(exc)])[0]
                    log.warning("API caller cache off, reconnecting: %s", why)
            finally:
                with self._lock:
                    if self._listening is connection:
                        self._listening = None
                        self._invalidate()
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:
                        pass
            self._stop.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1

    def _serve(self, connection) -> None:
        """Take in notifications until the connection fails, is given up or we stop. A dead
        peer shows as an error of `poll` (TCP keepalives find a silent one); nothing here
        blocks the calls, which take the lock only to poll without waiting."""
        while not self._stop.is_set():
            ready, _, _ = select.select([connection, self._wake_r], [], [], HEARTBEAT_SECONDS)
            if self._wake_r in ready:
                self._wake_r.recv(4096)
            with self._lock:
                if self._listening is not connection or not self._take_notifications():
                    return  # given up by a call that found it gone, or gone now


def for_engine(engine: sa.Engine) -> Callers | None:
    """The cache for the API server's `engine`: on PostgreSQL only (see the module)."""
    return Callers(engine) if engine.dialect.name == "postgresql" else None
