"""Running the server's own start and stop steps around an app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.routing import Router


def around_lifespan(
    router: Router,
    start: Callable[[], Awaitable[None]] | None,
    stop: Callable[[], Awaitable[None]],
) -> None:
    """Make ``router``'s lifespan run ``start`` (if any) before the one it had, and
    ``stop`` after."""
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        if start is not None:
            await start()
        try:
            async with inner(app) as state:
                yield state
        finally:
            await stop()

    router.lifespan_context = lifespan
