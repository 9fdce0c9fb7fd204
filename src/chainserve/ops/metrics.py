"""Prometheus metrics: an app's requests, its routes' runs, its background runs.

``GET /metrics`` answers them in Prometheus' text format (OpenMetrics when the scraper
asks for it). With ``PROMETHEUS_MULTIPROC_DIR`` set before the process starts, every
worker process writes its values into that folder and whichever answers the scrape
adds them up (prometheus-client's multiprocess mode); ``chainserve serve --workers N``
sets it. prometheus-client is imported only when an app has metrics.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from chainserve.server.errors import RunTimeout
from chainserve.server.observers import BackgroundWatch, RunObserver, RunWatch

if TYPE_CHECKING:
    from chainserve.ops.middleware import Exchange

MULTIPROCESS_VAR = "PROMETHEUS_MULTIPROC_DIR"
# Seconds. Beyond Prometheus' default buckets (10 s at most): streams and model runs last.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_RUN = ("route", "endpoint")


class Metrics(RunObserver):
    """The metrics of one app, observing its requests and runs."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError as exc:
            raise ImportError(
                'metrics need prometheus-client: pip install "chainserve[ops]"'
            ) from exc
        folder = os.environ.get(MULTIPROCESS_VAR)
        if folder is not None and not os.path.isdir(folder):
            raise ValueError(f"{MULTIPROCESS_VAR}={folder!r} is not a folder: make it or unset it")
        self.multiprocess = folder is not None
        self.registry = CollectorRegistry()
        registry = self.registry

        def gauge(name: str, text: str, labels: tuple[str, ...]) -> Any:
            # livesum: the sum over the worker processes alive
            return Gauge(name, text, labels, registry=registry, multiprocess_mode="livesum")

        self.requests = Counter(
            "chainserve_http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "chainserve_http_request_duration_seconds",
            "Seconds from a request's arrival to the end of its response (a whole stream)",
            ("method", "route"),
            registry=registry,
            buckets=BUCKETS,
        )
        self.runs = Counter(
            "chainserve_runs",
            "Runs of a route by endpoint and outcome: success, error, cancelled (the client"
            " left), timeout (504, run_timeout) or refused (503, max_concurrent_runs)",
            (*_RUN, "outcome"),
            registry=registry,
        )
        self.errors = Counter(
            "chainserve_run_errors",
            "Runs that raised, by the exception's class",
            (*_RUN, "type"),
            registry=registry,
        )
        self.in_flight = gauge("chainserve_runs_in_flight", "Runs going on now", _RUN)
        self.streams = gauge("chainserve_streams_open", "Stream responses being written", _RUN)
        self.queued = gauge(
            "chainserve_background_runs_queued",
            "Background runs due but waiting for their thread or a free slot",
            ("graph",),
        )
        self.running = gauge(
            "chainserve_background_runs_running", "Background runs executing", ("graph",)
        )
        self.waits = Histogram(
            "chainserve_background_run_wait_seconds",
            "Seconds a background run waited, from when it was due until it started",
            ("graph",),
            registry=registry,
            buckets=BUCKETS,
        )
        self.durations = Histogram(
            "chainserve_background_run_duration_seconds",
            "Seconds a background run executed, by how it ended",
            ("graph", "status"),
            registry=registry,
            buckets=BUCKETS,
        )

    def request_done(self, exchange: Exchange) -> None:
        route = exchange.route or "unmatched"
        self.requests.labels(exchange.method, route, str(exchange.status)).inc()
        self.latency.labels(exchange.method, route).observe(exchange.duration)

    def run(self, route: str, endpoint: str) -> RunWatch:
        return _CountedRun(self, route, endpoint)

    def refused(self, route: str, endpoint: str) -> None:
        self.runs.labels(route, endpoint, "refused").inc()

    def background_run(self, graph: str) -> BackgroundWatch:
        return _CountedBackgroundRun(self, graph)

    def endpoint(self, request: Request) -> Response:
        """``GET /metrics`` (sync: Starlette runs it in a thread, as it reads files
        in multiprocess mode)."""
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(self._collected()), media_type=content_type)

    def _collected(self) -> Any:
        if not self.multiprocess:
            return self.registry
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()  # a new one per scrape, as prometheus-client says
        MultiProcessCollector(registry)
        return registry


class _CountedRun(RunWatch):
    __slots__ = ("_labels", "_metrics", "_streaming")

    def __init__(self, metrics: Metrics, route: str, endpoint: str) -> None:
        self._metrics = metrics
        self._labels = (route, endpoint)
        self._streaming = False
        metrics.in_flight.labels(route, endpoint).inc()

    def streaming(self) -> None:
        self._streaming = True
        self._metrics.streams.labels(*self._labels).inc()

    def ended(self, error: BaseException | None) -> None:
        metrics = self._metrics
        metrics.in_flight.labels(*self._labels).dec()
        if self._streaming:
            metrics.streams.labels(*self._labels).dec()
        outcome = _outcome(error)
        metrics.runs.labels(*self._labels, outcome).inc()
        if outcome == "error":
            metrics.errors.labels(*self._labels, type(error).__name__).inc()


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "success"
    if isinstance(error, RunTimeout):
        return "timeout"
    if isinstance(error, (ClientDisconnect, asyncio.CancelledError)):
        return "cancelled"
    return "error"


class _CountedBackgroundRun(BackgroundWatch):
    __slots__ = ("_due", "_graph", "_metrics", "_started")

    def __init__(self, metrics: Metrics, graph: str) -> None:
        self._metrics = metrics
        self._graph = graph
        self._due = time.perf_counter()
        self._started: float | None = None
        metrics.queued.labels(graph).inc()

    def started(self) -> None:
        self._started = time.perf_counter()
        metrics = self._metrics
        metrics.queued.labels(self._graph).dec()
        metrics.running.labels(self._graph).inc()
        metrics.waits.labels(self._graph).observe(self._started - self._due)

    def ended(self, status: str) -> None:
        metrics = self._metrics
        if self._started is None:  # cancelled while it waited
            metrics.queued.labels(self._graph).dec()
            return
        metrics.running.labels(self._graph).dec()
        duration = time.perf_counter() - self._started
        metrics.durations.labels(self._graph, status).observe(duration)
