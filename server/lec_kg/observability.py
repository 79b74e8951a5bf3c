"""Observability: Prometheus metrics in a per-app registry, request ids and the access log."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOG = logging.getLogger("lec_kg.access")
REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The service's metrics, registered in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lec_kg_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "lec_kg_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.query_duration = Histogram(
            "lec_kg_query_duration_seconds",
            "Time the engine took to run and serialize a SPARQL query, by query form.",
            ["form"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.truncated = Counter(
            "lec_kg_truncated_results",
            "Query results cut by the result-size cap.",
            registry=self.registry,
        )
        self.updates = Counter(
            "lec_kg_updates",
            "SPARQL updates, by outcome (committed, rejected).",
            ["outcome"],
            registry=self.registry,
        )
        self.store_quads = Gauge(
            "lec_kg_store_quads",
            "Quads in the store's named graphs (NaN while the store is not ready).",
            registry=self.registry,
        )
        self.ready = Gauge(
            "lec_kg_ready", "1 when the graph is loaded and valid, else 0.", registry=self.registry
        )

    def watch_store(self, quads: Callable[[], float], ready: Callable[[], bool]) -> None:
        """Read the store's size and readiness when the metrics are scraped."""
        self.store_quads.set_function(quads)
        self.ready.set_function(lambda: 1.0 if ready() else 0.0)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


def request_id_of(scope: Scope) -> str:
    """The request id given to this request (set by the middleware)."""
    return str(scope.get("state", {}).get("request_id", "-"))


class ObservabilityMiddleware:
    """Give each request an id (X-Request-Id), count it, time it and write one access-log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.request_duration.labels(route).observe(elapsed)
            query_ms = state.get("query_ms")
            ACCESS_LOG.info(
                'request_id=%s method=%s path="%s" status=%d duration_ms=%.1f query_ms=%s',
                request_id,
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                f"{query_ms:.1f}" if query_ms is not None else "-",
            )
