"""Prometheus metrics of the API, one registry per app, served at `GET /metrics`.

- `gdx_http_requests_total{method,route,status}`: every request, by route template
  (`/api/v1/resources/population.person/records/{id_number}`; no route: `unmatched`);
- `gdx_http_request_duration_seconds{route}`: its duration (histogram, 1 ms to 1 s);
- `gdx_denials_total{reason}`: calls refused, by reason (`DENIAL_REASONS`), counted by `denied`;
- `gdx_rows_served_total{resource}`: records served, counted by `served`;
- `gdx_audit_records_total`: audit records written, counted by `audited`;
- and the `process_*` metrics of the serving process.

`/metrics` needs no API key: firewall it (let only the Prometheus server reach it). With
`gdx serve --workers N` (N > 1) `gdx serve` sets PROMETHEUS_MULTIPROC_DIR: every worker writes its
values into files there and a scrape of any worker sums them all (prometheus_client's
multiprocess mode; no `process_*` metrics then, as those are of one process). There are no
gauges; a new one needs a `multiprocess_mode` (e.g. "livesum").
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DENIAL_REASONS = (
    "unauthenticated",  # no or an unknown API key (401)
    "forbidden",  # a valid key without the role the call needs (403)
    "rate_limited",  # over GDX_RATE_LIMIT (429)
    "no_purpose",  # the call did not say what it needs the data for
    "bad_purpose",  # a purpose that is not one of the consumer's service items
    "not_shared",  # the resource or field is not shared with this consumer
    "no_grant",  # a conditional resource without an approved access request
    "grant_expired",  # the approved period is over
    "grant_revoked",  # the provider revoked the grant
    "not_found",  # no such record or resource (404)
    "bad_request",  # malformed key, time or parameters (400, 422)
)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


MAX_CHILDREN = 4096  # kept label children of observe (methods × route templates × statuses)


class Metrics:
    """The metrics of one app, in a registry of their own (not the global default)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gdx_http_requests",
            "HTTP requests by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "gdx_http_request_duration_seconds",
            "Time from a request's arrival to its response's end, by route template.",
            ("route",),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.denials = Counter(
            "gdx_denials", "Calls refused, by reason.", ("reason",), registry=self.registry
        )
        for reason in DENIAL_REASONS:
            self.denials.labels(reason)  # every reason shows, from 0
        self.rows_served = Counter(
            "gdx_rows_served",
            "Records served to consumers, by resource.",
            ("resource",),
            registry=self.registry,
        )
        self.audit_records = Counter(
            "gdx_audit_records", "Audit records written.", registry=self.registry
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # the folder the workers of `gdx serve --workers N` share (None: this process only)
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if self.multiprocess_dir is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count a finished request."""
        key = (method if method in METHODS else "other", route, status)
        counted = self._children.get(key)
        if counted is None:  # prometheus_client's labels() takes a lock and builds a key a call
            counted = (self.requests.labels(*key[:2], str(status)), self.duration.labels(route))
            if len(self._children) < MAX_CHILDREN:
                self._children[key] = counted
        counted[0].inc()
        counted[1].observe(seconds)

    def latest(self) -> bytes:
        """The metrics in the Prometheus text format: of every worker with multiprocess mode."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)


class MetricsMiddleware:
    """Pure ASGI middleware: times every HTTP request and counts it by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # when the app raises before it responds

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # the router puts the matched route into the same scope
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)


def install(app: FastAPI) -> Metrics:
    """Give the app its metrics (`app.state.metrics`) and measure every request."""
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return metrics


def of(target: Request | HTTPConnection | FastAPI | Any) -> Metrics | None:
    """The metrics of an app or of a request's app (None: metrics not installed)."""
    app = target.app if isinstance(target, HTTPConnection) else target
    return getattr(getattr(app, "state", None), "metrics", None)


def denied(target: Request | FastAPI, reason: str) -> None:
    """Count a refused call; `reason` is one of DENIAL_REASONS."""
    if reason not in DENIAL_REASONS:
        raise ValueError(f"reason: expected one of {', '.join(DENIAL_REASONS)}, got {reason!r}")
    metrics = of(target)
    if metrics is not None:
        metrics.denials.labels(reason).inc()
    if isinstance(target, HTTPConnection):
        target.state.denial_counted = True


#: The reason of a refusal no route named, by status (problems.py counts those).
REASON_OF_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    422: "bad_request",
    429: "rate_limited",
}


def served(target: Request | FastAPI, resource: str, rows: int = 1) -> None:
    """Count records of a resource served to a consumer."""
    metrics = of(target)
    if metrics is not None and rows:
        metrics.rows_served.labels(resource).inc(rows)


def audited(target: Request | FastAPI, n: int = 1) -> None:
    """Count audit records written."""
    metrics = of(target)
    if metrics is not None and n:
        metrics.audit_records.inc(n)


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Metrics in the Prometheus text format (no API key: firewall it)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
async def prometheus_metrics(request: Request) -> Response:
    metrics = of(request)
    body = metrics.latest() if metrics is not None else b""
    return Response(body, media_type=CONTENT_TYPE_LATEST)
