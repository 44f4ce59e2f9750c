"""Request bodies arrive in full and in time, or the request is answered without them.

A client that promises a body and holds it back (a slow or stalled client) is answered 408 once
GDX_BODY_TIMEOUT_SECONDS have passed since its headers; a body larger than MAX_BODY_BYTES is
answered 413 without being read. Both answers close the connection. The wait is a timer on the
event loop, so a stalled client holds neither a worker thread nor a database connection.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.problems import problem
from warehouse import settings

# the largest body a route takes is a batch of 1,000 keys of at most 64 characters: under
# 800 kB even with every character escaped
MAX_BODY_BYTES = 1 << 20


def timeout_setting() -> int:
    """GDX_BODY_TIMEOUT_SECONDS, a positive whole number."""
    return settings.positive("GDX_BODY_TIMEOUT_SECONDS")


class BodyGuard:
    """Pure ASGI middleware: reads each request's body (bounded in size and time) before the
    app sees the request, then hands the app the body as one message."""

    def __init__(self, app: ASGIApp, timeout: float, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.timeout = timeout
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.limit:
            await _refuse(scope, receive, send, 413, self._too_large())
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
                    if size > self.limit:
                        await _refuse(scope, receive, send, 413, self._too_large())
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

    def _too_large(self) -> str:
        return f"the request's body is larger than {self.limit} bytes"


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    # the rest of the body may still be on its way: the connection cannot be reused
    await problem(status, detail, {"Connection": "close"})(scope, receive, send)
