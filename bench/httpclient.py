"""A small, fast HTTP/1.1 client for SSE load: asyncio protocol + httptools parser.

httpx would be the client's bottleneck long before the server's at tens of thousands
of events per second; this one parses responses in C and splits SSE events itself.
One ``Connection`` carries one request at a time and is reused while the server
keeps it alive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools

EventSink = Callable[[bytes, bytes], None]  # (event name, data) per SSE event


@dataclass
class Response:
    status: int = 0
    keep_alive: bool = False
    body: bytes = b""
    complete: bool = False


@dataclass
class _SSESplitter:
    """Splits an SSE body into events, whatever the line ends (CRLF or LF)."""

    sink: EventSink
    buffer: bytes = b""
    separator: bytes = b""
    events: int = 0
    lines: list[bytes] = field(default_factory=list)

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if not self.separator:
            if b"\r\n" in self.buffer:
                self.separator = b"\r\n\r\n"
            elif b"\n" in self.buffer:
                self.separator = b"\n\n"
            else:
                return
        separator = self.separator
        line_end = separator[: len(separator) // 2]
        while True:
            end = self.buffer.find(separator)
            if end < 0:
                return
            raw, self.buffer = self.buffer[:end], self.buffer[end + len(separator) :]
            name, data_ = b"message", b""
            for line in raw.split(line_end):
                if line.startswith(b"event:"):
                    name = line[6:].strip()
                elif line.startswith(b"data:"):
                    data_ = line[5:].lstrip()
            self.events += 1
            self.sink(name, data_)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.response = Response()
        self.done: asyncio.Future[Response] | None = None
        self.on_data: Callable[[bytes], None] | None = None
        self.collect = False
        self.closed = asyncio.get_running_loop().create_future()

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.parser is None:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("connection closed before the response ended"))
        if not self.closed.done():
            self.closed.set_result(None)

    # httptools callbacks
    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.response.status = self.parser.get_status_code()
        self.response.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.on_data is not None:
            self.on_data(body)
        if self.collect:
            self.response.body += body

    def on_message_complete(self) -> None:
        self.response.complete = True
        if self.done is not None and not self.done.done():
            self.done.set_result(self.response)

    def _fail(self, exc: Exception) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc)


class Connection:
    """One keep-alive connection to ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._protocol: _Protocol | None = None

    @property
    def is_open(self) -> bool:
        p = self._protocol
        return p is not None and p.transport is not None and not p.transport.is_closing()

    async def _connect(self) -> _Protocol:
        if not self.is_open:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            self._protocol = protocol
        assert self._protocol is not None
        return self._protocol

    def start(
        self,
        protocol: _Protocol,
        method: str,
        path: str,
        body: bytes,
        on_data: Callable[[bytes], None] | None,
    ) -> asyncio.Future[Response]:
        protocol.response = Response()
        protocol.parser = httptools.HttpResponseParser(protocol)
        protocol.on_data = on_data
        protocol.collect = on_data is None
        protocol.done = asyncio.get_running_loop().create_future()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        assert protocol.transport is not None
        protocol.transport.write(head + body)
        return protocol.done

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        on_data: Callable[[bytes], None] | None = None,
    ) -> Response:
        """Send a request and wait for the whole response (its body goes to ``on_data``
        as it arrives, or into ``Response.body`` without one)."""
        protocol = await self._connect()
        response = await self.start(protocol, method, path, body, on_data)
        if not response.keep_alive:
            self.close()
        return response

    async def stream_events(self, path: str, body: bytes, sink: EventSink) -> Response:
        """POST and feed each SSE event of the answer to ``sink``."""
        splitter = _SSESplitter(sink)
        return await self.request("POST", path, body, splitter.feed)

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    def abort(self) -> None:
        """Drop the connection at once (a client that goes away mid-response)."""
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()
        self._protocol = None
