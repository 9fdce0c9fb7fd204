"""``SqliteStorage``'s transactions: all or nothing, and a write cancelled or failed at
any point leaves the storage usable (a transaction left open would refuse every later
write)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from protocol_apps import Count, inc, one_node_graph

from chainserve.agents._execution import Executor, RunJob
from chainserve.agents._protocol import thread_record
from chainserve.agents._storage import AlreadyExists, SqliteStorage, new_id, now

STAMP = "2026-01-01T00:00:00+00:00"


def _run(thread_id: str) -> dict[str, Any]:
    return {
        "run_id": new_id(),
        "thread_id": thread_id,
        "assistant_id": "a",
        "metadata": {},
        "status": "pending",
        "kwargs": {},
        "multitask_strategy": "enqueue",
        "created_at": now(),
        "updated_at": now(),
        "error": None,
    }


async def test_a_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "db.sqlite"))
    thread = thread_record(new_id())
    await storage.put_thread(thread)
    other = thread_record(new_id())
    with pytest.raises(AlreadyExists):
        async with storage.transaction():
            await storage.put_thread(other)
            await storage.put_run(_run(other["thread_id"]))
            await storage.put_thread(thread)  # exists: the whole transaction fails
    assert await storage.get_thread(other["thread_id"]) is None
    assert await storage.search_runs(thread_id=other["thread_id"]) == []
    await storage.put_thread(other)  # and the storage goes on
    await storage.close()


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
async def test_a_write_cancelled_anywhere_leaves_the_storage_usable(
    tmp_path: Path, steps: int
) -> None:
    storage = SqliteStorage(str(tmp_path / "db.sqlite"))
    await storage.open()

    async def slow_writes() -> None:
        async with storage.transaction():
            for _ in range(3):
                await storage.put_thread(thread_record(new_id()))

    task = asyncio.create_task(slow_writes())
    for _ in range(steps):  # let it reach BEGIN, a statement, or further
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await storage.search_threads() == []  # none of the cancelled writes stayed
    kept = thread_record(new_id())
    await storage.put_thread(kept)
    assert [t["thread_id"] for t in await storage.search_threads()] == [kept["thread_id"]]
    await storage.close()


async def test_a_cancel_while_a_run_s_end_is_recorded_does_not_lose_it(tmp_path: Path) -> None:
    """A run that ran to its end keeps its end though a cancel comes as it is stored."""
    storage = SqliteStorage(str(tmp_path / "db.sqlite"))
    thread = thread_record(new_id())
    await storage.put_thread(thread)
    run = _run(thread["thread_id"])
    await storage.put_run(run)
    recording, release = asyncio.Event(), asyncio.Event()
    update_run = storage.update_run

    async def held_update_run(run_id: str, changes: dict[str, Any]) -> Any:
        if changes.get("status") not in (None, "running"):  # the run's end
            recording.set()
            await release.wait()
        return await update_run(run_id, changes)

    storage.update_run = held_update_run  # type: ignore[method-assign]
    executor = Executor(storage, 1)
    from langgraph.checkpoint.memory import InMemorySaver

    graph = one_node_graph(inc).copy(update={"checkpointer": InMemorySaver()})
    config = {"configurable": {"thread_id": thread["thread_id"]}}
    count: Count = {"count": 1}
    job = RunJob(run=run, graph=graph, input=count, config=config, context={}, stream_modes=[])
    executor.submit(job)
    await asyncio.wait_for(recording.wait(), 10)
    executor.cancel(job, "interrupt")  # too late: the run is over
    release.set()
    await asyncio.wait_for(job.finished.wait(), 10)
    stored = await storage.get_run(run["run_id"])
    assert stored is not None and (stored["status"], stored["error"]) == ("success", None)
    assert (await storage.get_thread(thread["thread_id"]) or {})["status"] == "idle"
    await storage.close()
