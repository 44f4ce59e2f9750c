"""A department's HTTP JSON API, paged by page number, offset or cursor.

Timeouts on every request; 5xx answers and connection errors are retried with exponential
back-off, 4xx answers are not. A crawl ends on an empty page (servers may cap the page size) or
a missing cursor; a repeated cursor is an error, not a loop. Incremental by a `since` parameter
where the API has one, starting a look-back window before the last value seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
import pyarrow as pa

from connectors import watermark as marks
from connectors.base import ConnectorError, RawBatch, strings
from connectors.limits import Limits

MAX_PAGES = 100_000


class HttpApi:
    kind = "http"
    encoding = None
    empty_ok = True  # an incremental read may find nothing new

    def __init__(
        self,
        connection_url: str,
        path: str,
        records: str = "data",
        paging: str = "page",
        page_size: int = 500,
        cursor_field: str = "next_cursor",
        since_param: str | None = None,
        since_field: str | None = None,
        lookback_minutes: int = 60,
        timeout_seconds: float = 30,
        retries: int = 3,
        state: dict | None = None,
        backoff_seconds: float = 0.5,
        expected: list[str] | None = None,
        limits: Limits | None = None,
    ):
        """`expected`: the columns the source declares, present (as nulls) even when the API
        leaves them out of a record or of the first page; other keys that appear only on later
        pages are not read."""
        self.base, self.headers = _split_connection(connection_url)
        self.url = self.base.rstrip("/") + "/" + path.lstrip("/")
        self.location = self.url
        self.records, self.paging, self.page_size = records, paging, page_size
        self.cursor_field = cursor_field
        self.since_param, self.since_field = since_param, since_field
        self.lookback_minutes = lookback_minutes
        self.timeout, self.retries, self.backoff = timeout_seconds, retries, backoff_seconds
        self.state = dict(state or {})
        self._seen = self.state.get("since")
        self.limits = limits or Limits.from_env()
        self._client = httpx.Client(timeout=timeout_seconds, headers=self.headers)
        self._first = self._page(self._params(start=True))
        self.header: list[str] = self._header(list(expected or []), self._first[records])

    def checksum(self) -> None:
        return None

    def _params(self, start: bool = False, page: int = 1, offset: int = 0, cursor=None) -> dict:
        params: dict = {}
        if self.paging == "page":
            params |= {"page": page, "page_size": self.page_size}
        elif self.paging == "offset":
            params |= {"offset": offset, "limit": self.page_size}
        elif cursor is not None:
            params |= {"cursor": cursor, "limit": self.page_size}
        else:
            params |= {"limit": self.page_size}
        if self.since_param and self.state.get("since") is not None:
            since = marks.rewind(self.state["since"], self.lookback_minutes)
            params[self.since_param] = marks.store(since)
        return params

    def _get(self, params: dict) -> bytes:
        """The body of one page; retried on connection errors and 5xx."""
        for attempt in range(self.retries + 1):
            try:
                with self._client.stream("GET", self.url, params=params) as response:
                    if response.status_code < 400:
                        return self._read(response)
                    status = f"HTTP {response.status_code} {response.reason_phrase}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    raise ConnectorError(f"{self.url}: {status}")
                problem = status
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise ConnectorError(f"{self.url}: {problem} after {self.retries + 1} attempts")

    def _read(self, response: httpx.Response) -> bytes:
        """The whole page within `timeout_seconds` and the page limit: httpx's timeout is per
        read, so a server that trickles a byte at a time would otherwise never time out."""
        ends, size, chunks = time.monotonic() + self.timeout, 0, []
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.limits.page_bytes:
                raise ConnectorError(self.limits.page_too_big(self.url))
            if time.monotonic() > ends:
                raise ConnectorError(
                    f"{self.url}: a page took more than {self.timeout:g} s to arrive "
                    "(timeout_seconds of the source)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _page(self, params: dict) -> dict:
        content = self._get(params)
        try:
            body = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConnectorError(f"{self.url} {urlencode(params)}: the page is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get(self.records), list):
            raise ConnectorError(f"{self.url}: the page has no list under {self.records!r}")
        return body

    def _pages(self) -> Iterator[dict]:
        body, page, offset, cursors = self._first, 1, 0, set()
        for _ in range(MAX_PAGES):
            yield body
            rows = body[self.records]
            if self.paging == "cursor":
                cursor = body.get(self.cursor_field)
                if not cursor:
                    return
                if cursor in cursors:
                    raise ConnectorError(f"{self.url}: the API repeated cursor {cursor!r}")
                cursors.add(cursor)
                body = self._page(self._params(cursor=cursor))
                continue
            if not rows:
                return
            page, offset = page + 1, offset + len(rows)
            body = self._page(self._params(page=page, offset=offset))
        raise ConnectorError(f"{self.url}: more than {MAX_PAGES} pages; is the paging ignored?")

    def _header(self, expected: list[str], rows: list) -> list[str]:
        """The expected columns, then every other key of the first page's records, in order
        of appearance; stops as soon as there are more than the columns limit."""
        names = dict.fromkeys(expected)  # a dict: one lookup per key, in order
        for row in rows:
            if isinstance(row, dict):
                names.update(dict.fromkeys(row))
                self.limits.check_columns(f"{self.url}: the first page's records", len(names))
        header = list(names)
        self.limits.check_header_bytes(f"{self.url}: the first page's record keys", header)
        return header

    def batches(self) -> Iterator[RawBatch]:
        line = 1
        try:
            for body in self._pages():
                rows = body[self.records]
                if not rows:
                    continue
                if not all(isinstance(row, dict) for row in rows):
                    raise ConnectorError(f"{self.url}: records must be JSON objects")
                columns = {name: [_value(row.get(name)) for row in rows] for name in self.header}
                table = strings(columns)
                numbers = pa.array(range(line, line + len(rows)), pa.int64())
                self.limits.check_fields(self.url, table, numbers, line="record")
                if self.since_field:
                    self._seen = marks.newest(
                        (row.get(self.since_field) for row in rows), self._seen
                    )
                yield RawBatch(table, numbers)
                line += len(rows)
        finally:
            self._client.close()

    def next_state(self, current: dict) -> dict:
        if not self.since_field:
            return {}
        return {"since": marks.newest([self._seen], current.get("since"))}


def _split_connection(url: str) -> tuple[str, dict[str, str]]:
    """Base URL and headers: a password in the URL is the token, sent as `Authorization:
    Bearer <token>`, or under the header named by the `auth_header` query parameter."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    header = query.pop("auth_header", "Authorization")
    headers = {}
    if parts.password:
        token = unquote(parts.password)
        headers[header] = f"Bearer {token}" if header == "Authorization" else token
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), "")), headers


def _value(value: object) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
