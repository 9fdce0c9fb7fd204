"""Server-Sent Events: framing, and a response that relays a run's frames.

A run's frames are produced by a task into a queue (bounded but for ``stream_log``).
The response waits for the first frame (for a while) before sending any header, so a
run that fails before producing anything gets a real HTTP error status rather than a
200 with an error event. Frames that come fast are written together, a stream silent
for long gets a keep-alive comment (proxies close idle connections), and a client that
disconnects cancels the run.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable

import orjson
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chainserve.server.cancellation import cancel_and_wait, closing, wait_for_disconnect
from chainserve.server.errors import STREAM_ERROR, RunTimeout, logger

HEADERS = {
    "cache-control": "no-cache",
    "connection": "keep-alive",
    "x-accel-buffering": "no",
}


def frame(event: str, data: bytes) -> bytes:
    """One SSE event; ``data`` is single-line JSON."""
    return b"event: " + event.encode() + b"\r\ndata: " + data + b"\r\n\r\n"


END_FRAME = b"event: end\r\n\r\n"
# A comment: every SSE parser skips it, but it is traffic to a proxy's idle timer.
KEEPALIVE_FRAME = b": keep-alive\r\n\r\n"
ERROR_FRAME = frame("error", orjson.dumps(STREAM_ERROR))
TIMEOUT_FRAME = frame("error", orjson.dumps({"status_code": 504, "message": "Gateway Timeout"}))


def data_frame(data: bytes) -> bytes:
    return b"event: data\r\ndata: " + data + b"\r\n\r\n"


async def hold_until_output(frames: AsyncIterator[tuple[bytes, bool]]) -> AsyncIterator[bytes]:
    """Hold frames back until the first one that carries output, then pass all through.

    A run that fails before its first output (after only "started" events) then fails
    before the response has begun, and the client gets a real HTTP error status.
    """
    held: list[bytes] | None = []
    async with closing(frames):
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


COALESCE_WINDOW = 0.002  # seconds: the longest a frame waits for others to join it
QUEUE_SIZE = 64  # frames a run may get ahead of its reader


class _Done:
    """Queue marker: the frames are over (``error`` is set if the run failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class FrameQueue:
    """Pulls frames from an async iterator in a task, ahead of the writer.

    The run waits for room once ``maxsize`` frames are queued (``None``: never).
    ``timeout`` bounds the whole run: past it the run is cancelled and the stream ends
    with a ``RunTimeout``. ``on_done`` is called once the run is over and the writer is
    done with the frames (it took the last one, or closed the queue), however each ends.
    A deque with two waiter futures stands in for ``asyncio.Queue``: this sits on the
    path of every chunk.

    Writes are coalesced like Nagle's algorithm, in time: a frame that comes more than
    ``window`` seconds after the last write (an LLM's next token) is written at once;
    frames that come sooner are gathered until that window has passed, so a fast run
    costs one write per window instead of one per chunk, and no frame waits longer
    than the window.

    ``error_frame`` writes a failure that came once frames had gone out (LangServe's
    ``error`` event by default). ``stopped_by`` says what ended the run early: its
    error, a ``RunTimeout``, or ``asyncio.CancelledError`` when the writer closed the
    queue while it ran (the client left); None while it goes or once it finished.

    A writer that passes ``idle`` to ``next_batch`` gets ``KEEPALIVE_FRAME`` once that
    long has passed since its last write with no frame. One timer serves many waits:
    it is armed only when none is, and if a write came after it was armed, its firing
    just arms the next; so a run streaming tokens pays for one timer per ``idle``
    seconds, not one per token.
    """

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        timeout: float | None = None,
        on_done: Callable[[], None] | None = None,
        maxsize: int | None = QUEUE_SIZE,
        window: float = COALESCE_WINDOW,
        error_frame: Callable[[BaseException], bytes] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._frames: deque[bytes | _Done] = deque()
        self._maxsize: float = maxsize if maxsize is not None else math.inf
        self._window = window
        self._error_frame = error_frame or _error_frame
        self._reader: asyncio.Future[None] | None = None
        self._producer: asyncio.Future[None] | None = None
        self._last_write: float | None = None
        self._filling = False
        self._keepalive: asyncio.TimerHandle | None = None
        self._idle_since: float | None = None  # the last write the timer was armed for
        self.stopped_by: BaseException | None = None
        self._task = asyncio.ensure_future(self._pump(frames))
        self._on_done = on_done
        self._open = 2  # the run and the writer
        self._writer_done = False
        self._task.add_done_callback(lambda _: self._one_over())
        self._expiry: asyncio.Future[None] | None = None  # keeps the task referenced
        self._timer = (
            self._loop.call_later(timeout, self._start_expiry, timeout)
            if timeout is not None
            else None
        )

    async def _pump(self, frames: AsyncIterator[bytes]) -> None:
        try:
            async with closing(frames):
                async for item in frames:
                    while len(self._frames) >= self._maxsize:  # the client reads slowly
                        self._producer = self._loop.create_future()
                        await self._producer
                    self._append(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stopped_by = exc
            self._append(_Done(exc))
        else:
            self._append(_Done())

    def _append(self, item: bytes | _Done) -> None:
        self._frames.append(item)
        if not self._filling or isinstance(item, _Done) or len(self._frames) >= self._maxsize:
            _wake(self._reader)

    async def _wait_for_frame(self) -> None:
        while not self._frames:
            self._reader = self._loop.create_future()
            await self._reader

    async def first(self, receive: Receive, wait: float | None = None) -> _Done | None:
        """Wait for the first frame without taking it; the end marker if none came.

        Returns None once a frame is there or ``wait`` seconds have passed without one:
        the response starts anyway and the run goes on. Raises ``ClientDisconnect``
        (after cancelling the run) if the client leaves.
        """
        if not self._frames:
            waiter = asyncio.ensure_future(self._wait_for_frame())
            watcher = asyncio.ensure_future(wait_for_disconnect(receive))
            try:
                ended, _ = await asyncio.wait(
                    (waiter, watcher), timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
            except BaseException:  # this request was cancelled (e.g. shutdown)
                await self.close()
                raise
            finally:
                watcher.cancel()
            if waiter not in ended:
                waiter.cancel()
                if watcher in ended:
                    await self.close()
                    raise ClientDisconnect()
                return None  # still silent: the headers go out, the stream's watcher takes over
        head = self._frames[0]
        return head if isinstance(head, _Done) else None

    async def next_batch(self, idle: float | None = None) -> tuple[bytes, bool]:
        """Every frame available now (waiting for at least one), and whether done.

        With ``idle``, the wait ends ``idle`` seconds after the last write (or the first
        call: the headers) with ``KEEPALIVE_FRAME``, not done.
        """
        if not self._frames:
            if idle is None:
                await self._wait_for_frame()
            elif not await self._wait_for_frame_or_idle(idle):
                self._last_write = self._loop.time()
                return KEEPALIVE_FRAME, False
        last = self._last_write
        if last is not None and self._loop.time() - last < self._window:
            await self._fill(last + self._window)
        parts: list[bytes] = []
        done = False
        while self._frames:
            item = self._frames.popleft()
            if isinstance(item, _Done):
                if item.error is not None:
                    log_failure(item.error)
                    parts.append(self._error_frame(item.error))
                done = True
                self._writer_over()
                break
            parts.append(item)
        _wake(self._producer)
        self._last_write = self._loop.time()
        return b"".join(parts), done

    async def _wait_for_frame_or_idle(self, idle: float) -> bool:
        """Wait for a frame, until ``idle`` seconds after the last write; whether one came."""
        if self._last_write is None:
            self._last_write = self._loop.time()  # the headers have just been written
        while not self._frames:
            if self._keepalive is None:
                # The timer fired with no write since it was armed: the stream is idle.
                # (Not a clock check: a timer may fire a little before its time.)
                if self._idle_since == self._last_write:
                    # The next keep-alive needs a timer of its own, however coarse the
                    # clock (a write may be stamped with the same time as the last).
                    self._idle_since = None
                    return False
                self._idle_since = self._last_write
                self._keepalive = self._loop.call_at(self._last_write + idle, self._keepalive_due)
            self._reader = self._loop.create_future()
            await self._reader
        return True

    def _keepalive_due(self) -> None:
        self._keepalive = None
        if not self._filling:  # a writer filling a batch has frames to write anyway
            _wake(self._reader)

    async def _fill(self, until: float) -> None:
        """Let frames gather until ``until``, the run ends, or the queue is full."""
        if isinstance(self._frames[-1], _Done) or len(self._frames) >= self._maxsize:
            return
        self._filling = True
        self._reader = self._loop.create_future()
        timer = self._loop.call_at(until, _wake, self._reader)
        try:
            await self._reader
        finally:
            timer.cancel()
            self._filling = False

    def _writer_over(self) -> None:
        if not self._writer_done:
            self._writer_done = True
            self._one_over()

    def _one_over(self) -> None:
        self._open -= 1
        if self._open == 0 and self._on_done is not None:
            self._on_done()

    async def close(self) -> None:
        """Cancel the run if it is still going; the writer is done with the frames."""
        if not self._task.done() and self.stopped_by is None:
            self.stopped_by = asyncio.CancelledError()
        self._writer_over()
        if self._timer is not None:
            self._timer.cancel()
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        await cancel_and_wait(self._task)

    async def abort(self) -> None:
        """Cancel the run and make the writer stop, even if it waits for a frame."""
        await self.close()
        self._append(_Done())

    def _start_expiry(self, timeout: float) -> None:
        self._expiry = asyncio.ensure_future(self._expire(timeout))

    async def _expire(self, timeout: float) -> None:
        if self._task.done():
            return
        await cancel_and_wait(self._task)
        self.stopped_by = RunTimeout(f"The run took longer than {timeout} s")
        self._append(_Done(self.stopped_by))


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def log_failure(error: BaseException) -> None:
    """Log a run that failed once its stream had begun."""
    if isinstance(error, RunTimeout):
        logger.warning("Run timed out mid-stream: %s", error)
    else:
        logger.error("Run failed mid-stream", exc_info=error)


def _error_frame(error: BaseException) -> bytes:
    return TIMEOUT_FRAME if isinstance(error, RunTimeout) else ERROR_FRAME


class EventStreamResponse(Response):
    """Writes a ``FrameQueue`` as ``text/event-stream``; cancels it on disconnect.

    ``keepalive``: seconds of silence after which a keep-alive comment is written
    (None: never).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: FrameQueue,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
        keepalive: float | None = None,
    ) -> None:
        self.frames = frames
        self.keepalive = keepalive
        self.status_code = 200
        self.background = background
        self.init_headers({**HEADERS, **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.ensure_future(self._cancel_on_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            done = False
            while not done:
                body, done = await self.frames.next_batch(self.keepalive)
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
