"""Every data call is audited before its response leaves: a group-committing writer and the
ASGI middleware that holds each /api/v1/ response until its record is committed.

Routes and dependencies describe the call in `request.state.audit`, a dict with the optional
keys `consumer_id`, `consumer`, `purpose`, `resource`, `keys`, `fields` and `reason`. If the
record cannot be committed the caller gets 503 problem+json instead of the response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, InvalidStateError
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import settings
from services import metrics
from services.problems import problem
from warehouse import audit
from warehouse.engine import writing

log = logging.getLogger("gdx.audit")

PREFIX = "/api/v1/"
BATCH_SIZE = 1000
TIMEOUT_SECONDS = 30.0
IDLE_SECONDS = 30.0
REASON_BODY_LIMIT = 65536
_Item = tuple[audit.Record, Future]


class AuditUnavailable(Exception):
    """The call's audit record was not committed: the call must not be answered."""


def commit_ms_setting() -> int:
    """GDX_AUDIT_COMMIT_MS as a whole number of milliseconds; 0 commits without waiting."""
    value = settings.get("GDX_AUDIT_COMMIT_MS").strip()
    if not value.isdigit():
        raise ValueError(
            f"GDX_AUDIT_COMMIT_MS: expected a whole number of milliseconds, got {value!r}"
        )
    return int(value)


class AuditWriter:
    """Group commit: records written within `commit_ms` of each other (at most `batch_size`)
    are appended in one transaction by a background thread; every caller waits for its own.

    The thread starts on the first write and ends after `idle_seconds` without any, or on
    `close()`; a later write starts it again.
    """

    def __init__(
        self,
        engine: sa.Engine,
        commit_ms: int | None = None,
        batch_size: int = BATCH_SIZE,
        timeout: float = TIMEOUT_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        append: Callable[[sa.Connection, list[audit.Record]], None] = audit.append,
    ) -> None:
        self.engine = engine
        self.commit_seconds = (commit_ms_setting() if commit_ms is None else commit_ms) / 1e3
        self.batch_size = max(batch_size, 1)
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self.append = append
        self.commits = 0
        self.records = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def write(self, record: audit.Record) -> None:
        """Return once `record` is committed; raise AuditUnavailable if it was not."""
        future = self.submit(record)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            raise AuditUnavailable(f"no commit within {self.timeout:g} seconds") from None

    def submit(self, record: audit.Record) -> Future:
        """Queue `record`; the future resolves when it is committed (from any thread)."""
        future: Future = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._queue = queue.SimpleQueue()  # after a fork the old one is the parent's
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name="gdx-audit-writer", daemon=True
                )
                self._thread.start()
            self._queue.put((record, future))
        return future

    @property
    def queued(self) -> int:
        """Records waiting for the next commit."""
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self, timeout: float | None = None) -> None:
        """Commit what is queued and stop the thread."""
        with self._lock:
            thread, pending = self._thread, self._queue
            self._thread, self._queue = None, queue.SimpleQueue()
        if thread is not None and thread.is_alive():
            pending.put(None)
            thread.join(timeout)

    def _run(self, pending: queue.SimpleQueue[_Item | None]) -> None:
        while True:
            try:
                item = pending.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if pending.empty():
                        if self._queue is pending:
                            self._thread = None
                        return
                continue
            if item is None:
                return
            batch, stop = self._gather(pending, item)
            self._commit(batch)
            if stop:
                return

    def _gather(
        self, pending: queue.SimpleQueue[_Item | None], first: _Item
    ) -> tuple[list[_Item], bool]:
        batch = [first]
        deadline = time.monotonic() + self.commit_seconds
        while len(batch) < self.batch_size:
            left = deadline - time.monotonic()
            try:
                item = pending.get(timeout=left) if left > 0 else pending.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, batch: list[_Item]) -> None:
        error: BaseException | None = None
        try:
            with writing(self.engine) as conn:
                self.append(conn, [record for record, _ in batch])
            self.commits += 1
            self.records += len(batch)
        except Exception as exc:
            log.exception("audit log commit of %d records failed", len(batch))
            first = str(exc).strip().splitlines()[:1]
            error = AuditUnavailable(f"{type(exc).__name__}: {first[0] if first else ''}")
        for _, future in batch:
            try:
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
            except InvalidStateError:  # the caller gave up waiting
                pass


def record_for(scope: Scope, status: int, context: Any, detail: str | None) -> audit.Record:
    """The audit record of a call: what the routes put in `request.state.audit`, the request
    line and the status; `detail` (of a problem+json error) is the reason if none was set."""
    context = context if isinstance(context, dict) else {}
    path = scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        path += "?" + query.decode("latin-1")
    return audit.Record(
        method=scope.get("method", "?"),
        path=path,
        status=status,
        consumer_id=context.get("consumer_id"),
        consumer=context.get("consumer"),
        purpose=context.get("purpose"),
        resource=context.get("resource"),
        keys=context.get("keys") or [],
        fields=context.get("fields") or [],
        reason=context.get("reason") or (detail if status >= 400 else None),
    )


class AuditMiddleware:
    """Pure ASGI: hold each response under `prefix` until its audit record is committed."""

    def __init__(self, app: ASGIApp, writer: AuditWriter, prefix: str = PREFIX) -> None:
        self.app = app
        self.writer = writer
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._audited(scope):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # the dict request.state writes into
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except Exception:
            failed = problem(500, "internal error")
            record = record_for(scope, 500, state.get("audit"), "internal error")
            await self._answer(scope, receive, send, failed, record)
            raise
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is None:
            failed = problem(500, "internal error: no response")
            record = record_for(scope, 500, state.get("audit"), "internal error: no response")
            await self._answer(scope, receive, send, failed, record)
            return
        status = int(start["status"])
        detail = _detail(start, held) if status >= 400 else None
        record = record_for(scope, status, state.get("audit"), detail)
        try:
            await self.writer.write(record)
        except Exception as exc:
            await _unavailable(scope, receive, send, exc)
            return
        metrics.audited(scope.get("app"))
        for message in _compact(held):
            await send(message)

    def _audited(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return path.startswith(self.prefix)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, response: Response, record: audit.Record
    ) -> None:
        try:
            await self.writer.write(record)
        except Exception as exc:
            await _unavailable(scope, receive, send, exc)
            return
        metrics.audited(scope.get("app"))
        await response(scope, receive, send)


async def _unavailable(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    log.error(
        "call %s %s not answered: audit log unavailable (%s)",
        scope.get("method"),
        scope.get("path"),
        exc,
    )
    response = problem(
        503,
        "the audit log is unavailable, so the call was not answered; try again",
        {"Retry-After": "1"},
    )
    await response(scope, receive, send)


def _detail(start: Message, held: list[Message]) -> str | None:
    headers = dict(start.get("headers") or [])
    if b"json" not in headers.get(b"content-type", b""):
        return None
    body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    if len(body) > REASON_BODY_LIMIT:
        return None
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return None
    return detail if isinstance(detail, str) else None


def _compact(held: list[Message]) -> list[Message]:
    """The start and the body in one message, when that is all the response is."""
    if not all(m["type"] in ("http.response.start", "http.response.body") for m in held):
        return held
    starts = [m for m in held if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    return [*starts[:1], {"type": "http.response.body", "body": body, "more_body": False}]


def install(app: FastAPI, engine: sa.Engine, writer: AuditWriter | None = None) -> AuditWriter:
    """Audit every /api/v1/ call of `app` (as the outermost middleware added so far) and stop
    the writer when the app shuts down. Returns the writer (also `app.state.audit_writer`)."""
    writer = writer or AuditWriter(engine)
    app.state.audit_writer = writer
    app.add_middleware(AuditMiddleware, writer=writer)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            try:
                yield state
            finally:
                await asyncio.to_thread(writer.close)

    app.router.lifespan_context = lifespan
    return writer
