"""The events of runs as readers follow them: ``RunStream`` (one run's events, in order)
and ``Signal`` (wakes every waiter at once, without polling)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from chainserve.serialization import SerializationError, dumps

HEARTBEAT = 5.0  # seconds of silence before a stream sends a heartbeat (WIRE.md §6.1)
Event = tuple[str, str, bytes]  # id, event name, JSON data


def wire_json(data: Any) -> bytes:
    """``data`` as compact JSON; what cannot be encoded becomes its ``repr``."""
    try:
        return dumps(data)
    except SerializationError:
        return dumps(_plain(data))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    try:
        dumps(value)
    except SerializationError:
        return repr(value)
    return value


class Signal:
    """Something that happens again and again: ``wait`` until the next time."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def ticket(self) -> asyncio.Event:
        """What ``wait(ticket=)`` waits on: taken before looking, a firing while one
        looks is not missed."""
        return self._event

    async def wait(self, timeout: float, ticket: asyncio.Event | None = None) -> bool:
        """Whether it fired within ``timeout`` seconds (or since ``ticket`` was taken)."""
        try:
            await asyncio.wait_for((ticket or self._event).wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


_counter = itertools.count()


def event_id() -> str:
    """A new event id, shaped as the reference server's: ``<ms timestamp>-<sequence>``."""
    return f"{int(time.time() * 1000)}-{next(_counter)}"


class RunStream:
    """The events one run made, in order; ``follow`` waits for the next without polling."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.size = 0  # bytes of event data
        self.done = False
        self.changed = Signal()
        self.on_publish: Callable[[], None] | None = None  # told of each new event

    @classmethod
    def closed(cls) -> RunStream:
        """A stream with no events, already ended."""
        stream = cls()
        stream.close()
        return stream

    def publish(self, event: str, data: Any) -> None:
        encoded = wire_json(data)
        self.events.append((event_id(), event, encoded))
        self.size += len(encoded)
        self.changed.fire()
        if self.on_publish is not None:
            self.on_publish()

    def close(self) -> None:
        self.done = True
        self.changed.fire()

    def position_after(self, last_event_id: str | None) -> int | None:
        """Where to follow from: the live point (no id), the start (``-1``), after the
        event ``last_event_id`` names, or None for an unknown id."""
        if last_event_id is None:
            return len(self.events)
        if last_event_id == "-1":
            return 0
        for index, (event_id, _, _) in enumerate(self.events):
            if event_id == last_event_id:
                return index + 1
        return None

    def position_since(self, last_event_id: str) -> int:
        """The first event made after the event ``last_event_id`` names, of any run
        (event ids grow across runs), or the live point for an id not of ours."""
        try:
            after = int(last_event_id.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            return len(self.events)
        return next(
            (i for i, (id_, _, _) in enumerate(self.events) if int(id_.rsplit("-")[1]) > after),
            len(self.events),
        )

    async def follow(self, start: int) -> AsyncIterator[Event | None]:
        """The events from ``start`` until the run ends; None for a heartbeat."""
        index = start
        while True:
            while index < len(self.events):
                yield self.events[index]
                index += 1
            if self.done:
                return
            if not await self.changed.wait(HEARTBEAT):
                yield None


def sse_frame(event: Event | None, with_id: bool) -> bytes:
    """One event in the wire's SSE framing (CRLF lines: event, data, id), or a heartbeat."""
    if event is None:
        return b": heartbeat\r\n\r\n"
    id_, name, data = event
    frame = b"event: " + name.encode() + b"\r\ndata: " + data + b"\r\n"
    if with_id:
        frame += b"id: " + id_.encode() + b"\r\n"
    return frame + b"\r\n"


def sse_response(
    events: AsyncIterator[Event | None],
    *,
    ids: bool,
    on_disconnect: Callable[[], None] | None = None,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """``events`` as an SSE response (with their ``id:`` lines if ``ids``);
    ``on_disconnect`` is called if the client leaves before the last one."""

    async def frames() -> AsyncIterator[bytes]:
        completed = False
        try:
            async for event in events:
                yield sse_frame(event, ids)
            completed = True
        finally:
            if not completed and on_disconnect is not None:
                on_disconnect()

    return StreamingResponse(
        frames(),
        media_type="text/event-stream; charset=utf-8",
        headers={"cache-control": "no-store", "x-accel-buffering": "no", **(headers or {})},
    )
