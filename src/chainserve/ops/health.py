"""Probes: ``GET /health`` and ``GET /ok`` (liveness), ``GET /ready`` (readiness).

Liveness does no I/O: the process answers. Readiness is 503 until the app's lifespan
has started up (and again once it shuts down); then it runs the checks registered with
``add_readiness_check`` (the Agent Protocol's database, say), each within
``CHECK_TIMEOUT`` seconds, and names the ones that fail.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("chainserve")

CHECK_TIMEOUT = 2.0  # seconds: a probe must answer before the prober gives up on it
Check = Callable[[], Awaitable[object]]
_READINESS = "chainserve_readiness"  # the app.state attribute holding the app's Readiness


async def alive(request: Request) -> JSONResponse:
    """``GET /health``, ``GET /ok``: the process answers (with LangGraph Platform's body)."""
    return JSONResponse({"ok": True, "services": {}})


class Readiness:
    """Whether an app takes traffic: its lifespan has started up and its checks pass."""

    def __init__(self) -> None:
        self.phase = "starting"  # then "started"; "stopping" once shutdown begins
        self.checks: dict[str, Check] = {}

    async def lifespan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``app``'s lifespan, noting when its startup is over and its shutdown begins."""

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.phase = "stopping"
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.phase = "started"
            await send(message)

        await app(scope, receiving, sending)

    async def endpoint(self, request: Request) -> JSONResponse:
        """``GET /ready``: 200 ``{"status": "ready"}``, or 503 saying why not."""
        if self.phase != "started":
            return JSONResponse({"status": self.phase}, status_code=503)
        names = list(self.checks)
        passed = await asyncio.gather(*(self._passes(name) for name in names))
        failed = [name for name, ok in zip(names, passed, strict=True) if not ok]
        if failed:
            return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def _passes(self, name: str) -> bool:
        # The reasons go to the log, not to the unauthenticated prober.
        try:
            result = self.checks[name]()
            if not inspect.isawaitable(result):
                raise TypeError(f"it returned {type(result).__name__}: make it an async def")
            return await asyncio.wait_for(result, CHECK_TIMEOUT) is not False
        except asyncio.TimeoutError:
            logger.warning("Readiness check %r took longer than %s s", name, CHECK_TIMEOUT)
        except Exception as exc:
            logger.warning("Readiness check %r failed: %s: %s", name, type(exc).__name__, exc)
        return False


def readiness(app: Starlette) -> Readiness:
    """``app``'s readiness, made on first use."""
    found = getattr(app.state, _READINESS, None)
    if found is None:
        found = Readiness()
        setattr(app.state, _READINESS, found)
    return found


def add_readiness_check(app: Starlette, name: str, check: Check) -> None:
    """Make ``GET /ready`` answer 503 naming ``name`` while ``check()`` (an async
    callable) raises, returns False or takes longer than ``CHECK_TIMEOUT`` seconds."""
    if not isinstance(app, Starlette):
        raise TypeError(f"add_readiness_check needs a Starlette or FastAPI app, not {app!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a readiness check needs a name, not {name!r}")
    if not callable(check):
        raise TypeError(f"readiness check {name!r} must be an async callable, not {check!r}")
    checks = readiness(app).checks
    if name in checks:
        raise ValueError(f"this app has a readiness check named {name!r} already")
    checks[name] = check
