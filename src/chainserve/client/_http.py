"""HTTP plumbing of the client: sending with retries, and translating failures.

Only the ``post``/``stream`` API of the client is used, with plain ``str`` URLs, so any
httpx-compatible client works: httpx's, httpx2's (an API-compatible fork of httpx, which
Starlette's ``TestClient`` is built on), or a duck-typed one. Every failure leaves here
as a ``chainserve.exceptions`` error that names the URL, carries a redacted
``httpx.Request``, and never holds a connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol, TypeVar

import httpx
import orjson

from chainserve.exceptions import (
    IncompleteStreamError,
    InternalServerError,
    RemoteConnectionError,
    RemoteTimeoutError,
    RequestRejectedError,
    ServerError,
    ServerUnreachableError,
    UnexpectedResponseError,
)
from chainserve.serialization import loads

from ._sse import ServerSentEvent, aiter_sse, iter_sse

__all__ = [
    "AsyncClient",
    "AsyncEvents",
    "Events",
    "SyncClient",
    "aopen_event_stream",
    "asend",
    "error_from_event",
    "incomplete_stream",
    "open_event_stream",
    "sanitize_request",
    "send",
]

T = TypeVar("T")
# The client's responses, requests and errors may be httpx2's: they share httpx's API,
# so they are typed as httpx's.
Events = tuple[httpx.Request, Iterator[ServerSentEvent]]
AsyncEvents = tuple[httpx.Request, AsyncIterator[ServerSentEvent]]


class SyncClient(Protocol):
    """What is used of ``RemoteRunnable.sync_client`` (an httpx or httpx2 client)."""

    def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response: ...

    def stream(
        self, method: str, url: str, *, content: bytes, headers: dict[str, str]
    ) -> AbstractContextManager[httpx.Response]: ...


class AsyncClient(Protocol):
    """What is used of ``RemoteRunnable.async_client``."""

    async def post(
        self, url: str, *, content: bytes, headers: dict[str, str]
    ) -> httpx.Response: ...

    def stream(
        self, method: str, url: str, *, content: bytes, headers: dict[str, str]
    ) -> AbstractAsyncContextManager[httpx.Response]: ...


_JSON_HEADERS = {"Content-Type": "application/json"}
_SSE_HEADERS = {**_JSON_HEADERS, "Accept": "text/event-stream", "Cache-Control": "no-store"}
# Headers that cannot carry credentials; every other header is redacted (§14.5).
_SAFE_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "host",
        "user-agent",
    }
)
_SNIPPET = 1000


def _transport_errors(*names: str) -> tuple[type[httpx.TransportError], ...]:
    """The httpx transport error classes ``names``, and httpx2's twins if it is loaded.

    httpx2 need not be installed, but a client built on it has imported it.
    """
    modules = [module for module in (httpx, sys.modules.get("httpx2")) if module]
    return tuple(getattr(module, name) for module in modules for name in names)


def sanitize_request(request: httpx.Request) -> httpx.Request:
    """An ``httpx.Request`` copy of ``request`` (which may be httpx2's) with credentials
    (headers, URL password) redacted."""
    headers = [
        (key, value if key.lower() in _SAFE_HEADERS else "<redacted>")
        for key, value in request.headers.multi_items()
    ]
    url = httpx.URL(str(request.url))
    if url.password:
        url = url.copy_with(password="<redacted>")
    return httpx.Request(request.method, url, headers=headers, stream=request.stream)


def _target(request: httpx.Request) -> str:
    return f"{request.method} {sanitize_request(request).url}"


def _backoff(attempt: int) -> float:
    return min(0.1 * 2**attempt, 2.0)


def _transport_error(exc: httpx.TransportError, attempts: int = 1) -> Exception:
    request = sanitize_request(exc.request)
    where = f"{_target(exc.request)}: {type(exc).__name__}: {exc}"
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    if isinstance(exc, _transport_errors("TimeoutException")):
        return RemoteTimeoutError(f"Timed out on {where}{tries}", request=request)
    if isinstance(exc, _transport_errors("ConnectError")):
        return ServerUnreachableError(f"Cannot connect to {where}{tries}", request=request)
    return RemoteConnectionError(f"Connection failed on {where}", request=request)


def status_error(response: httpx.Response) -> ServerError:
    """The ``ServerError`` for a non-2xx response whose body has been read."""
    request = sanitize_request(response.request)
    response.request = request  # the original one still holds the credentials
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    text = response.text[:_SNIPPET] or "(empty body)"
    message = f"{response.status_code} {response.reason_phrase} from {_target(request)}: {text}"
    cls = RequestRejectedError if response.is_client_error else InternalServerError
    return cls(message, request=request, response=response, body=body)


def error_from_event(data: str, request: httpx.Request) -> ServerError:
    """The ``ServerError`` for an ``error`` event of an event stream (§8.2)."""
    try:
        body = orjson.loads(data)
        status, message = int(body["status_code"]), str(body["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        body, status, message = None, 500, data
    request = sanitize_request(request)
    # Like LangServe: a synthetic response whose text is the event's message.
    response = httpx.Response(status, text=message, request=request)
    cls = RequestRejectedError if response.is_client_error else InternalServerError
    text = f"{status} {message} (stream error event) from {_target(request)}"
    return cls(text, request=request, response=response, body=body)


def incomplete_stream(request: httpx.Request) -> IncompleteStreamError:
    """The error for an event stream that ended without its ``end`` event."""
    return IncompleteStreamError(
        f"The event stream from {_target(request)} ended without an end event"
    )


def _attempt(call: Callable[[], T], *, retries: int) -> T:
    """``call()``, retried up to ``retries`` times when no connection could be opened
    (nothing reached the server, so retrying is safe); failures leave translated."""
    failures = 0
    while True:
        try:
            return call()
        except _transport_errors("ConnectError", "ConnectTimeout") as exc:
            failures += 1
            if failures > retries:
                raise _transport_error(exc, failures) from exc
            time.sleep(_backoff(failures - 1))
        except _transport_errors("TransportError") as exc:
            raise _transport_error(exc) from exc


async def _aattempt(call: Callable[[], Awaitable[T]], *, retries: int) -> T:
    """Async twin of ``_attempt``."""
    failures = 0
    while True:
        try:
            return await call()
        except _transport_errors("ConnectError", "ConnectTimeout") as exc:
            failures += 1
            if failures > retries:
                raise _transport_error(exc, failures) from exc
            await asyncio.sleep(_backoff(failures - 1))
        except _transport_errors("TransportError") as exc:
            raise _transport_error(exc) from exc


def send(client: SyncClient, url: str, body: bytes, *, max_retries: int) -> httpx.Response:
    """POST the JSON ``body`` to ``url``; raise ``ServerError`` on non-2xx."""
    response = _attempt(
        lambda: client.post(url, content=body, headers=_JSON_HEADERS), retries=max_retries
    )
    if not response.is_success:
        raise status_error(response)
    return response


async def asend(client: AsyncClient, url: str, body: bytes, *, max_retries: int) -> httpx.Response:
    """Async twin of ``send``."""
    response = await _aattempt(
        lambda: client.post(url, content=body, headers=_JSON_HEADERS), retries=max_retries
    )
    if not response.is_success:
        raise status_error(response)
    return response


def decode_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object body of an invoke/batch response."""
    try:
        payload = loads(response.content)  # integers beyond 64 bits stay exact
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict) or "output" not in payload:
        kind = response.headers.get("content-type", "no content type")
        raise UnexpectedResponseError(
            f"Expected a JSON object with 'output' from {_target(response.request)}, "
            f"got ({kind}): {response.text[:_SNIPPET]!r}"
        )
    return payload


def _check_event_stream(response: httpx.Response) -> None:
    kind = response.headers.get("content-type", "")
    if "text/event-stream" not in kind:
        raise UnexpectedResponseError(
            f"Expected an event stream from {_target(response.request)}, got "
            f"{kind or 'no content type'}"
        )


def _stream_error(exc: httpx.TransportError) -> Exception:
    if isinstance(exc, _transport_errors("TimeoutException")):
        return _transport_error(exc)
    return IncompleteStreamError(
        f"The event stream from {_target(exc.request)} broke off before its end "
        f"event: {type(exc).__name__}: {exc}"
    )


def _guarded(
    events: Iterator[ServerSentEvent],
) -> Generator[ServerSentEvent, None, None]:
    try:
        yield from events
    except _transport_errors("TransportError") as exc:
        raise _stream_error(exc) from exc


async def _aguarded(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[ServerSentEvent, None]:
    try:
        async with contextlib.aclosing(events):  # type: ignore[type-var]
            async for event in events:
                yield event
    except _transport_errors("TransportError") as exc:
        raise _stream_error(exc) from exc


@contextlib.contextmanager
def open_event_stream(
    client: SyncClient, url: str, body: bytes, *, max_retries: int
) -> Iterator[Events]:
    """POST the JSON ``body`` to ``url``; yield the request sent and its SSE events.

    The response is always closed. Raises ``ServerError`` on non-2xx.
    """
    with contextlib.ExitStack() as stack:

        def connect() -> httpx.Response:
            opening = client.stream("POST", url, content=body, headers=_SSE_HEADERS)
            return stack.enter_context(opening)

        response = _attempt(connect, retries=max_retries)
        if not response.is_success:
            _attempt(response.read, retries=0)  # the error body, for the message
            raise status_error(response)
        _check_event_stream(response)
        events = stack.enter_context(contextlib.closing(_guarded(iter_sse(response))))
        yield response.request, events


@contextlib.asynccontextmanager
async def aopen_event_stream(
    client: AsyncClient, url: str, body: bytes, *, max_retries: int
) -> AsyncIterator[AsyncEvents]:
    """Async twin of ``open_event_stream``."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect() -> httpx.Response:
            opening = client.stream("POST", url, content=body, headers=_SSE_HEADERS)
            return await stack.enter_async_context(opening)

        response = await _aattempt(connect, retries=max_retries)
        if not response.is_success:
            await _aattempt(response.aread, retries=0)
            raise status_error(response)
        _check_event_stream(response)
        events = _aguarded(aiter_sse(response))
        yield response.request, await stack.enter_async_context(contextlib.aclosing(events))
