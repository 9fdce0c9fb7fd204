"""LangGraph's ``AsyncSqliteSaver``, usable from one event loop after another, and able
to delete one run's checkpoints (a rollback).

Imported only when a graph needs the server's checkpointer: it imports langgraph.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from chainserve.agents._persistence import checkpoint_at

_ON = " WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
_WRITE_KEYS = "SELECT task_id, idx FROM writes" + _ON


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

    async def setup(self) -> None:
        """LangGraph's tables, and commits that wait for no disk flush (WAL: a power
        loss may lose the last commits, never the file)."""
        first = not self.is_setup
        await super().setup()
        if first:
            await self.conn.execute("PRAGMA synchronous = NORMAL")

    async def awrite_keys(self, config: RunnableConfig) -> set[tuple[str, int]]:
        """The ``(task_id, idx)`` of the writes saved on ``config``'s checkpoint."""
        async with (
            self.lock,
            self.conn.execute(_WRITE_KEYS, checkpoint_at(config)) as rows,
        ):
            return {(task_id, idx) for task_id, idx in await rows.fetchall()}

    async def adelete_writes(self, config: RunnableConfig, keep: set[tuple[str, int]]) -> None:
        """Delete the writes saved on ``config``'s checkpoint but those ``keep`` names."""
        async with self.lock:
            async with self.conn.execute(_WRITE_KEYS, checkpoint_at(config)) as rows:
                extra = [key for key in await rows.fetchall() if tuple(key) not in keep]
            for task_id, idx in extra:
                await self.conn.execute(
                    "DELETE FROM writes" + _ON + " AND task_id = ? AND idx = ?",
                    [*checkpoint_at(config), task_id, idx],
                )
            await self.conn.commit()

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints the runs ``run_ids`` made (their metadata's ``run_id``),
        and the writes made on them."""
        if not run_ids:
            return
        made = (
            f"json_extract(CAST(metadata AS TEXT), '$.run_id') IN ({', '.join('?' * len(run_ids))})"
        )
        ids = [str(run_id) for run_id in run_ids]
        async with self.lock, self.conn.cursor() as cursor:
            await cursor.execute(
                "DELETE FROM writes WHERE (thread_id, checkpoint_ns, checkpoint_id) IN "
                f"(SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints WHERE {made})",
                ids,
            )
            await cursor.execute(f"DELETE FROM checkpoints WHERE {made}", ids)
            await self.conn.commit()
