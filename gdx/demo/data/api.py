"""The transport bureau's licence API, as the demo and the tests serve it: paged JSON, a bearer
token, and `issued_since` for incremental reads."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def serve_licences(
    document: Path, token: str, host: str = "127.0.0.1", port: int = 8765
) -> ThreadingHTTPServer:
    """Start serving `document` (a JSON list of licences) in a background thread."""
    records = json.loads(document.read_text(encoding="utf-8"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            url = urlsplit(self.path)
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self._send(401, {"error": "missing or wrong bearer token"})
            if url.path != "/licences":
                return self._send(404, {"error": f"no such resource {url.path}"})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                page = max(1, int(query.get("page", 1)))
                size = min(1000, max(1, int(query.get("page_size", 100))))
            except ValueError:
                return self._send(400, {"error": "page and page_size must be whole numbers"})
            since = query.get("issued_since", "")
            rows = [r for r in records if (r.get("issued_on") or "") > since]
            chunk = rows[(page - 1) * size : page * size]
            self._send(200, {"data": chunk, "page": page, "total": len(rows)})

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
