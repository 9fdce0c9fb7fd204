"""Cancelling a run when its client goes away."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from chainserve.server.errors import RunTimeout, logger

T = TypeVar("T")

# Watching for a disconnect takes a task per request, as much as a small run costs.
# Runs shorter than this are over before cancelling them would save anything.
WATCH_AFTER = 0.1
# One timer per event loop checks the runs in flight this often: arming and
# cancelling a timer per request would cost a small run ~3 us more.
TICK = 0.05


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the client has disconnected (the request body is already read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def run_until_disconnect(
    receive: Receive | None, coro: Coroutine[Any, Any, T], timeout: float | None = None
) -> T:
    """Await ``coro``; cancel it if the client leaves or ``timeout`` seconds pass
    (``receive`` None: a caller that watches its client itself, only the timeout).

    Raises ``ClientDisconnect`` or ``RunTimeout`` after cancelling. The run is awaited
    in the request's own task, which a cancellation reaches directly. Disconnects are
    watched for once the run has lasted ``WATCH_AFTER`` seconds, and both that and the
    timeout are checked every ``TICK`` seconds.
    """
    loop = asyncio.get_running_loop()
    run = _Run(receive, timeout)
    runs = _runs_of(loop)
    runs.add(run, loop)
    try:
        result = await coro
    except asyncio.CancelledError:
        if run.reason is None:
            raise  # cancelled from outside (server shutdown): not ours to handle
        run.uncancel()
        raise run.reason from None
    finally:
        runs.discard(run)
    if run.reason is not None:
        run.uncancel()  # the run swallowed our cancellation; its result stands
    return result


class _Run:
    """A run in flight: its task, its client, and why it was stopped, if it was."""

    __slots__ = ("context", "reason", "receive", "started", "task", "timeout", "watcher")

    def __init__(self, receive: Receive | None, timeout: float | None) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.receive = receive
        # The watcher calls receive() as the request would: in the request's context
        # (tracing middleware wrapping receive looks there for its span).
        self.context = contextvars.copy_context()
        self.timeout = timeout
        self.started = task.get_loop().time()
        self.reason: BaseException | None = None
        self.watcher: asyncio.Future[None] | None = None

    def check(self, now: float) -> None:
        if self.timeout is not None and now - self.started >= self.timeout:
            self.stop(RunTimeout(f"The run took longer than {self.timeout} s"))
        elif self.watcher is None and self.receive and now - self.started >= WATCH_AFTER:
            watch = _on_disconnect(self.receive, self.stop)
            self.watcher = self.context.run(asyncio.ensure_future, watch)

    def stop(self, why: BaseException) -> None:
        if self.reason is None:
            self.reason = why
            self.task.cancel()

    def uncancel(self) -> None:
        # Undo our cancel request so it is not counted against the task (Python >= 3.11).
        uncancel = getattr(self.task, "uncancel", None)
        if uncancel is not None:
            uncancel()

    def end(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()


class _Runs:
    """The runs in flight on one event loop, checked by one timer while there are any.

    It keeps no reference to its loop (it is the value of a weak-keyed mapping), and
    its timer runs in an empty context, so no request's context outlives the request.
    """

    def __init__(self) -> None:
        self._runs: set[_Run] = set()
        self._armed = False

    def add(self, run: _Run, loop: asyncio.AbstractEventLoop) -> None:
        self._runs.add(run)
        if not self._armed:
            self._arm(loop)

    def discard(self, run: _Run) -> None:
        self._runs.discard(run)
        run.end()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_later(TICK, self._tick, context=contextvars.Context())
        self._armed = True

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._armed = False
        try:
            now = loop.time()
            for run in list(self._runs):
                run.check(now)
        finally:
            if self._runs:
                self._arm(loop)


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Runs] = weakref.WeakKeyDictionary()


def _runs_of(loop: asyncio.AbstractEventLoop) -> _Runs:
    runs = _loops.get(loop)
    if runs is None:
        runs = _loops[loop] = _Runs()
    return runs


async def _on_disconnect(receive: Receive, stop: Callable[[BaseException], None]) -> None:
    await wait_for_disconnect(receive)
    stop(ClientDisconnect())


async def cancel_and_wait(task: asyncio.Future[Any], rounds: int = 20, grace: float = 0.25) -> None:
    """Cancel ``task`` and wait until it ends, cancelling again if it swallowed one.

    langchain-core's ``astream_log``, once cancelled, waits for its inner run without
    cancelling it; the second cancellation reaches that run.
    """
    for _ in range(rounds):
        if task.done():
            return
        task.cancel()
        await asyncio.wait((task,), timeout=grace)
    if not task.done():
        logger.warning("A cancelled run is still going after %d cancellations", rounds)


@asynccontextmanager
async def closing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """``contextlib.aclosing`` for any async iterator: a run cancelled mid-iteration
    must close every generator down to LangChain's, or that run goes on alone."""
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
