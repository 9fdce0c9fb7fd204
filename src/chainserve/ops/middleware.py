"""The ASGI middleware of ``add_operations``: it watches each HTTP request (counts,
traces and logs it) but the excluded paths, and the lifespan, for readiness."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainserve.ops import access_log
from chainserve.ops.health import Readiness
from chainserve.server.observers import observe, unobserve

if TYPE_CHECKING:
    from chainserve.ops.metrics import Metrics
    from chainserve.ops.tracing import Tracing

# Other methods are one label value, as OpenTelemetry has it: a client cannot make new ones.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class Exchange:
    """One HTTP request as the operations see it: when it came, its route template
    (once answered), its response's status and how long it took."""

    __slots__ = (
        "_send",
        "arrived",
        "duration",
        "method",
        "path",
        "request_id",
        "route",
        "scope",
        "started",
        "status",
    )

    def __init__(self, scope: Scope, send: Send, request_id: str | None) -> None:
        self.scope = scope
        self._send = send
        self.request_id = request_id
        method = scope["method"]
        self.method = method if method in _METHODS else "_OTHER"
        self.path = route_path(scope)
        self.arrived = time.time()
        self.started = time.perf_counter()
        self.duration = 0.0
        self.status = 500  # what the client gets if the app raises before answering
        self.route: str | None = None

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return self.scope["headers"]  # type: ignore[no-any-return]

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self.request_id is not None:
                header = (access_log.REQUEST_ID, self.request_id.encode())
                message = {**message, "headers": [*message.get("headers", ()), header]}
        await self._send(message)

    def finish(self, routes: Sequence[BaseRoute]) -> None:
        """Note the duration and the route template (None if no route matched)."""
        self.duration = time.perf_counter() - self.started
        route = self.scope.get("route")  # FastAPI's routes say so; Starlette's may not
        path = getattr(route, "path", None)
        if path is None:
            matched = (each for each in routes if each.matches(self.scope)[0] is Match.FULL)
            path = getattr(next(matched, None), "path", None)
        self.route = path


def route_path(scope: Scope) -> str:
    """The request's path within the app (without the ``root_path`` a proxy added)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class OperationsMiddleware:
    """Counts (``metrics``), traces (``tracing``) and logs (``log``) every HTTP request
    but those to ``exclude``; tells ``readiness`` of the lifespan."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        readiness: Readiness,
        metrics: Metrics | None,
        tracing: Tracing | None,
        log: bool,
        exclude: Collection[str],
    ) -> None:
        self.app = app
        self.routes = routes  # the app's, as they are when a request comes
        self.readiness = readiness
        self.metrics = metrics
        self.tracing = tracing
        self.log = log
        self.exclude = frozenset(exclude)
        self.watching = metrics is not None or tracing is not None or log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.readiness.lifespan(self.app, scope, receive, send)
        elif scope["type"] != "http" or not self.watching or route_path(scope) in self.exclude:
            await self.app(scope, receive, send)
        else:
            await self._watch(scope, receive, send)

    async def _watch(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = Exchange(
            scope, send, access_log.request_id(scope["headers"]) if self.log else None
        )
        observed = observe(self.metrics) if self.metrics is not None else None
        span = self.tracing.start(exchange) if self.tracing is not None else None
        error: BaseException | None = None
        try:
            await self.app(scope, receive, exchange.send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            exchange.finish(self.routes)
            if span is not None:
                span.end(exchange, error)
            if observed is not None:
                unobserve(observed)
            if self.metrics is not None:
                self.metrics.request_done(exchange)
            if self.log:
                access_log.write(exchange)
