"""Fixtures for server tests: the test app, reached in-process and over a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import servers
from apps import build_app
from fastapi import FastAPI
from langchain_core.runnables import RunnableConfig, RunnableLambda
from servers import serve

from chainserve import add_routes


def _echo_config(_: Any, config: RunnableConfig) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key != "callbacks"}


def make_app() -> FastAPI:
    """tests/apps.py's runnables plus routes that show what the server did."""
    app = build_app(add_routes)
    add_routes(
        app,
        RunnableLambda(_echo_config),
        path="/echo_config",
        config_keys=["tags", "metadata", "configurable", "run_id"],
    )
    add_routes(
        app,
        RunnableLambda(lambda x: x + 1).with_types(input_type=int, output_type=int),
        path="/add_one_cb",
        include_callback_events=True,
    )
    return app


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return make_app()


@pytest.fixture(scope="module")
def server_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture(params=["asgi", "uvicorn"])
async def client(request: pytest.FixtureRequest, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the test app, in-process or over a real loopback socket."""
    if request.param == "asgi":
        async with servers.asgi_client(app) as http:
            yield http
    else:
        url = request.getfixturevalue("server_url")
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield http


@pytest.fixture
def asgi_client() -> Callable[..., httpx.AsyncClient]:
    """Factory of in-process clients for apps a test builds itself.

    Use as ``async with asgi_client(app) as http: ...``; keyword arguments go to
    ``httpx.ASGITransport`` (e.g. ``root_path``).
    """

    return servers.asgi_client
