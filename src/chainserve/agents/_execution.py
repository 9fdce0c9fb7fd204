"""Running the Agent Protocol's runs in the server process: ``Executor`` runs the runs of
one thread one after the other, at most ``max_concurrency`` at once, through LangGraph's
``astream`` (``astream_events`` when the ``events`` mode is asked for)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from chainserve.agents._processes import LEASE_SECONDS, gone, here, this_process
from chainserve.agents._storage import Storage, now, run_json
from chainserve.agents._streams import RunStream
from chainserve.agents._webhooks import send_webhook
from chainserve.server.observers import IGNORED_BACKGROUND, BackgroundWatch, current_observer

logger = logging.getLogger("chainserve.agents")

_RESTART = {"error": "ServerRestart", "message": "the server stopped during the run"}
MAX_CONCURRENT_RUNS = 8  # a server's default: background runs executing at once
# The finished resumable runs whose events are kept in memory, newest first: at most
# this many, holding at most this many bytes of event data.
REPLAYS_KEPT = 100
REPLAY_BYTES = 64 * 2**20


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
    webhook: str | None = None
    durability: str | None = None  # when checkpoints are written (LangGraph's default if None)
    started: bool = False
    ending: bool = False  # its end is being recorded: too late to cancel it
    # Where a resumed run started, and the writes that checkpoint had then: LangGraph
    # saves a resume (and the resumed tasks' writes) on it, which a rollback must undo.
    resumed_from: tuple[dict[str, Any], set[tuple[str, int]]] | None = None
    stream: RunStream = field(default_factory=RunStream)
    result: Any = None
    cancelled: str | None = None  # the cancel action asked for
    task: asyncio.Task[None] | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    watch: BackgroundWatch = IGNORED_BACKGROUND  # its metrics, once it is due

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    @property
    def thread_id(self) -> str:
        return str(self.run["thread_id"])

    @property
    def graph_id(self) -> str:
        return str(self.config.get("configurable", {}).get("graph_id", ""))

    def delay(self) -> float:
        """Seconds until the run is due (its ``created_at``, later with ``after_seconds``)."""
        due = datetime.fromisoformat(self.run["created_at"])
        return max(0.0, (due - datetime.now(timezone.utc)).total_seconds())


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
            if "messages" in self.modes:  # named without the namespace, as LangGraph's are
                self._message(chunk, metadata)
        elif mode in self.modes:
            publish(f"{mode}{suffix}", data)

    def _message(self, chunk: Any, metadata: Any) -> None:
        from langchain_core.messages import BaseMessageChunk, message_chunk_to_message

        publish = self.job.stream.publish
        message_id = str(getattr(chunk, "id", None))
        if message_id not in self.partial:
            publish("messages/metadata", {message_id: {"metadata": metadata}})
            self.partial[message_id] = None
        if isinstance(chunk, BaseMessageChunk):
            sofar = self.partial[message_id]
            sofar = chunk if sofar is None else sofar + chunk
            self.partial[message_id] = sofar
            publish("messages/partial", [message_chunk_to_message(sofar)])
        else:
            publish("messages/complete", [chunk])


async def _items(job: RunJob) -> AsyncIterator[tuple[tuple[str, ...], str, Any]]:
    """The run's stream as ``(namespace, mode, data)``; with the ``events`` mode, every
    ``astream_events`` event but the graph's own stream items comes as mode ``events``."""
    modes = {"values"}
    for mode in job.stream_modes:
        if mode in ("messages", "messages-tuple"):
            modes.add("messages")
        elif mode != "events":
            modes.add(mode)
    options: dict[str, Any] = {
        "context": job.context or None,
        "stream_mode": sorted(modes),
        # Not a filter: with subgraphs off, LangGraph streams a subgraph's messages as
        # its node's, which filtering namespaced items out would lose.
        "subgraphs": job.subgraphs,
        "interrupt_before": job.interrupt_before,
        "interrupt_after": job.interrupt_after,
    }
    if job.durability is not None:
        options["durability"] = job.durability
    if "events" not in job.stream_modes:
        async for item in job.graph.astream(job.input, job.config, **options):
            yield _item(item)
        return
    events = job.graph.astream_events(job.input, job.config, version="v2", **options)
    async for event in events:
        if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
            yield _item(event["data"]["chunk"])
        else:
            yield (), "events", event


def _item(item: tuple[Any, ...]) -> tuple[tuple[str, ...], str, Any]:
    """A stream item as ``(namespace, mode, data)``: ``(mode, data)`` has none."""
    if len(item) == 2:
        return (), *item
    namespace, mode, data = item
    return tuple(namespace), mode, data


class Executor:
    """Executes runs as asyncio tasks: one at a time per thread (in the order they came),
    at most ``max_concurrency`` at once, recording their status in ``storage``."""

    def __init__(self, storage: Storage, max_concurrency: int = MAX_CONCURRENT_RUNS) -> None:
        self.storage = storage
        self.max_concurrency = max_concurrency
        self.jobs: dict[str, RunJob] = {}
        self.replays: OrderedDict[str, RunStream] = OrderedDict()  # finished resumable runs
        self._watchers: dict[str, list[asyncio.Queue[RunJob | None]]] = {}
        self._leases: asyncio.Task[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self._pool = asyncio.Semaphore(self.max_concurrency)
        # A thread's lock lasts while one of its runs holds or awaits it.
        self._thread_locks: weakref.WeakValueDictionary[str, asyncio.Lock]
        self._thread_locks = weakref.WeakValueDictionary()
        self._deliveries: set[asyncio.Task[Any]] = set()

    async def recover(self) -> None:
        """At startup: fail the runs an owner that is gone left ``pending``/``running``;
        then, while the server runs, renew this process's leases and fail those of
        owners gone silent (a replica killed on another host), every third of a lease."""
        self._reset()
        await self._fail_orphans()
        if self._leases is None or self._leases.done():
            self._leases = asyncio.get_running_loop().create_task(self._keep_leases())

    async def _fail_orphans(self) -> None:
        for run in await self.storage.search_runs(statuses=["pending", "running"]):
            owner = run.get("owner")
            if run["run_id"] in self.jobs or not (
                gone(owner) or (not here(owner) and (run.get("lease_until") or "") < now())
            ):
                continue
            await self.storage.update_run(run["run_id"], {"status": "error", "error": _RESTART})
            await self.storage.update_thread(
                run["thread_id"], {"status": "error", "error": _RESTART}
            )

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self.storage.renew_leases(this_process(), now(LEASE_SECONDS))
                await self._fail_orphans()
            except Exception:  # the database is away for now: try again next time
                logger.exception("could not renew the runs' leases")

    async def stop(self) -> None:
        """At shutdown: end the threads' streams, cancel the runs still going, and wait
        for them and their webhooks."""
        if self._leases is not None:
            self._leases.cancel()
            await asyncio.gather(self._leases, return_exceptions=True)
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(None)
        jobs = [job for job in self.jobs.values() if job.task is not None]
        for job in jobs:
            self.cancel(job, "shutdown")
        for job in jobs:
            await job.finished.wait()
        if self._deliveries:
            await asyncio.wait(self._deliveries)

    def active(self, thread_id: str) -> list[RunJob]:
        """The thread's runs not finished yet, in the order they came."""
        return [job for job in self.jobs.values() if job.thread_id == thread_id]

    def submit(self, job: RunJob) -> None:
        self.jobs[job.run_id] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job))
        for queue in self._watchers.get(job.thread_id, []):
            queue.put_nowait(job)

    def watch(self, thread_id: str) -> asyncio.Queue[RunJob | None]:
        """A queue of the thread's runs: those not finished now, then each new one, until
        ``unwatch``; None when the server stops."""
        queue: asyncio.Queue[RunJob | None] = asyncio.Queue()
        for job in self.active(thread_id):
            queue.put_nowait(job)
        self._watchers.setdefault(thread_id, []).append(queue)
        return queue

    def unwatch(self, thread_id: str, queue: asyncio.Queue[RunJob | None]) -> None:
        queues = self._watchers.get(thread_id, [])
        if queue in queues:
            queues.remove(queue)
        if not queues:
            self._watchers.pop(thread_id, None)

    def cancel(self, job: RunJob, action: str) -> None:
        """Cancel ``job``: ``interrupt`` (or ``disconnect``: its client left) keeps what
        it did, ``rollback`` deletes the run and its checkpoints, ``shutdown`` fails it."""
        if job.ending:  # it ran to its end: cancelling now would lose how it ended
            return
        job.cancelled = action
        if job.task is not None:
            job.task.cancel()

    async def _run(self, job: RunJob) -> None:
        status = "interrupted"
        try:
            await asyncio.sleep(job.delay())
            job.watch = current_observer().background_run(job.graph_id)
            async with self._thread_locks.setdefault(job.thread_id, asyncio.Lock()):
                status = await self._attempt(job)
        except asyncio.CancelledError:  # while it waited for its time or its thread
            pass
        finally:
            await self._finish(job, status)

    async def _attempt(self, job: RunJob) -> str:
        """The run, holding its thread: a rollback undoes it before the next run starts."""
        try:
            async with self._pool:
                job.started = True
                job.watch.started()
                await self.storage.update_run(job.run_id, {"status": "running"})
                await self._note_resume(job)
                job.stream.publish("metadata", {"run_id": job.run_id, "attempt": 1})
                return await self._execute(job)
        except asyncio.CancelledError:
            if job.cancelled == "rollback" and not job.temporary:  # (its thread goes anyway)
                await asyncio.shield(self._roll_back(job))
            return "interrupted"
        except Exception as exc:  # a failure outside the graph (storage)
            job.result = {"__error__": _error(exc)}
            return "error"

    async def _note_resume(self, job: RunJob) -> None:
        saver = job.graph.checkpointer
        if job.temporary or not hasattr(saver, "awrite_keys") or not _is_command(job.input):
            return
        head = await saver.aget_tuple(job.config)
        if head is not None:
            job.resumed_from = (head.config, await saver.awrite_keys(head.config))

    async def _roll_back(self, job: RunJob) -> None:
        """Delete the checkpoints the run made, and what it saved on the one it resumed."""
        saver = job.graph.checkpointer
        await saver.adelete_for_runs([job.run_id])
        if job.resumed_from is not None:
            await saver.adelete_writes(*job.resumed_from)

    async def _execute(self, job: RunJob) -> str:
        translator = _Translator(job)
        last: Any = None
        try:
            async for namespace, mode, data in _items(job):
                if mode == "values" and not namespace:
                    last = data
                translator.emit(namespace, mode, data)
        except Exception as exc:
            job.result = {"__error__": _error(exc)}
            job.stream.publish("error", _error(exc))
            return "error"
        job.result = last if last is not None else {}
        snapshot = await job.graph.aget_state(job.config)
        return "interrupted" if snapshot.next else "success"

    async def _finish(self, job: RunJob, status: str) -> None:
        job.ending = True
        if job.result is None:
            job.result = {}
        error = job.result.get("__error__") if isinstance(job.result, dict) else None
        if job.cancelled is not None:
            error = dict(_CANCELLED[job.cancelled])
            status = "error" if job.cancelled == "shutdown" else status
        job.watch.ended(status)
        try:
            await self._record(job, status, error)
        except Exception:  # the store failed: the run's end is lost, the server goes on
            logger.exception("could not record the end of run %s", job.run_id)
        finally:
            self.jobs.pop(job.run_id, None)
            if job.resumable:
                self._keep_replay(job)
            job.stream.close()
            job.finished.set()

    def _keep_replay(self, job: RunJob) -> None:
        self.replays[job.run_id] = job.stream
        kept = sum(stream.size for stream in self.replays.values())
        while len(self.replays) > REPLAYS_KEPT or (kept > REPLAY_BYTES and self.replays):
            kept -= self.replays.popitem(last=False)[1].size

    async def _record(self, job: RunJob, status: str, error: dict[str, str] | None) -> None:
        """Store how the run ended (a rolled back run: not at all) and free its thread,
        in one transaction; then send its webhook."""
        run: dict[str, Any] | None = None
        async with self.storage.transaction():
            restored: dict[str, Any] = {}
            if job.cancelled == "rollback":
                restored = await self._forget(job)
                status = "success"  # the thread is as it was, with the rollback as its error
            else:
                run = await self.storage.update_run(job.run_id, {"status": status, "error": error})
            if job.temporary:  # (its checkpoints were in memory: they go with the job)
                await self.storage.delete_thread(job.thread_id)
            elif not [other for other in self.active(job.thread_id) if other is not job]:
                stamp = now()
                changes = {"status": {"success": "idle"}.get(status, status), "error": error}
                changes.update(updated_at=stamp, state_updated_at=stamp)
                if restored:
                    changes["metadata"] = restored
                await self.storage.update_thread(job.thread_id, changes)
        if job.webhook is not None and run is not None:
            delivery = send_webhook(job.webhook, _webhook_payload(run, job.result))
            task = asyncio.get_running_loop().create_task(delivery)
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _forget(self, job: RunJob) -> dict[str, Any]:
        """Delete a rolled back run; the thread metadata its previous run had left."""
        await self.storage.delete_run(job.run_id)
        previous = await self.storage.search_runs(thread_id=job.thread_id)
        if not previous:
            return {}
        return {key: previous[0]["metadata"][key] for key in _THREAD_KEYS}


# What a cancelled run (or its thread) says of it, by cancel action, as the reference's.
_CANCELLED = {
    "interrupt": {
        "error": "UserInterrupt",
        "message": "interrupt requested via POST /threads/{thread_id}/runs/{run_id}/cancel",
    },
    "disconnect": {
        "error": "UserInterrupt",
        "message": "client disconnected from the run stream (on_disconnect=cancel)",
    },
    "rollback": {
        "error": "UserRollback",
        "message": "rollback requested via POST /threads/{thread_id}/runs/{run_id}/cancel",
    },
    "shutdown": {"error": "ServerShutdown", "message": "the server stopped during the run"},
}
_THREAD_KEYS = ("graph_id", "assistant_id")  # what a run writes into its thread's metadata


def _is_command(value: Any) -> bool:
    from langgraph.types import Command

    return isinstance(value, Command)


def can_roll_back(graph: Any) -> bool:
    """Whether ``graph``'s checkpointer can delete one run's checkpoints (a rollback)."""
    from langgraph.checkpoint.base import BaseCheckpointSaver

    method = getattr(type(graph.checkpointer), "adelete_for_runs", None)
    return method is not None and method is not BaseCheckpointSaver.adelete_for_runs


def _webhook_payload(run: dict[str, Any], result: Any) -> dict[str, Any]:
    """What a webhook receives: the run's record, its final values, when it was sent."""
    if isinstance(result, dict):
        result = {key: value for key, value in result.items() if key != "__error__"}
    return {**run_json(run), "values": result, "webhook_sent_at": now()}


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc)}
