"""Observability: Prometheus metrics in a per-app registry, request ids and the access log."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import TextIO

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOG = logging.getLogger("lec_kg.access")
REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_LABEL_SETS = 1024  # label sets whose metric children are remembered
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
        self._labelled: dict[tuple, object] = {}
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

    def labelled(self, metric, *labels: str):
        """`metric.labels(*labels)`, looked up once per label set (prometheus_client takes a
        lock and builds tuples on every call); at most MAX_LABEL_SETS are remembered."""
        key = (id(metric), labels)  # the metrics live as long as this object
        child = self._labelled.get(key)
        if child is None:
            child = metric.labels(*labels)
            if len(self._labelled) < MAX_LABEL_SETS:
                self._labelled[key] = child
        return child

    def watch_store(self, quads: Callable[[], float], ready: Callable[[], bool]) -> None:
        """Read the store's size and readiness when the metrics are scraped."""
        self.store_quads.set_function(quads)
        self.ready.set_function(lambda: 1.0 if ready() else 0.0)

    def watch_result_cache(self, stats: Callable[[], dict[str, int] | None]) -> None:
        """Report the result cache (hits, misses, bytes and entries kept) when scraped."""
        self.registry.register(_ResultCacheCollector(stats))

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


class BufferedLineHandler(logging.Handler):
    """A log handler that writes its lines in batches: when FLUSH_BYTES have gathered, when a
    record of WARNING or above comes, at least every FLUSH_S (a timer thread), and at exit.

    For the access log, one line per request: a write system call per line cost more than the
    line (the same trade as nginx's `access_log ... buffer=32k flush=1s`). A crash can lose
    the last second of access lines, never an error line. Not the standard library's
    MemoryHandler: it hands each record to its target on flush, one write and flush per line,
    and has no timer.
    """

    FLUSH_BYTES = 32_768
    FLUSH_S = 1.0

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: list[str] = []
        self._size = 0
        self._lock = threading.RLock()  # logging.Handler's own `lock` is typed Optional
        self._stopping = threading.Event()
        threading.Thread(target=self._tick, name="lec-kg-log-flush", daemon=True).start()
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            urgent = (
                record.levelno >= logging.WARNING
                or self._size >= self.FLUSH_BYTES
                or self._stopping.is_set()  # closed: every line at once
            )
        if urgent:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines, self._size = self._lines, [], 0
        if lines:
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("".join(lines))
                self.stream.flush()

    def close(self) -> None:
        self._stopping.set()
        self.flush()
        super().close()

    def _tick(self) -> None:
        while not self._stopping.wait(self.FLUSH_S):
            self.flush()


class _ResultCacheCollector:
    """Reads the engine's result-cache counts at scrape time (nothing while it has none)."""

    def __init__(self, stats: Callable[[], dict[str, int] | None]) -> None:
        self.stats = stats

    def describe(self) -> list:
        return []  # unknown until the engine exists

    def collect(self):
        try:
            found = self.stats()
        except Exception:  # a scrape must never fail because of a count
            found = None
        if not found:
            return
        for outcome in ("hits", "misses"):
            yield CounterMetricFamily(
                f"lec_kg_result_cache_{outcome}",
                f"Queries answered {'from' if outcome == 'hits' else 'without'} a result kept "
                "for the current data version.",
                value=found[outcome],
            )
        yield GaugeMetricFamily(
            "lec_kg_result_cache_bytes",
            "Bytes the kept results take (bodies, query texts, overhead).",
            value=found["bytes"],
        )
        yield GaugeMetricFamily(
            "lec_kg_result_cache_entries", "Results kept.", value=found["entries"]
        )


def request_id_of(scope: Scope) -> str:
    """The request id given to this request (set by the middleware)."""
    return str(scope.get("state", {}).get("request_id", "-"))


class ObservabilityMiddleware:
    """Give each request an id (X-Request-Id), count it, time it and write one access-log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(11)  # random per process; the counter makes ids unique

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
        if not (incoming and _SAFE_REQUEST_ID.match(incoming)):
            incoming = f"{self._id_prefix}{next(self._ids):010x}"
        request_id = incoming
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics = self.metrics
            metrics.labelled(metrics.requests, route, scope["method"], str(status)).inc()
            metrics.labelled(metrics.request_duration, route).observe(elapsed)
            query_ms = state.get("query_ms")
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                ACCESS_LOG.info(
                    'request_id=%s method=%s path="%s" status=%d duration_ms=%.1f query_ms=%s',
                    request_id,
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    f"{query_ms:.1f}" if query_ms is not None else "-",
                )
