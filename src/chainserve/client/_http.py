"""HTTP plumbing of the client: sending with retries, and translating failures.

Every httpx failure leaves here as a ``chainserve.exceptions`` error that names the
URL, carries a redacted copy of the request, and never holds a connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

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

from ._sse import ServerSentEvent, aiter_sse, iter_sse

__all__ = [
    "aopen_event_stream",
    "asend",
    "error_from_event",
    "open_event_stream",
    "sanitize_request",
    "send",
]

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
# Failures that happen before the request reached the server, so retrying is safe.
_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)
_SNIPPET = 1000


def sanitize_request(request: httpx.Request) -> httpx.Request:
    """A copy of ``request`` with credentials (headers, URL password) redacted."""
    headers = httpx.Headers(
        [
            (key, value if key.lower() in _SAFE_HEADERS else "<redacted>")
            for key, value in request.headers.multi_items()
        ]
    )
    url = request.url
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
    if isinstance(exc, httpx.TimeoutException):
        return RemoteTimeoutError(f"Timed out on {where}{tries}", request=request)
    if isinstance(exc, httpx.ConnectError):
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


def send(
    client: httpx.Client,
    request: httpx.Request,
    *,
    max_retries: int,
    stream: bool = False,
) -> httpx.Response:
    """Send ``request``, retrying connect failures; raise ``ServerError`` on non-2xx."""
    attempt = 0
    while True:
        try:
            response = client.send(request, stream=stream)
            break
        except _RETRYABLE as exc:
            attempt += 1
            if attempt > max_retries:
                raise _transport_error(exc, attempt) from exc
            time.sleep(_backoff(attempt - 1))
        except httpx.TransportError as exc:
            raise _transport_error(exc) from exc
    if response.is_success:
        return response
    try:
        response.read()
    except httpx.TransportError as exc:
        raise _transport_error(exc) from exc
    finally:
        response.close()
    raise status_error(response)


async def asend(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    max_retries: int,
    stream: bool = False,
) -> httpx.Response:
    """Async twin of ``send``."""
    attempt = 0
    while True:
        try:
            response = await client.send(request, stream=stream)
            break
        except _RETRYABLE as exc:
            attempt += 1
            if attempt > max_retries:
                raise _transport_error(exc, attempt) from exc
            await asyncio.sleep(_backoff(attempt - 1))
        except httpx.TransportError as exc:
            raise _transport_error(exc) from exc
    if response.is_success:
        return response
    try:
        await response.aread()
    except httpx.TransportError as exc:
        raise _transport_error(exc) from exc
    finally:
        await response.aclose()
    raise status_error(response)


def decode_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object body of an invoke/batch response."""
    try:
        payload = orjson.loads(response.content)
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
    if isinstance(exc, httpx.TimeoutException):
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
    except httpx.TransportError as exc:
        raise _stream_error(exc) from exc


async def _aguarded(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[ServerSentEvent, None]:
    try:
        async with contextlib.aclosing(events):  # type: ignore[type-var]
            async for event in events:
                yield event
    except httpx.TransportError as exc:
        raise _stream_error(exc) from exc


@contextlib.contextmanager
def open_event_stream(
    client: httpx.Client, request: httpx.Request, *, max_retries: int
) -> Iterator[Iterator[ServerSentEvent]]:
    """Send ``request`` and yield its SSE events; the response is always closed."""
    response = send(client, request, max_retries=max_retries, stream=True)
    events = _guarded(iter_sse(response))
    try:
        _check_event_stream(response)
        yield events
    finally:
        events.close()
        response.close()


@contextlib.asynccontextmanager
async def aopen_event_stream(
    client: httpx.AsyncClient, request: httpx.Request, *, max_retries: int
) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
    """Async twin of ``open_event_stream``."""
    response = await asend(client, request, max_retries=max_retries, stream=True)
    events = _aguarded(aiter_sse(response))
    try:
        _check_event_stream(response)
        yield events
    finally:
        await events.aclose()
        await response.aclose()
