"""RemoteRunnable with replaced clients, and the finalizer that closes its own clients.

LangServe users test servers with ``remote.sync_client = TestClient(app)`` (Starlette's,
built on httpx2, an API-compatible fork of httpx) and an in-process async client; any
client with httpx's ``post``/``stream`` API must work, against either package's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import langserve
import pytest
from sse_starlette.sse import AppStatus
from starlette.testclient import TestClient

from chainserve.client import RemoteRunnable
from chainserve.exceptions import (
    IncompleteStreamError,
    InternalServerError,
    RemoteTimeoutError,
    RequestRejectedError,
    ServerUnreachableError,
)

TESTS = Path(__file__).parents[1]
IN_PROCESS = "http://testserver"  # any host: in-process clients hand requests to the app
KINDS = ["testclient-httpx2", "post-stream-only"]
PACKAGES = ["chainserve", "langserve"]

# The server's stream_log runs astream_log, deprecated in langchain-core.
pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")


class PostStreamOnly:
    """A client with nothing but httpx's ``post`` and ``stream`` (and closing)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.post, self.stream = client.post, client.stream

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        await self._client.aclose()


def swap_clients(remote: RemoteRunnable, kind: str, app: Any) -> None:
    if kind == "testclient-httpx2":
        # LangServe's app lets the runnable's exception escape after its 500 response.
        remote.sync_client = TestClient(app, raise_server_exceptions=False)
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        remote.async_client = httpx2.AsyncClient(transport=transport)
    else:  # plain httpx clients over the loopback socket
        remote.sync_client = PostStreamOnly(httpx.Client())
        remote.async_client = PostStreamOnly(httpx.AsyncClient())


@pytest.fixture(params=[f"{k}/{p}" for k in KINDS for p in PACKAGES])
async def make_remote(request, served_apps) -> AsyncIterator[Callable[[str], RemoteRunnable]]:
    """``make_remote(path)``: a RemoteRunnable with swapped clients, for each client
    kind and server package."""
    kind, package = request.param.split("/")
    served = served_apps[package]
    created: list[RemoteRunnable] = []

    def make(path: str) -> RemoteRunnable:
        base = IN_PROCESS if kind == "testclient-httpx2" else served.url
        remote: RemoteRunnable = RemoteRunnable(base + path)
        swap_clients(remote, kind, served.app)
        created.append(remote)
        return remote

    yield make
    for remote in created:
        await remote.aclose()


async def collect(chunks: AsyncIterator[Any]) -> list[Any]:
    return [chunk async for chunk in chunks]


# -- methods and errors ---------------------------------------------------------------


def test_sync_methods(make_remote) -> None:
    assert make_remote("/joke").invoke({"topic": "x"}) == "Why did the chicken cross the road?"
    assert make_remote("/add_one").batch([1, 2]) == [2, 3]
    assert list(make_remote("/words").stream("a b")) == ["a|", "b|"]


async def test_async_methods(make_remote) -> None:
    assert await make_remote("/add_one").ainvoke(1) == 2
    assert await make_remote("/add_one").abatch([1, 2]) == [2, 3]
    assert await collect(make_remote("/words").astream("a b")) == ["a|", "b|"]
    log = await collect(make_remote("/add_one").astream_log(1, diff=False))
    assert log[-1].state["final_output"] == 2
    events = await collect(make_remote("/add_one").astream_events(1, version="v2"))
    assert (events[-1]["event"], events[-1]["data"]["output"]) == ("on_chain_end", 2)


def test_sync_errors(make_remote) -> None:
    with pytest.raises(RequestRejectedError) as rejected:
        make_remote("/add_one").invoke("not a number")
    assert rejected.value.status_code == 422
    with pytest.raises(InternalServerError):
        make_remote("/fail").invoke(1)
    received: list[Any] = []
    with pytest.raises(InternalServerError):
        received.extend(make_remote("/fail_mid_stream").stream(1))
    assert received == [1]


async def test_async_errors(make_remote) -> None:
    with pytest.raises(RequestRejectedError):
        await make_remote("/add_one").ainvoke("not a number")
    with pytest.raises(InternalServerError):
        await make_remote("/fail").ainvoke(1)
    received: list[Any] = []
    with pytest.raises(InternalServerError):
        async for chunk in make_remote("/fail_mid_stream").astream(1):
            received.append(chunk)
    assert received == [1]
    with pytest.raises(InternalServerError):
        await collect(make_remote("/fail").astream_log(1))
    with pytest.raises(InternalServerError):
        await collect(make_remote("/fail").astream_events(1, version="v2"))


def fresh_sse_exit_event() -> None:
    # sse-starlette (LangServe's server) binds a process-global event to the first
    # event loop that streams; TestClient runs each request on a loop of its own.
    AppStatus.should_exit_event = None


def with_base_url(cls: type, app: Any) -> Any:
    """A ``cls`` client whose clients have the ``base_url`` LangServe's client needs."""
    url = IN_PROCESS + "/add_one"
    remote = cls(url)
    remote.sync_client = TestClient(app, base_url=url, raise_server_exceptions=False)
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    remote.async_client = httpx2.AsyncClient(transport=transport, base_url=url)
    return remote


async def results_of(remote: Any) -> list[Any]:
    results = [remote.invoke(1), remote.batch([1, 2])]
    fresh_sse_exit_event()
    results += [list(remote.stream(1)), await remote.ainvoke(1), await remote.abatch([1, 2])]
    fresh_sse_exit_event()
    results.append(await collect(remote.astream(1)))
    # LangServe raises httpx2's error: it translates only httpx's.
    with pytest.raises((httpx.HTTPStatusError, httpx2.HTTPStatusError)) as rejected:
        remote.invoke("not a number")
    results.append(rejected.value.response.status_code)
    remote.sync_client.close()
    await remote.async_client.aclose()
    return results


@pytest.mark.parametrize("package", PACKAGES)
async def test_results_match_langserves_client(served_apps, package: str) -> None:
    app = served_apps[package].app
    expected = await results_of(with_base_url(langserve.RemoteRunnable, app))
    assert await results_of(with_base_url(RemoteRunnable, app)) == expected


# -- errors raised by httpx2 clients ----------------------------------------------------


def test_credentials_are_redacted_from_errors_of_a_testclient(served_apps) -> None:
    remote = RemoteRunnable("http://user:pw-secret@testserver/add_one")
    remote.sync_client = TestClient(served_apps["chainserve"].app, headers={"X-Api-Key": "k3y"})
    with pytest.raises(RequestRejectedError) as info:
        remote.invoke("not a number")
    error = info.value
    assert isinstance(error.request, httpx.Request)
    for request in (error.request, error.response.request):
        assert request.headers["x-api-key"] == "<redacted>"
        assert request.headers["authorization"] == "<redacted>"  # from the URL's password
    text = f"{error} {error.request.url} {error.request.headers}"
    assert "k3y" not in text and "pw-secret" not in text


class Failing:
    """An httpx2 mock transport that raises ``error`` on every request."""

    def __init__(self, error: type[Exception]) -> None:
        self.error, self.attempts = error, 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.attempts += 1
        raise self.error("boom", request=request)


@pytest.mark.parametrize("method", ["invoke", "stream"])
def test_httpx2_connect_errors_are_retried(method: str) -> None:
    failing = Failing(httpx2.ConnectError)
    remote = RemoteRunnable("http://testserver/add_one", max_retries=2)
    remote.sync_client = httpx2.Client(transport=httpx2.MockTransport(failing))
    with pytest.raises(ServerUnreachableError, match="Cannot connect to POST http://testserver"):
        list(remote.stream(1)) if method == "stream" else remote.invoke(1)
    assert failing.attempts == 3


async def test_httpx2_async_errors_are_translated() -> None:
    remote = RemoteRunnable("http://testserver/add_one", max_retries=1)
    connect = Failing(httpx2.ConnectTimeout)
    remote.async_client = httpx2.AsyncClient(transport=httpx2.MockTransport(connect))
    with pytest.raises(RemoteTimeoutError):
        await remote.ainvoke(1)
    assert connect.attempts == 2
    read = Failing(httpx2.ReadTimeout)
    remote.async_client = httpx2.AsyncClient(transport=httpx2.MockTransport(read))
    with pytest.raises(RemoteTimeoutError):
        await collect(remote.astream(1))
    assert read.attempts == 1  # the request may have reached the server: no retry


class BrokenStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """One data event, then the connection breaks."""

    chunk = b"event: data\r\ndata: 1\r\n\r\n"

    def __iter__(self) -> Iterator[bytes]:
        yield self.chunk
        raise httpx2.ReadError("connection reset")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.chunk
        raise httpx2.ReadError("connection reset")


def broken_stream(request: httpx2.Request) -> httpx2.Response:
    headers = {"content-type": "text/event-stream"}
    return httpx2.Response(200, headers=headers, stream=BrokenStream())


async def test_httpx2_stream_broken_off_keeps_the_chunks() -> None:
    remote = RemoteRunnable("http://testserver/add_one")
    remote.sync_client = httpx2.Client(transport=httpx2.MockTransport(broken_stream))
    remote.async_client = httpx2.AsyncClient(transport=httpx2.MockTransport(broken_stream))
    received: list[Any] = []
    with pytest.raises(IncompleteStreamError, match="broke off"):
        received.extend(remote.stream(1))
    with pytest.raises(IncompleteStreamError, match="broke off"):
        async for chunk in remote.astream(1):
            received.append(chunk)
    assert received == [1, 1]


# -- closing on garbage collection ------------------------------------------------------


@contextlib.contextmanager
def strict_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def clients_of(remote: RemoteRunnable) -> tuple[Any, Any]:
    return remote.sync_client, remote.async_client


def test_sync_code_closes_both_clients(served_apps) -> None:
    remote = RemoteRunnable(served_apps["chainserve"].url + "/add_one")
    user_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(user_loop)
    try:
        assert remote.invoke(1) == 2
        assert user_loop.run_until_complete(remote.ainvoke(1)) == 2
        with strict_warnings():
            clients = clients_of(remote)
            del remote
            gc.collect()
            assert [client.is_closed for client in clients] == [True, True]
            assert asyncio.get_event_loop() is user_loop  # neither replaced nor unset
            user_loop.run_until_complete(asyncio.sleep(0))  # runs the sockets' closing
            user_loop.close()
            gc.collect()
    finally:
        asyncio.set_event_loop(None)
        user_loop.close()


async def test_async_code_closes_both_clients(served_apps) -> None:
    remote = RemoteRunnable(served_apps["chainserve"].url + "/add_one")
    assert remote.invoke(1) == 2
    assert await remote.ainvoke(1) == 2
    with strict_warnings():
        sync_client, async_client = clients_of(remote)
        del remote
        gc.collect()
        assert sync_client.is_closed
        for _ in range(100):  # the async client is closed by a task on this loop
            if async_client.is_closed:
                break
            await asyncio.sleep(0.01)
        assert async_client.is_closed
        await asyncio.sleep(0.01)  # the task's end
        gc.collect()


def test_connections_of_a_closed_loop_do_not_make_the_finalizer_fail(served_apps) -> None:
    remote = RemoteRunnable(served_apps["chainserve"].url + "/add_one")
    assert asyncio.run(remote.ainvoke(1)) == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clients = clients_of(remote)
        del remote
        gc.collect()
        gc.collect()
    assert [client.is_closed for client in clients] == [True, True]
    # asyncio cannot close a connection once its loop is closed: it closes the socket
    # when it collects the connection, with a ResourceWarning "unclosed ...", whether
    # or not anything tried to close it before.
    unexpected = [w for w in caught if not str(w.message).startswith("unclosed")]
    assert unexpected == []  # notably no "Event loop is closed", nor unawaited coroutine


def test_replacement_clients_are_not_closed(served_apps) -> None:
    remote = RemoteRunnable(IN_PROCESS + "/add_one")
    own = clients_of(remote)
    swap_clients(remote, "testclient-httpx2", served_apps["chainserve"].app)
    swapped = clients_of(remote)
    with strict_warnings():
        del remote
        gc.collect()
    assert [client.is_closed for client in own + swapped] == [True, True, False, False]
    swapped[0].close()
    asyncio.run(swapped[1].aclose())


@pytest.mark.parametrize("cls", [RemoteRunnable, langserve.RemoteRunnable])
def test_closing_on_collection_matches_langserve(cls: type) -> None:
    remote = cls("http://127.0.0.1:9/add_one")
    with strict_warnings():
        clients = clients_of(remote)
        del remote
        gc.collect()
    assert [client.is_closed for client in clients] == [True, True]


EXIT_SCRIPT = """
    import asyncio, gc
    from apps import build_app
    from servers import serve
    import chainserve
    from chainserve import RemoteRunnable

    with serve(build_app(chainserve.add_routes)) as url:
        used = RemoteRunnable(url + "/add_one")
        assert used.invoke(1) == 2 and asyncio.run(used.ainvoke(1)) == 2
        unused = RemoteRunnable(url + "/add_one")
        dropped = RemoteRunnable(url + "/add_one")
        assert dropped.invoke(1) == 2
        clients = dropped.sync_client, dropped.async_client
        del dropped
        gc.collect()
        print([client.is_closed for client in clients])
    # `used` and `unused` are still alive at exit: their finalizers must not run then.
"""


def test_a_script_exits_quietly() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT)],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )
    assert (result.stdout, result.stderr) == ("[True, True]\n", "")
