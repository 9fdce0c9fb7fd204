"""Failures raise typed errors, name the URL, redact credentials and leak no connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from servers import free_port, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from chainserve.client import RemoteRunnable
from chainserve.client._callbacks import log_once
from chainserve.exceptions import (
    IncompleteStreamError,
    InternalServerError,
    RemoteRunnableError,
    RemoteTimeoutError,
    RequestRejectedError,
    ServerError,
    ServerUnreachableError,
    UnexpectedResponseError,
)

SSE = "text/event-stream"
release = threading.Event()  # lets the stalling endpoints finish once a test is done


async def _stall() -> None:
    for _ in range(500):  # never longer than 5 s, whatever happens to the test
        if release.is_set():
            return
        await asyncio.sleep(0.01)


def sse(*frames: bytes, stall: bool = False, abort: bool = False) -> Any:
    async def body() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame
        if stall:
            await _stall()
        if abort:
            raise RuntimeError("connection dropped mid-stream")

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(body(), media_type=SSE)

    return endpoint


def fixed(response: Response) -> Any:
    async def endpoint(request: Request) -> Response:
        return response

    return endpoint


async def slow_invoke(request: Request) -> Response:
    await _stall()
    return JSONResponse({"output": 1})


DATA_1 = b"event: data\r\ndata: 1\r\n\r\n"
ROUTES = {
    "/html/invoke": fixed(Response("<html>oops</html>", media_type="text/html")),
    "/html/stream": fixed(JSONResponse({"output": 1})),
    "/proxy/invoke": fixed(Response("<h1>Bad gateway</h1>", 502, media_type="text/html")),
    "/auth/invoke": fixed(JSONResponse({"detail": "bad token"}, 401)),
    "/auth/stream": fixed(JSONResponse({"detail": "bad token"}, 401)),
    "/envelope/invoke": fixed(JSONResponse({"result": 1})),
    "/truncated/stream": sse(DATA_1),
    "/aborted/stream": sse(DATA_1, abort=True),
    "/stall/stream": sse(DATA_1, stall=True),
    "/slow/invoke": slow_invoke,
    "/error/stream": sse(
        DATA_1, b'event: error\r\ndata: {"status_code": 500, "message": "Boom"}\r\n\r\n'
    ),
    "/surprise/stream": sse(
        b": keep-alive comment\r\n\r\n",
        b'event: metadata\r\ndata: {"run_id": "x"}\r\n\r\n',
        b"event: surprise\r\ndata: {}\r\n\r\n",
        DATA_1,
        b"event: end\r\n\r\n",
    ),
}
BAD_APP = Starlette(routes=[Route(p, e, methods=["POST"]) for p, e in ROUTES.items()])


class CountingTransport(httpx.HTTPTransport):
    """Counts connection attempts and responses whose body was not closed."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0
        self.open = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        response = super().handle_request(request)
        self.open += 1
        response.stream = _ClosingStream(response.stream, self)  # type: ignore[arg-type]
        return response

    def pool_busy(self) -> bool:
        return any(not (c.is_idle() or c.is_closed()) for c in self._pool.connections)


class _ClosingStream(httpx.SyncByteStream):
    def __init__(self, stream: Any, owner: CountingTransport) -> None:
        self._stream, self._owner, self._closed = stream, owner, False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner.open -= 1
        self._stream.close()


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    """Async twin of ``CountingTransport``."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0
        self.open = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        response = await super().handle_async_request(request)
        self.open += 1
        response.stream = _AsyncClosingStream(response.stream, self)  # type: ignore[arg-type]
        return response

    def pool_busy(self) -> bool:
        return any(not (c.is_idle() or c.is_closed()) for c in self._pool.connections)


class _AsyncClosingStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any, owner: AsyncCountingTransport) -> None:
        self._stream, self._owner, self._closed = stream, owner, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner.open -= 1
        await self._stream.aclose()


def counted(remote: RemoteRunnable) -> tuple[CountingTransport, AsyncCountingTransport]:
    """Give ``remote`` counting transports, keeping its client settings."""
    sync, async_ = CountingTransport(), AsyncCountingTransport()
    settings = {"timeout": remote.sync_client.timeout, "headers": remote.sync_client.headers}
    remote.sync_client = httpx.Client(transport=sync, **settings)
    remote.async_client = httpx.AsyncClient(transport=async_, **settings)
    return sync, async_


@pytest.fixture(scope="module")
def bad_url() -> Iterator[str]:
    with serve(BAD_APP) as url:
        yield url


@pytest.fixture(autouse=True)
def _release_stalled_endpoints() -> Iterator[None]:
    release.clear()
    yield
    release.set()


def call_sync(remote: RemoteRunnable, method: str) -> list[Any]:
    """Run a sync method, collecting chunks until it raises."""
    received: list[Any] = []
    if method == "invoke":
        received.append(remote.invoke(1))
    else:
        for chunk in remote.stream(1):
            received.append(chunk)
    return received


async def call_async(remote: RemoteRunnable, method: str, received: list[Any]) -> None:
    if method == "invoke":
        received.append(await remote.ainvoke(1))
    else:
        async for chunk in remote.astream(1):
            received.append(chunk)


# (path, method, expected error, chunks received before it)
BAD_CASES = [
    ("/html", "invoke", UnexpectedResponseError, []),
    ("/html", "stream", UnexpectedResponseError, []),
    ("/envelope", "invoke", UnexpectedResponseError, []),
    ("/proxy", "invoke", InternalServerError, []),
    ("/auth", "invoke", RequestRejectedError, []),
    ("/auth", "stream", RequestRejectedError, []),
    ("/truncated", "stream", IncompleteStreamError, [1]),
    ("/aborted", "stream", IncompleteStreamError, [1]),
    ("/error", "stream", InternalServerError, [1]),
    ("/slow", "invoke", RemoteTimeoutError, []),
    ("/stall", "stream", RemoteTimeoutError, [1]),
]
IDS = [f"{path[1:]}-{method}" for path, method, _, _ in BAD_CASES]


@pytest.mark.parametrize(("path", "method", "error", "before"), BAD_CASES, ids=IDS)
def test_sync_bad_response(bad_url, path, method, error, before) -> None:
    remote = RemoteRunnable(bad_url + path, timeout=0.3)
    sync, _ = counted(remote)
    received: list[Any] = []
    with pytest.raises(error) as info:
        received.extend(call_sync(remote, method))
    assert received == [] or method == "stream"
    assert path in str(info.value)  # the message names the URL
    assert sync.open == 0 and not sync.pool_busy()
    remote.close()
    assert sync._pool.connections == []


@pytest.mark.parametrize(("path", "method", "error", "before"), BAD_CASES, ids=IDS)
async def test_async_bad_response(bad_url, path, method, error, before) -> None:
    remote = RemoteRunnable(bad_url + path, timeout=0.3)
    _, async_ = counted(remote)
    received: list[Any] = []
    with pytest.raises(error) as info:
        await call_async(remote, method, received)
    assert received == before
    assert path in str(info.value)
    assert async_.open == 0 and not async_.pool_busy()
    await remote.aclose()
    assert async_._pool.connections == []


def test_stream_keeps_chunks_received_before_the_error(bad_url: str) -> None:
    received: list[Any] = []
    with pytest.raises(InternalServerError) as info:
        for chunk in RemoteRunnable(bad_url + "/error").stream(1):
            received.append(chunk)
    assert received == [1]
    assert info.value.status_code == 500
    assert info.value.detail == "Boom"
    assert info.value.response.text == "Boom"  # as LangServe's client reports it
    assert isinstance(info.value, httpx.HTTPStatusError)


def test_unknown_events_are_ignored_and_logged_once(bad_url, caplog) -> None:
    log_once.cache_clear()
    remote = RemoteRunnable(bad_url + "/surprise")
    assert list(remote.stream(1)) == [1]
    assert list(remote.stream(1)) == [1]
    messages = [r.getMessage() for r in caplog.records if "surprise" in r.getMessage()]
    assert len(messages) == 1


@pytest.mark.parametrize("retries", [0, 2])
def test_unreachable_server_raises_after_retries(retries: int) -> None:
    url = f"http://127.0.0.1:{free_port()}/joke"  # nothing listens there
    remote = RemoteRunnable(url, max_retries=retries)
    sync, _ = counted(remote)
    with pytest.raises(ServerUnreachableError) as info:
        remote.invoke({"topic": "x"})
    assert url in str(info.value)
    assert isinstance(info.value, httpx.ConnectError)
    assert sync.attempts == retries + 1
    assert sync.open == 0 and not sync.pool_busy()


async def test_unreachable_server_async() -> None:
    url = f"http://127.0.0.1:{free_port()}/joke"
    remote = RemoteRunnable(url, max_retries=1)
    _, async_ = counted(remote)
    with pytest.raises(ServerUnreachableError, match="Cannot connect"):
        async for _ in remote.astream({"topic": "x"}):
            pass
    assert async_.attempts == 2
    await remote.aclose()


def test_credentials_are_redacted_from_errors(bad_url: str) -> None:
    remote = RemoteRunnable(
        bad_url.replace("://", "://user:pw-secret@") + "/auth",
        headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k3y"},
    )
    with pytest.raises(RequestRejectedError) as info:
        remote.invoke(1)
    error = info.value
    assert (error.status_code, error.detail, error.body) == (
        401,
        "bad token",
        {"detail": "bad token"},
    )
    for request in (error.request, error.response.request):
        assert request.headers["authorization"] == "<redacted>"
        assert request.headers["x-api-key"] == "<redacted>"
        assert request.headers["content-type"] == "application/json"
    text = f"{error} {error.request.url} {error.request.headers}"
    for secret in ("s3cret", "k3y", "pw-secret"):
        assert secret not in text


def test_remote_validation_error_is_a_request_rejected_error(make_remote) -> None:
    with pytest.raises(RequestRejectedError) as info:
        make_remote("/add_one").invoke("not a number")
    assert info.value.status_code == 422
    assert isinstance(info.value.detail, list)  # pydantic's error list


async def test_batch_return_exceptions_reports_per_item(make_remote) -> None:
    remote = make_remote("/add_one")
    results = await remote.abatch([1, "x", 3], return_exceptions=True)
    assert results[0] == 2 and results[2] == 4
    assert isinstance(results[1], RequestRejectedError)
    results = remote.batch([1, "x"], return_exceptions=True)
    assert results[0] == 2 and isinstance(results[1], RemoteRunnableError)
    # Without return_exceptions one bad item fails the whole /batch request
    # (LangServe answers 500 rather than 422 for a bad batch item, §16.3).
    with pytest.raises(ServerError):
        await remote.abatch([1, "x"])
