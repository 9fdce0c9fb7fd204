"""What the server processes on one database share of their runs.

``Broker`` is for a database one process serves (SQLite): nothing is shared, the runs
of a thread take turns under an in-process lock. ``PostgresBroker`` (``_replicas.py``)
is for replicas sharing a Postgres database: turns are taken in the database, events
are relayed through a table and ``LISTEN/NOTIFY``, cancels are sent to the run's owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from chainserve.agents._streams import Event, Signal

if TYPE_CHECKING:
    from chainserve.agents._execution import Executor, RunJob


class Broker:
    """The runs of one process: its turns, and what it tells others (nothing)."""

    shared = False  # whether other processes run this database's runs

    def __init__(self) -> None:
        self.queued = Signal()  # fired when a run is queued, for the executor to claim
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock]
        self._locks = weakref.WeakValueDictionary()

    async def start(self, executor: Executor) -> None:
        """Begin serving ``executor`` (at each app start: a new event loop, maybe)."""
        self.queued = Signal()
        self._locks = weakref.WeakValueDictionary()

    async def stop(self) -> None:
        """Stop, once ``executor`` has stopped."""

    @contextlib.asynccontextmanager
    async def turn(self, job: RunJob) -> AsyncIterator[None]:
        """Hold ``job``'s thread: the runs of a thread go one after the other, in order."""
        async with self._locks.setdefault(job.thread_id, asyncio.Lock()):
            yield

    def track(self, job: RunJob) -> None:
        """Relay ``job``'s events from now on, for other processes to follow."""

    async def events_made(self, run_id: str) -> int:
        """How many events of the run were relayed (by earlier attempts)."""
        return 0

    async def forget(self) -> None:
        """Delete what is relayed of runs that ended long ago."""

    async def flush(self, job: RunJob) -> None:
        """Wait until ``job``'s events so far are relayed."""

    async def changed(self, run: dict[str, Any]) -> None:
        """Inside the transaction that ends, deletes or queues ``run``: tell the others."""

    async def cancel(self, run_id: str, action: str) -> None:
        """Cancel a run another process executes."""

    async def events(
        self, run_id: str, last_event_id: str | None
    ) -> AsyncIterator[Event | None] | None:
        """The events of a run another process executes (or executed), from the live
        point or after ``last_event_id``; None if there are none to follow."""
        return None

    async def ended(self, run_id: str) -> None:
        """Wait until a run another process executes has ended."""


class Waiters:
    """A ``Signal`` per key (a run, a thread) while someone waits on it."""

    def __init__(self) -> None:
        self._signals: dict[str, Signal] = {}
        self._count: Counter[str] = Counter()

    @contextlib.contextmanager
    def signal(self, key: str) -> Iterator[Signal]:
        self._count[key] += 1
        signal = self._signals.setdefault(key, Signal())
        try:
            yield signal
        finally:
            self._count[key] -= 1
            if not self._count[key]:
                del self._count[key], self._signals[key]

    def fire(self, key: str) -> None:
        signal = self._signals.get(key)
        if signal is not None:
            signal.fire()

    def fire_all(self) -> None:
        for signal in self._signals.values():
            signal.fire()
