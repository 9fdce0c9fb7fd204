"""Cancelling a run when its client goes away."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from chainserve.server.errors import RunTimeout, logger

T = TypeVar("T")


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

    Raises ``ClientDisconnect`` or ``RunTimeout`` after cancelling.
    """
    task = asyncio.ensure_future(coro)
    watcher = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        await asyncio.wait((task, watcher), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        timed_out = not task.done() and not watcher.done()
        await cancel_and_wait(task)
    if timed_out:
        raise RunTimeout(f"The run took longer than {timeout} s")
    if task.cancelled():
        raise ClientDisconnect()
    return task.result()


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
