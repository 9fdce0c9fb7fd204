"""Exceptions raised by chainserve.

Everything the client raises about a remote call derives from ``RemoteRunnableError``.
The classes also derive from the matching httpx exception, so code written for
LangServe's client (``except httpx.HTTPStatusError``) keeps working::

    ChainserveError
    └── RemoteRunnableError
        ├── ServerError                 (httpx.HTTPStatusError)
        │   ├── RequestRejectedError    4xx: validation, auth, not found
        │   └── InternalServerError     5xx, and ``error`` events in a stream
        ├── RemoteConnectionError       (httpx.TransportError)
        │   ├── ServerUnreachableError  (httpx.ConnectError)
        │   └── RemoteTimeoutError      (httpx.TimeoutException)
        └── UnexpectedResponseError     the answer does not follow the protocol
            └── IncompleteStreamError   the stream stopped before its ``end`` event
    EndpointNamesError                  ``add_routes`` endpoint names it cannot use

``RemoteRunError`` is not raised by the client: it stands in for a server-side
exception in replayed ``on_*_error`` callback events.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "ChainserveError",
    "EndpointNamesError",
    "IncompleteStreamError",
    "InternalServerError",
    "RemoteConnectionError",
    "RemoteRunError",
    "RemoteRunnableError",
    "RemoteTimeoutError",
    "RequestRejectedError",
    "ServerError",
    "ServerUnreachableError",
    "UnexpectedResponseError",
]


class ChainserveError(Exception):
    """Base class of all chainserve exceptions."""


class RemoteRunnableError(ChainserveError):
    """A call made by ``RemoteRunnable`` failed."""


class ServerError(RemoteRunnableError, httpx.HTTPStatusError):
    """The server answered with an error status (or sent an ``error`` stream event).

    ``body`` is the parsed JSON error body (``None`` if it was not JSON) and ``detail``
    its ``detail`` member (FastAPI style) or, for stream events, its ``message``.
    ``request`` has its credentials redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        response: httpx.Response,
        body: Any = None,
    ) -> None:
        super().__init__(message, request=request, response=response)
        self.body = body

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def detail(self) -> Any:
        if isinstance(self.body, dict):
            return self.body.get("detail", self.body.get("message"))
        return None


class RequestRejectedError(ServerError):
    """The server rejected the request (4xx): invalid input or config, auth, 404."""


class InternalServerError(ServerError):
    """The server failed while running the runnable (5xx or a stream ``error`` event).

    The server hides the original exception: ``detail`` is typically just
    ``"Internal Server Error"``.
    """


class RemoteConnectionError(RemoteRunnableError, httpx.TransportError):
    """The network failed while talking to the server; the message names the URL."""


class ServerUnreachableError(RemoteConnectionError, httpx.ConnectError):
    """No connection could be opened to the server (after the configured retries)."""


class RemoteTimeoutError(RemoteConnectionError, httpx.TimeoutException):
    """A connect, read, write or pool timeout expired."""


class UnexpectedResponseError(RemoteRunnableError):
    """The server answered, but not in the LangServe protocol.

    For example a body that is not JSON, a JSON body without ``output``, or an
    event stream endpoint that does not answer with ``text/event-stream``.
    """


class IncompleteStreamError(UnexpectedResponseError):
    """The event stream stopped (cleanly or not) before its ``end`` event."""


class RemoteRunError(ChainserveError):
    """A server-side run failed; used as the ``error`` of replayed callback events."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class EndpointNamesError(ChainserveError, ValueError, TypeError):
    """``add_routes`` got ``enabled_endpoints``/``disabled_endpoints`` it cannot use: a
    string instead of a list, or unknown names. A ``ValueError``, as LangServe raises,
    and a ``TypeError``, as chainserve raised for a string before."""
