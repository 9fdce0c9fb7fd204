"""Server-Sent Events: framing, and a response that relays a run's frames.

A run's frames are produced by a task into a bounded queue. The response waits for
the first frame before sending any header, so a run that fails before producing
anything gets a real HTTP error status rather than a 200 with an error event. Frames
already waiting are written together, in one write, and a client that disconnects
cancels the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import orjson
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chainserve.server.cancellation import cancel_and_wait, wait_for_disconnect
from chainserve.server.errors import STREAM_ERROR, RunTimeout, logger

END_FRAME = b"event: end\r\n\r\n"
ERROR_FRAME = b"event: error\r\ndata: " + orjson.dumps(STREAM_ERROR) + b"\r\n\r\n"
TIMEOUT_FRAME = (
    b"event: error\r\ndata: "
    + orjson.dumps({"status_code": 504, "message": "Gateway Timeout"})
    + b"\r\n\r\n"
)

HEADERS = {
    "cache-control": "no-cache",
    "connection": "keep-alive",
    "x-accel-buffering": "no",
}


def frame(event: str, data: bytes) -> bytes:
    """One SSE event; ``data`` is single-line JSON."""
    return b"event: " + event.encode() + b"\r\ndata: " + data + b"\r\n\r\n"


def data_frame(data: bytes) -> bytes:
    return b"event: data\r\ndata: " + data + b"\r\n\r\n"


async def hold_until_output(frames: AsyncIterator[tuple[bytes, bool]]) -> AsyncIterator[bytes]:
    """Hold frames back until the first one that carries output, then pass all through.

    A run that fails before its first output (after only "started" events) then fails
    before the response has begun, and the client gets a real HTTP error status.
    """
    held: list[bytes] | None = []
    async for data, is_output in frames:
        if held is None:
            yield data
            continue
        held.append(data)
        if is_output:
            yield b"".join(held)
            held = None
    if held:
        yield b"".join(held)


class _Done:
    """Queue marker: the frames are over (``error`` is set if the run failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class FrameQueue:
    """Pulls frames from an async iterator in a task, ahead of the writer.

    ``timeout`` bounds the whole run: past it the run is cancelled and the stream ends
    with a ``RunTimeout``. ``on_done`` is called once the run is over, however it ends.
    """

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        timeout: float | None = None,
        on_done: Callable[[], None] | None = None,
        maxsize: int = 64,
    ) -> None:
        self._queue: asyncio.Queue[bytes | _Done] = asyncio.Queue(maxsize)
        self._task = asyncio.ensure_future(self._pump(frames))
        if on_done is not None:
            self._task.add_done_callback(lambda _: on_done())
        self._head: bytes | _Done | None = None
        self._timer = (
            asyncio.get_running_loop().call_later(
                timeout, lambda: asyncio.ensure_future(self._expire(timeout))
            )
            if timeout is not None
            else None
        )

    async def _pump(self, frames: AsyncIterator[bytes]) -> None:
        try:
            async for item in frames:
                await self._queue.put(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._queue.put(_Done(exc))
        else:
            await self._queue.put(_Done())

    async def first(self, receive: Receive) -> _Done | None:
        """Wait for the first frame without taking it; the end marker if none came.

        Raises ``ClientDisconnect`` (after cancelling the run) if the client leaves.
        """
        getter = asyncio.ensure_future(self._queue.get())
        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        try:
            await asyncio.wait((getter, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if not getter.done():
            getter.cancel()
            await self.close()
            raise ClientDisconnect()
        self._head = getter.result()
        return self._head if isinstance(self._head, _Done) else None

    async def next_batch(self) -> tuple[bytes, bool]:
        """Every frame available now (waiting for at least one), and whether done."""
        item, self._head = self._head, None
        if item is None:
            item = await self._queue.get()
        parts: list[bytes] = []
        while True:
            if isinstance(item, _Done):
                if item.error is not None:
                    parts.append(_error_frame(item.error))
                return b"".join(parts), True
            parts.append(item)
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return b"".join(parts), False

    async def close(self) -> None:
        """Cancel the run if it is still going."""
        if self._timer is not None:
            self._timer.cancel()
        await cancel_and_wait(self._task)

    async def abort(self) -> None:
        """Cancel the run and make the writer stop, even if it waits for a frame."""
        await self.close()
        self._push(_Done())

    async def _expire(self, timeout: float) -> None:
        if self._task.done():
            return
        await cancel_and_wait(self._task)
        self._push(_Done(RunTimeout(f"The run took longer than {timeout} s")))

    def _push(self, item: _Done) -> None:
        # Make room if needed: the end marker must get in, or the writer waits forever.
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()


def _error_frame(error: BaseException) -> bytes:
    if isinstance(error, RunTimeout):
        logger.warning("Run timed out mid-stream: %s", error)
        return TIMEOUT_FRAME
    logger.error("Run failed mid-stream", exc_info=error)
    return ERROR_FRAME


class EventStreamResponse(Response):
    """Writes a ``FrameQueue`` as ``text/event-stream``; cancels it on disconnect."""

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: FrameQueue,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.frames = frames
        self.status_code = 200
        self.background = background
        self.init_headers({**HEADERS, **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.ensure_future(self._cancel_on_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            done = False
            while not done:
                body, done = await self.frames.next_batch()
                await send({"type": "http.response.body", "body": body, "more_body": not done})
        except OSError:  # the client went away while we were writing
            pass
        finally:
            watcher.cancel()
            await self.frames.close()
        if self.background is not None:
            await self.background()

    async def _cancel_on_disconnect(self, receive: Receive) -> None:
        await wait_for_disconnect(receive)
        await self.frames.abort()
