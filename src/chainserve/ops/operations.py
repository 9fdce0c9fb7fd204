"""``add_operations``: probes, metrics, traces and access logs on an app."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Collection
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import Route

from chainserve.ops.health import alive, readiness
from chainserve.ops.metrics import Metrics
from chainserve.ops.middleware import OperationsMiddleware
from chainserve.server.lifespan import around_lifespan

if TYPE_CHECKING:
    from chainserve.ops.tracing import Tracing

EXCLUDED = ("/health", "/ok", "/ready", "/metrics")  # neither counted, traced nor logged
# Any of these set asks for traces (unless OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED).
TRACE_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)
_ADDED = "chainserve_operations"  # the app.state attribute saying they are there


def add_operations(
    app: Starlette,
    *,
    metrics: bool | None = None,
    tracing: bool | None = None,
    access_log: bool = False,
    exclude: Collection[str] = EXCLUDED,
) -> None:
    """Serve ``app``'s probes and metrics, trace its requests, log them.

    - ``GET /health`` and ``GET /ok`` (liveness) and ``GET /ready`` (readiness: 503
      until the app's lifespan has started up, then while a check of
      ``add_readiness_check`` fails) are plain routes, ahead of the app's own: the
      app's dependencies (auth) do not guard them.
    - ``metrics``: ``GET /metrics`` for Prometheus; None: if prometheus-client is
      installed, True: an ImportError if it is not.
    - ``tracing``: OpenTelemetry spans of each request and run, sent by OTLP; None: if
      the ``OTEL_*`` variables ask for them (``TRACE_VARIABLES``).
    - ``access_log``: a JSON line per request to the logger ``chainserve.access``, its
      request id also in the ``X-Request-ID`` response header.
    - ``exclude``: paths (within the app) neither counted, traced nor logged.

    Call it once the app has its routes (before it starts).
    """
    if not isinstance(app, Starlette):
        raise TypeError(f"add_operations needs a Starlette or FastAPI app, not {app!r}")
    if getattr(app.state, _ADDED, False):
        raise ValueError("add_operations was called on this app already")
    skipped = _paths(exclude)
    counted = _metrics(metrics)
    traced = _tracing(tracing)
    ready = readiness(app)
    probes = [
        Route("/health", alive, methods=["GET"]),
        Route("/ok", alive, methods=["GET"]),  # ahead of add_graphs' guarded one
        Route("/ready", ready.endpoint, methods=["GET"]),
    ]
    if counted is not None:
        probes.append(Route("/metrics", counted.endpoint, methods=["GET"]))
    app.router.routes[:0] = probes
    if traced is not None:
        around_lifespan(app.router, None, traced.flush)
    app.add_middleware(
        OperationsMiddleware,
        routes=app.router.routes,
        readiness=ready,
        metrics=counted,
        tracing=traced,
        log=access_log,
        exclude=skipped,
    )
    setattr(app.state, _ADDED, True)


def has_operations(app: Starlette) -> bool:
    """Whether ``add_operations`` was called on ``app``."""
    return bool(getattr(app.state, _ADDED, False))


def metrics_installed() -> bool:
    """Whether prometheus-client is there for ``/metrics``."""
    return importlib.util.find_spec("prometheus_client") is not None


def tracing_wanted() -> bool:
    """Whether the ``OTEL_*`` variables ask for traces."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(os.environ.get(name, "").strip() for name in TRACE_VARIABLES)


def _paths(exclude: Collection[str]) -> frozenset[str]:
    if isinstance(exclude, str):
        raise TypeError(f"exclude takes a collection of paths, not the string {exclude!r}")
    for path in exclude:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"exclude takes paths starting with '/', not {path!r}")
    return frozenset(exclude)


def _metrics(wanted: bool | None) -> Metrics | None:
    if wanted is False or (wanted is None and not metrics_installed()):
        return None
    return Metrics()


def _tracing(wanted: bool | None) -> Tracing | None:
    if wanted is False or (wanted is None and not tracing_wanted()):
        return None
    from chainserve.ops.tracing import Tracing  # it imports the OpenTelemetry SDK

    return Tracing()
