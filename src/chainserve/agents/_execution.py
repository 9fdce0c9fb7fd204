"""Running the Agent Protocol's runs in the server process: ``RunStream`` (one run's
events, which readers follow without polling) and ``Executor`` (runs of one thread one
after the other, at most ``max_concurrency`` at once, through LangGraph's ``astream``)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from chainserve.agents._storage import Storage, now
from chainserve.serialization import SerializationError, dumps

_HEARTBEAT = 5.0
_Event = tuple[str, str, bytes]  # id, event name, JSON data


def wire_json(data: Any) -> bytes:
    """``data`` as compact JSON; what cannot be encoded becomes its ``repr``."""
    try:
        return dumps(data)
    except SerializationError:
        return dumps(_plain(data))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    try:
        dumps(value)
    except SerializationError:
        return repr(value)
    return value


class RunStream:
    """The events one run made, in order; ``follow`` waits for the next without polling."""

    _counter = itertools.count()

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.done = False
        self._changed = asyncio.Event()

    def publish(self, event: str, data: Any) -> None:
        event_id = f"{int(time.time() * 1000)}-{next(self._counter)}"
        self.events.append((event_id, event, wire_json(data)))
        self._wake()

    def close(self) -> None:
        self.done = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def position_after(self, last_event_id: str | None) -> int | None:
        """Where to follow from: the live point (no id), the start (``-1``), after the
        event ``last_event_id`` names, or None for an unknown id."""
        if last_event_id is None:
            return len(self.events)
        if last_event_id == "-1":
            return 0
        for index, (event_id, _, _) in enumerate(self.events):
            if event_id == last_event_id:
                return index + 1
        return None

    async def follow(self, start: int) -> AsyncIterator[_Event | None]:
        """The events from ``start`` until the run ends; None for a heartbeat."""
        index = start
        while True:
            while index < len(self.events):
                yield self.events[index]
                index += 1
            if self.done:
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), _HEARTBEAT)
            except asyncio.TimeoutError:
                yield None


@dataclass
class RunJob:
    """A run to execute: its record, the graph, what ``astream`` gets, and its outcome."""

    run: dict[str, Any]
    graph: Any
    input: Any
    config: dict[str, Any]
    context: dict[str, Any]
    stream_modes: list[str]
    subgraphs: bool = False
    interrupt_before: Any = None
    interrupt_after: Any = None
    resumable: bool = False
    temporary: bool = False
    stream: RunStream = field(default_factory=RunStream)
    result: Any = None
    cancelled: str | None = None  # the cancel action asked for
    task: asyncio.Task[None] | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    @property
    def thread_id(self) -> str:
        return str(self.run["thread_id"])


class _Translator:
    """LangGraph's stream items as the wire's events (names and data per mode)."""

    def __init__(self, job: RunJob) -> None:
        self.job = job
        self.modes = set(job.stream_modes)
        self.partial: dict[str, Any] = {}

    def emit(self, namespace: tuple[str, ...], mode: str, data: Any) -> None:
        suffix = "|" + "|".join(namespace) if namespace else ""
        publish = self.job.stream.publish
        if mode == "messages":
            chunk, metadata = data
            if "messages-tuple" in self.modes:
                publish(f"messages{suffix}", [chunk, metadata])
            if "messages" in self.modes:
                self._message(chunk, metadata, suffix)
        elif mode in self.modes:
            publish(f"{mode}{suffix}", data)

    def _message(self, chunk: Any, metadata: Any, suffix: str) -> None:
        from langchain_core.messages import BaseMessageChunk, message_chunk_to_message

        publish = self.job.stream.publish
        message_id = str(getattr(chunk, "id", None))
        if message_id not in self.partial:
            publish(f"messages/metadata{suffix}", {message_id: {"metadata": metadata}})
            self.partial[message_id] = None
        if isinstance(chunk, BaseMessageChunk):
            sofar = self.partial[message_id]
            sofar = chunk if sofar is None else sofar + chunk
            self.partial[message_id] = sofar
            publish(f"messages/partial{suffix}", [message_chunk_to_message(sofar)])
        else:
            publish(f"messages/complete{suffix}", [chunk])


class Executor:
    """Executes runs as asyncio tasks: one at a time per thread (in the order they came),
    at most ``max_concurrency`` at once, recording their status in ``storage``."""

    def __init__(self, storage: Storage, max_concurrency: int = 8) -> None:
        self.storage = storage
        self.max_concurrency = max_concurrency
        self.jobs: dict[str, RunJob] = {}
        self.replays: dict[str, RunStream] = {}  # the finished resumable runs' events
        self._reset()

    def _reset(self) -> None:
        self._pool = asyncio.Semaphore(self.max_concurrency)
        self._thread_locks: dict[str, asyncio.Lock] = {}

    async def recover(self) -> None:
        """At startup: runs left ``pending``/``running`` by a previous process failed."""
        self._reset()
        reason = {"error": "ServerRestart", "message": "the server stopped during the run"}
        for run in await self.storage.search_runs(statuses=["pending", "running"]):
            if run["run_id"] in self.jobs:
                continue
            await self.storage.update_run(run["run_id"], {"status": "error", "error": reason})
            await self.storage.update_thread(run["thread_id"], {"status": "error"})

    async def stop(self) -> None:
        """At shutdown: cancel the runs still going, and wait for them."""
        jobs = [job for job in self.jobs.values() if job.task is not None]
        for job in jobs:
            self.cancel(job, "shutdown")
        for job in jobs:
            await job.finished.wait()

    def active(self, thread_id: str) -> list[RunJob]:
        return [job for job in self.jobs.values() if job.thread_id == thread_id]

    def submit(self, job: RunJob) -> None:
        self.jobs[job.run_id] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job))

    def cancel(self, job: RunJob, action: str) -> None:
        job.cancelled = action
        if job.task is not None:
            job.task.cancel()

    async def _run(self, job: RunJob) -> None:
        status = "error"
        try:
            lock = self._thread_locks.setdefault(job.thread_id, asyncio.Lock())
            async with lock, self._pool:
                await self.storage.update_run(job.run_id, {"status": "running"})
                job.stream.publish("metadata", {"run_id": job.run_id, "attempt": 1})
                status = await self._execute(job)
        except asyncio.CancelledError:
            status = "interrupted"
            if job.result is None:
                job.result = {}
        except Exception as exc:  # a failure outside the graph (storage)
            status = "error"
            job.result = {"__error__": _error(exc)}
        finally:
            await self._finish(job, status)

    async def _execute(self, job: RunJob) -> str:
        modes = {"values"}
        for mode in job.stream_modes:
            if mode in ("messages", "messages-tuple"):
                modes.add("messages")
            elif mode != "events":
                modes.add(mode)
        translator = _Translator(job)
        last: Any = None
        try:
            stream = job.graph.astream(
                job.input,
                job.config,
                context=job.context or None,
                stream_mode=sorted(modes),
                subgraphs=True,
                interrupt_before=job.interrupt_before,
                interrupt_after=job.interrupt_after,
            )
            async for namespace, mode, data in stream:
                if not job.subgraphs and namespace:
                    continue
                if mode == "values" and not namespace:
                    last = data
                translator.emit(tuple(namespace), mode, data)
        except Exception as exc:
            job.result = {"__error__": _error(exc)}
            job.stream.publish("error", _error(exc))
            return "error"
        job.result = last if last is not None else {}
        snapshot = await job.graph.aget_state(job.config)
        return "interrupted" if snapshot.next else "success"

    async def _finish(self, job: RunJob, status: str) -> None:
        run_id, thread_id = job.run_id, job.thread_id
        error = job.result.get("__error__") if isinstance(job.result, dict) else None
        if job.cancelled == "shutdown":
            status = "error"
            error = {"error": "ServerShutdown", "message": "the server stopped during the run"}
        elif job.cancelled is not None:
            error = {
                "error": "UserInterrupt",
                "message": "interrupt requested via POST /threads/{thread_id}/runs/{run_id}/cancel",
            }
        try:
            await self.storage.update_run(run_id, {"status": status, "error": error})
            others = [other for other in self.active(thread_id) if other is not job]
            if job.temporary:
                await self._delete_thread(job)
            elif not others:
                thread_status = {"success": "idle"}.get(status, status)
                stamp = now()
                changes = {"status": thread_status, "updated_at": stamp, "state_updated_at": stamp}
                await self.storage.update_thread(thread_id, changes)
        finally:
            self.jobs.pop(run_id, None)
            if job.resumable:
                self.replays[run_id] = job.stream
            job.stream.close()
            job.finished.set()

    async def _delete_thread(self, job: RunJob) -> None:
        saver = job.graph.checkpointer
        if hasattr(saver, "adelete_thread"):
            await saver.adelete_thread(job.thread_id)
        await self.storage.delete_thread(job.thread_id)


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc)}
