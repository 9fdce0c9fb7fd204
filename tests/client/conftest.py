"""Fixtures for the client tests: served apps, server kinds, and client helpers.

Every parity test runs against four kinds of server: LangServe 0.3.3 and chainserve,
each over a real uvicorn socket and in-process (the async client is swapped for one
with an ``httpx.ASGITransport``; httpx has no sync ASGI transport, so sync methods of
the in-process kinds still use the socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import langserve
import pytest
from apps import build_app
from fastapi import FastAPI
from remote_cases import Served, Server
from servers import serve
from sse_starlette.sse import AppStatus

import chainserve
from chainserve.client import RemoteRunnable

KINDS = ["langserve-socket", "langserve-asgi", "chainserve-socket", "chainserve-asgi"]
ADD_ROUTES = {"langserve": langserve.add_routes, "chainserve": chainserve.add_routes}


def build_served(add_routes: Callable[..., Any]) -> Served:
    runnables: dict[str, Any] = {}

    def recording_add_routes(app: FastAPI, runnable: Any, **kwargs: Any) -> Any:
        runnables[kwargs["path"]] = runnable
        return add_routes(app, runnable, **kwargs)

    return Served(build_app(recording_add_routes), runnables)


def isolated(app: Any) -> Any:
    """``app`` run in an empty context, as in a real server process.

    In-process, the app would otherwise inherit the client's context variables,
    and LangChain would make the server's runs children of the client's run.
    """

    async def call(scope: Any, receive: Any, send: Any) -> None:
        task = contextvars.Context().run(asyncio.ensure_future, app(scope, receive, send))
        await task

    return call


def asgi_client(app: Any) -> httpx.AsyncClient:
    # The app's exceptions become what a socket client would see (a 500, or a
    # stream that just ends) instead of propagating into the test.
    transport = httpx.ASGITransport(app=isolated(app), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport)


@pytest.fixture(scope="session")
def served_apps() -> Iterator[dict[str, Served]]:
    apps = {name: build_served(fn) for name, fn in ADD_ROUTES.items()}
    with contextlib.ExitStack() as stack:
        for served in apps.values():
            served.url = stack.enter_context(serve(served.app))
        yield apps


@pytest.fixture(autouse=True)
def _fresh_sse_exit_event() -> None:
    # sse-starlette keeps one process-global exit event that binds to the first
    # event loop waiting on it; each test (and uvicorn's thread) has its own loop.
    AppStatus.should_exit_event = None


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest, served_apps: dict[str, Served]) -> Server:
    package = request.param.split("-")[0]
    return Server(request.param, served_apps[package])


@pytest.fixture
async def make_remote(server: Server) -> AsyncIterator[Callable[..., RemoteRunnable]]:
    """Build RemoteRunnables for paths of the current server kind."""
    created: list[RemoteRunnable] = []

    def make(path: str, **kwargs: Any) -> RemoteRunnable:
        remote: RemoteRunnable = RemoteRunnable(server.served.url + path, **kwargs)
        if server.in_process:
            remote.async_client = asgi_client(server.served.app)
        created.append(remote)
        return remote

    yield make
    for remote in created:
        await remote.aclose()
