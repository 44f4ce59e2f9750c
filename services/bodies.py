"""Request bodies arrive in full and in time, or the request is answered without them.

A client that promises a body and holds it back (a slow or stalled client) is answered 408 once
GDX_BODY_TIMEOUT_SECONDS have passed since its headers; a body larger than MAX_BODY_BYTES is
answered 413 without being read. The portal's upload paths (a department's fixed quarantine
file, its directory entries) take bodies up to GDX_PORTAL_UPLOAD_MB instead. Both answers close
the connection; the app may answer them as a page of its own (`app.state.body_refusal`: the
portal does for its paths), else they are problem+json. The wait is a timer on the event loop,
so a stalled client holds neither a worker thread nor a database connection.
"""

from __future__ import annotations

import asyncio
import re

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import settings
from services.problems import problem

# the largest body a route takes is a batch of 1,000 keys of at most 64 characters: under
# 800 kB even with every character escaped
MAX_BODY_BYTES = 1 << 20
UPLOAD_PATHS = re.compile(r"/portal/(quarantine/[^/]+/upload|entries/import)")
UPLOAD_SETTING = "GDX_PORTAL_UPLOAD_MB"


def upload_limit() -> int:
    """GDX_PORTAL_UPLOAD_MB in bytes."""
    return settings.positive(UPLOAD_SETTING) << 20


def timeout_setting() -> int:
    """GDX_BODY_TIMEOUT_SECONDS, a positive whole number."""
    return settings.positive("GDX_BODY_TIMEOUT_SECONDS")


class BodyGuard:
    """Pure ASGI middleware: reads each request's body (bounded in size and time) before the
    app sees the request, then hands the app the body as one message."""

    def __init__(
        self,
        app: ASGIApp,
        timeout: float,
        limit: int = MAX_BODY_BYTES,
        uploads: int | None = None,
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.limit = limit
        self.uploads = upload_limit() if uploads is None else uploads  # the upload paths' limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = bool(UPLOAD_PATHS.fullmatch(scope.get("path", "")))
        limit = max(self.limit, self.uploads) if upload else self.limit
        if _declared_length(scope) > limit:
            await _refuse(scope, receive, send, 413, _too_large(limit, upload))
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left: there is no one to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await _refuse(scope, receive, send, 413, _too_large(limit, upload))
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            detail = f"the request's body did not arrive in full within {self.timeout:g} s"
            await _refuse(scope, receive, send, 408, detail)
            return
        pending: list[Message] = [
            {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]

        async def replay() -> Message:
            # the body once, then what the server says next (a disconnect)
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int, upload: bool) -> str:
    if upload:
        most = f"{limit >> 20} MB" if limit >= 1 << 20 else f"{limit} bytes"
        return f"the file is larger than {most}, the most an upload may be ({UPLOAD_SETTING})"
    return f"the request's body is larger than {limit} bytes"


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    # the rest of the body may still be on its way: the connection cannot be reused
    page = getattr(getattr(scope.get("app"), "state", None), "body_refusal", None)
    answer: Response | None = page(scope, status, detail) if page is not None else None
    if answer is None:
        answer = problem(status, detail)
    answer.headers["Connection"] = "close"
    await answer(scope, receive, send)
