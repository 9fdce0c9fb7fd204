"""Replicas sharing one Postgres database: ``PostgresBroker``.

- Turns: a run starts when it is the oldest unfinished run of its thread, whichever
  replica owns the others; a replica waits for a ``chainserve_runs`` notification (a run
  ended, was deleted or given back) or, at worst, ``POLL`` seconds.
- Events: each replica writes the events of the runs it executes to ``run_events``, in
  batches, with a ``chainserve_events`` notification; a follower on another replica
  reads them from there, in order, woken by the notification.
- Cancels: ``chainserve_cancel`` carries ``<run id> <action>`` to the run's owner; a
  queued run (given back, owned by none) is claimed by the canceller and ended there.

Imported only for a ``postgresql://`` database, as ``_postgres`` is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from chainserve.agents._broker import Broker, Waiters
from chainserve.agents._postgres import EVENTS_CHANNEL, PostgresStorage
from chainserve.agents._processes import LEASE_SECONDS, this_process
from chainserve.agents._storage import now
from chainserve.agents._streams import HEARTBEAT, Event, Signal

if TYPE_CHECKING:
    from chainserve.agents._execution import Executor, RunJob

logger = logging.getLogger("chainserve.agents")

RUNS_CHANNEL = "chainserve_runs"  # "<thread id> <run id>": a run ended, went or was queued
CANCEL_CHANNEL = "chainserve_cancel"  # "<run id> <action>": for the run's owner
POLL = 1.0  # seconds between looks at the database when no notification comes
EVENTS_KEPT = 600.0  # seconds the events of an ended run are kept (Last-Event-ID, joins)
FLUSH_TIMEOUT = 10.0  # seconds a run's end waits for its events to be written
_UNFINISHED = ("pending", "running")


class PostgresBroker(Broker):
    """What the replicas on ``storage``'s database share of their runs."""

    shared = True

    def __init__(self, storage: PostgresStorage) -> None:
        super().__init__()
        self.storage = storage
        self.executor: Executor | None = None
        self._runs = Waiters()  # by run id: its events, its end
        self._threads = Waiters()  # by thread id: one of its runs ended
        self._written: dict[str, int] = {}  # run id: events written, of the tracked runs
        self._dirty: dict[str, RunJob] = {}
        self._wake = asyncio.Event()
        self._flushed = Signal()
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, executor: Executor) -> None:
        await self.stop()
        await super().start(executor)
        self.executor = executor
        self._runs, self._threads = Waiters(), Waiters()
        self._wake, self._flushed, self._listening = asyncio.Event(), Signal(), asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._write())]
        with contextlib.suppress(asyncio.TimeoutError):  # else it listens once it can
            await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        if self._dirty:  # the last events of runs stopped at shutdown
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._write_dirty(), FLUSH_TIMEOUT)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Turns

    @contextlib.asynccontextmanager
    async def turn(self, job: RunJob) -> AsyncIterator[None]:
        with self._threads.signal(job.thread_id) as ended:
            while True:
                ticket = ended.ticket()
                first = await self.storage.first_unfinished(job.thread_id)
                if first is None or first == job.run_id:
                    break
                await ended.wait(POLL, ticket)
        yield

    async def changed(self, run: dict[str, Any]) -> None:
        await self.storage.notify(RUNS_CHANNEL, f"{run['thread_id']} {run['run_id']}")

    # Events

    def track(self, job: RunJob) -> None:
        self._written[job.run_id] = 0
        job.stream.on_publish = lambda: self._publish(job)

    def _publish(self, job: RunJob) -> None:
        self._dirty[job.run_id] = job
        self._wake.set()

    async def flush(self, job: RunJob) -> None:
        try:
            deadline = time.monotonic() + FLUSH_TIMEOUT
            while self._written.get(job.run_id, 0) < len(job.stream.events):
                ticket = self._flushed.ticket()
                if time.monotonic() > deadline:
                    logger.error("the last events of run %s could not be written", job.run_id)
                    return
                self._publish(job)
                await self._flushed.wait(POLL, ticket)
        finally:
            self._written.pop(job.run_id, None)
            job.stream.on_publish = None

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            try:
                await self._write_dirty()
            except Exception:  # the database is away: the next event (or flush) retries
                logger.exception("could not write runs' events")
                await asyncio.sleep(POLL)

    async def _write_dirty(self) -> None:
        self._wake.clear()
        batch, self._dirty = self._dirty, {}
        rows, ends = [], {}
        made = time.time()
        for run_id, job in batch.items():
            first = self._written.get(run_id)
            if first is None:
                continue
            events = job.stream.events[first:]
            base = job.event_base + first
            rows += [(run_id, base + i, *event, made) for i, event in enumerate(events)]
            ends[run_id] = first + len(events)
        try:
            if rows:
                await self.storage.add_events(rows)
        except BaseException:
            for run_id, job in batch.items():  # written next time, or by flush
                self._dirty.setdefault(run_id, job)
            raise
        for run_id, end in ends.items():
            if run_id in self._written:
                self._written[run_id] = end
        self._flushed.fire()

    async def events(
        self, run_id: str, last_event_id: str | None
    ) -> AsyncIterator[Event | None] | None:
        if last_event_id is None:
            start: int | None = await self.storage.events_made(run_id)
        elif last_event_id == "-1":
            start = 0
        else:
            found = await self.storage.event_index(run_id, last_event_id)
            start = None if found is None else found + 1
        return None if start is None else self._follow(run_id, start)

    async def _follow(self, run_id: str, index: int) -> AsyncIterator[Event | None]:
        with self._runs.signal(run_id) as changed:
            while True:
                ticket = changed.ticket()
                rows = await self.storage.events(run_id, index)
                if rows:
                    for _, *event in rows:
                        yield tuple(event)  # type: ignore[misc]
                    index = rows[-1][0] + 1
                    continue
                if not await self._unfinished(run_id):  # its events were all written first
                    for _, *event in await self.storage.events(run_id, index):
                        yield tuple(event)  # type: ignore[misc]
                    return
                if not await changed.wait(HEARTBEAT, ticket):
                    yield None

    async def ended(self, run_id: str) -> None:
        with self._runs.signal(run_id) as changed:
            while True:
                ticket = changed.ticket()
                if not await self._unfinished(run_id):
                    return
                await changed.wait(POLL, ticket)

    async def _unfinished(self, run_id: str) -> bool:
        run = await self.storage.get_run(run_id)
        return run is not None and run["status"] in _UNFINISHED

    async def events_made(self, run_id: str) -> int:
        return await self.storage.events_made(run_id)

    async def forget(self) -> None:
        """Delete the events of runs that ended ``EVENTS_KEPT`` seconds ago or more."""
        await self.storage.forget_events(time.time() - EVENTS_KEPT)

    # Cancels

    async def cancel(self, run_id: str, action: str) -> None:
        assert self.executor is not None
        queued = await self.storage.claim_run(this_process(), now(LEASE_SECONDS), run_id)
        if queued is not None:  # owned by none: ended here
            job = await self.executor.adopt(queued)
            if job is not None:
                self.executor.cancel(job, action)
            return
        await self.storage.notify(CANCEL_CHANNEL, f"{run_id} {action}")

    # Notifications

    async def _listen(self) -> None:
        while True:
            try:
                connection = await AsyncConnection.connect(self.storage.database, autocommit=True)
                async with connection:
                    for channel in (RUNS_CHANNEL, EVENTS_CHANNEL, CANCEL_CHANNEL):
                        await connection.execute(f"LISTEN {channel}")
                    self._listening.set()
                    self._wake_all()  # what happened while it was not listening
                    async for note in connection.notifies():
                        self._dispatch(note.channel, note.payload)
            except Exception:
                logger.exception("lost the database's notifications; listening again")
                await asyncio.sleep(POLL)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == EVENTS_CHANNEL:
            self._runs.fire(payload)
        elif channel == RUNS_CHANNEL:
            thread_id, _, run_id = payload.partition(" ")
            self._runs.fire(run_id)
            self._threads.fire(thread_id)
            self.queued.fire()
        elif channel == CANCEL_CHANNEL and self.executor is not None:
            run_id, _, action = payload.partition(" ")
            job = self.executor.jobs.get(run_id)
            if job is not None:
                self.executor.cancel(job, action)

    def _wake_all(self) -> None:
        self._runs.fire_all()
        self._threads.fire_all()
        self.queued.fire()
