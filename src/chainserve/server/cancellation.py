"""Cancelling a run when its client goes away."""

from __future__ import annotations

import asyncio
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


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the client has disconnected (the request body is already read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def run_until_disconnect(
    receive: Receive, coro: Coroutine[Any, Any, T], timeout: float | None = None
) -> T:
    """Await ``coro``; cancel it if the client leaves or ``timeout`` seconds pass.

    Raises ``ClientDisconnect`` or ``RunTimeout`` after cancelling. The run is awaited
    in the request's own task, which a cancellation reaches directly; the disconnect
    watcher starts only once the run has lasted ``WATCH_AFTER`` seconds.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    reason: list[BaseException] = []
    watchers: list[asyncio.Future[None]] = []

    def stop(why: BaseException) -> None:
        if not reason:
            reason.append(why)
            task.cancel()

    def watch() -> None:
        watchers.append(asyncio.ensure_future(_on_disconnect(receive, stop)))

    watch_later = loop.call_later(WATCH_AFTER, watch)
    timer = (
        loop.call_later(timeout, stop, RunTimeout(f"The run took longer than {timeout} s"))
        if timeout is not None
        else None
    )
    try:
        result = await coro
    except asyncio.CancelledError:
        if not reason:
            raise  # cancelled from outside (server shutdown): not ours to handle
        _uncancel(task)
        raise reason[0] from None
    finally:
        watch_later.cancel()
        for watcher in watchers:
            watcher.cancel()
        if timer is not None:
            timer.cancel()
    if reason:
        _uncancel(task)  # the run swallowed our cancellation; its result stands
    return result


def _uncancel(task: asyncio.Task[Any]) -> None:
    # Undo our cancel request so it is not counted against the task (Python >= 3.11).
    uncancel = getattr(task, "uncancel", None)
    if uncancel is not None:
        uncancel()


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
