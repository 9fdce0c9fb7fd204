"""LangGraph's ``AsyncSqliteSaver``, usable from one event loop after another.

Imported only when a graph needs the server's checkpointer: it imports langgraph.
"""

from __future__ import annotations

import asyncio
import weakref

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


class SqliteSaver(AsyncSqliteSaver):
    """An ``AsyncSqliteSaver`` whose lock belongs to the running loop.

    Its aiosqlite connection serves any loop, but an ``asyncio.Lock`` binds to the first
    loop that waits on it. An app whose lifespan never runs may meet a new loop per
    request (Starlette's ``TestClient`` used without ``with``); a lifespan-run app has
    one loop, and so one lock, as ``AsyncSqliteSaver`` has.
    """

    @property
    def lock(self) -> asyncio.Lock:
        locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        locks = self.__dict__.setdefault("_locks", weakref.WeakKeyDictionary())
        return locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    @lock.setter
    def lock(self, value: asyncio.Lock) -> None:
        pass  # AsyncSqliteSaver.__init__ sets one lock for all loops
