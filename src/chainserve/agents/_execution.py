"""Running the Agent Protocol's runs in the server process: ``Executor`` runs the runs of
one thread one after the other, at most ``max_concurrency`` at once, through LangGraph's
``astream`` (``astream_events`` when the ``events`` mode is asked for)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from chainserve.agents._broker import Broker
from chainserve.agents._processes import LEASE_SECONDS, gone, here, this_process
from chainserve.agents._storage import QUEUED, Storage, now, run_json
from chainserve.agents._streams import RunStream
from chainserve.agents._webhooks import send_webhook
from chainserve.server.observers import IGNORED_BACKGROUND, BackgroundWatch, current_observer

logger = logging.getLogger("chainserve.agents")

_RESTART = {"error": "ServerRestart", "message": "the server stopped during the run"}
MAX_CONCURRENT_RUNS = 8  # a server's default: background runs executing at once
MAX_ATTEMPTS = 3  # executions of a run, with lost_runs="retry"
DRAIN_SECONDS = 10.0  # at shutdown, how long runs get to end before they are given back
CLAIM_POLL = 2.0  # seconds between looks for queued runs when no notification comes
LostRuns = Literal["fail", "retry"]
LOST_RUNS: tuple[LostRuns, ...] = ("fail", "retry")
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
    handed_back: bool = False  # given back at shutdown, for another process to execute
    waiting: bool = True  # for its time or its thread's turn: it holds no place yet
    attempt: int = 1  # its first execution, or a retry of a run whose owner was lost
    event_base: int = 0  # the index of its first event among the run's (an earlier
    # attempt's are before it)
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
    at most ``max_concurrency`` at once, recording their status in ``storage``.

    ``broker`` says what other processes on the database share (nothing, by default).
    ``lost_runs`` is what becomes of a run whose owner is gone (killed, or stopped
    before it ended): ``fail`` it, or ``retry`` it from its start (at most
    ``MAX_ATTEMPTS`` times), on whichever process claims it first.
    """

    def __init__(
        self,
        storage: Storage,
        max_concurrency: int = MAX_CONCURRENT_RUNS,
        *,
        broker: Broker | None = None,
        lost_runs: LostRuns = "fail",
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.storage = storage
        self.max_concurrency = max_concurrency
        self.broker = broker or Broker()
        self.lost_runs = lost_runs
        self.drain_seconds = drain_seconds
        # The job of a stored run claimed here (set by the routes that start runs).
        self.make_job: Callable[[dict[str, Any]], Awaitable[RunJob]] | None = None
        self.jobs: dict[str, RunJob] = {}
        self.replays: OrderedDict[str, RunStream] = OrderedDict()  # finished resumable runs
        self._watchers: dict[str, list[asyncio.Queue[RunJob | None]]] = {}
        self._chores: list[asyncio.Task[None]] = []
        self._reset()

    def _reset(self) -> None:
        self._pool = asyncio.Semaphore(self.max_concurrency)
        self._deliveries: set[asyncio.Task[Any]] = set()

    async def recover(self) -> None:
        """At startup: deal with the runs an owner that is gone left ``pending`` or
        ``running`` (as ``lost_runs`` says); then, while the server runs, renew this
        process's leases and deal with those of owners gone silent (a replica killed on
        another host), every third of a lease, and claim the runs queued for any."""
        self._reset()
        await self._stop_chores()
        await self.broker.start(self)
        await self._find_lost()
        loop = asyncio.get_running_loop()
        self._chores = [loop.create_task(self._keep_leases()), loop.create_task(self._claim())]

    async def _stop_chores(self) -> None:
        chores, self._chores = self._chores, []
        for task in chores:
            task.cancel()
        await asyncio.gather(*chores, return_exceptions=True)

    async def _find_lost(self) -> None:
        for run in await self.storage.search_runs(statuses=["pending", "running"]):
            owner = run.get("owner")
            if run["run_id"] in self.jobs or (owner == QUEUED and self.broker.shared):
                continue
            if gone(owner) or (not here(owner) and (run.get("lease_until") or "") < now()):
                await self._lost(run)

    async def _lost(self, run: dict[str, Any]) -> None:
        attempt = run["kwargs"].get("attempt", 1)
        if self.lost_runs == "retry" and attempt < MAX_ATTEMPTS:
            await self._give_back(run, started=run["status"] == "running")
        else:
            await self._fail(run, _RESTART)

    async def _fail(self, run: dict[str, Any], error: dict[str, str]) -> None:
        async with self.storage.transaction():
            await self.storage.update_run(run["run_id"], {"status": "error", "error": error})
            await self.storage.update_thread(run["thread_id"], {"status": "error", "error": error})
            await self.broker.changed(run)

    async def _give_back(self, run: dict[str, Any], *, started: bool) -> bool:
        """Queue ``run`` for any process to claim (an attempt more, if it had started);
        whether it was still its owner's, unfinished."""
        async with self.storage.transaction():
            queued = await self.storage.queue_run(run["run_id"], run.get("owner") or "")
            if queued is None:
                return False
            if started:
                attempt = queued["kwargs"].get("attempt", 1) + 1
                kwargs = {**queued["kwargs"], "attempt": attempt}
                await self.storage.update_run(run["run_id"], {"kwargs": kwargs})
            await self.broker.changed(queued)
        self.broker.queued.fire()
        return True

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self.storage.renew_leases(this_process(), now(LEASE_SECONDS))
                await self._find_lost()
                await self.broker.forget()
            except Exception:  # the database is away for now: try again next time
                logger.exception("could not renew the runs' leases")

    async def _claim(self) -> None:
        """Claim queued runs while fewer than ``max_concurrency`` hold their turn here.

        Runs waiting for their thread's turn do not count: the run they wait for may be
        the queued one.
        """
        while True:
            ticket = self.broker.queued.ticket()
            try:
                busy = sum(not job.waiting for job in self.jobs.values())
                for _ in range(self.max_concurrency - busy):
                    run = await self.storage.claim_run(this_process(), now(LEASE_SECONDS))
                    if run is None:
                        break
                    await self.adopt(run)
            except Exception:  # the database is away for now: try again next time
                logger.exception("could not claim the queued runs")
            await self.broker.queued.wait(CLAIM_POLL, ticket)

    async def adopt(self, run: dict[str, Any]) -> RunJob | None:
        """Execute ``run``, just claimed here: from its start, its earlier attempt's
        checkpoints deleted. None if it cannot be (its graph is not served here)."""
        try:
            assert self.make_job is not None, "no routes start runs"
            job = await self.make_job(run)
        except Exception as exc:
            await self._fail(run, {"error": "RunNotExecuted", "message": str(exc)})
            return None
        job.attempt = run["kwargs"].get("attempt", 1)
        if job.attempt > 1 and not job.temporary and can_roll_back(job.graph):
            await job.graph.checkpointer.adelete_for_runs([job.run_id])
        job.event_base = await self.broker.events_made(job.run_id)
        self.submit(job)
        return job

    async def stop(self) -> None:
        """At shutdown: end the threads' streams; give back the runs not started (if
        another process may claim them), give those running ``drain_seconds`` to end,
        then give them back too (``lost_runs="retry"``) or cancel them; wait for their
        webhooks."""
        await self._stop_chores()
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(None)
        if self.broker.shared:
            await self._hand_back([job for job in self.jobs.values() if not job.started])
            going = [job.task for job in self.jobs.values() if job.task is not None]
            if going:
                await asyncio.wait(going, timeout=self.drain_seconds)
            if self.lost_runs == "retry":
                await self._hand_back(list(self.jobs.values()))
        jobs = [job for job in self.jobs.values() if job.task is not None]
        for job in jobs:
            self.cancel(job, "shutdown")
        for job in jobs:
            await job.finished.wait()
        if self._deliveries:
            await asyncio.wait(self._deliveries)
        await self.broker.stop()

    async def _hand_back(self, jobs: list[RunJob]) -> None:
        for job in jobs:
            try:
                given = not job.ending and await self._give_back(job.run, started=job.started)
            except Exception:  # the database is away: the run is cancelled, as without
                logger.exception("could not give back run %s", job.run_id)
                continue
            if given and job.task is not None:
                job.handed_back = True
                job.task.cancel()
                await job.finished.wait()

    def active(self, thread_id: str) -> list[RunJob]:
        """The thread's runs not finished yet in this process, in the order they came."""
        return [job for job in self.jobs.values() if job.thread_id == thread_id]

    async def unfinished(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's runs not finished yet, in any process, oldest first."""
        runs = await self.storage.search_runs(thread_id=thread_id, statuses=["pending", "running"])
        return runs[::-1]

    def submit(self, job: RunJob) -> None:
        self.jobs[job.run_id] = job
        self.broker.track(job)
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

    async def cancel_run(self, run_id: str, action: str) -> None:
        """Cancel the run ``run_id``, executing here or in another process."""
        job = self.jobs.get(run_id)
        if job is not None:
            self.cancel(job, action)
        else:
            await self.broker.cancel(run_id, action)

    async def ended(self, run_id: str) -> None:
        """Wait until the run ``run_id`` has ended, here or in another process."""
        job = self.jobs.get(run_id)
        if job is not None:
            await job.finished.wait()
        else:
            await self.broker.ended(run_id)

    async def _run(self, job: RunJob) -> None:
        status = "interrupted"
        try:
            await asyncio.sleep(job.delay())
            job.watch = current_observer().background_run(job.graph_id)
            async with self.broker.turn(job):
                job.waiting = False
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
                job.stream.publish("metadata", {"run_id": job.run_id, "attempt": job.attempt})
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
        if job.handed_back:  # another process executes it now
            self.jobs.pop(job.run_id, None)
            job.stream.close()
            job.finished.set()
            return
        if job.result is None:
            job.result = {}
        error = job.result.get("__error__") if isinstance(job.result, dict) else None
        if job.cancelled is not None:
            error = dict(_CANCELLED[job.cancelled])
            status = "error" if job.cancelled == "shutdown" else status
        job.watch.ended(status)
        try:
            await self.broker.flush(job)  # its events are all there before it ends
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
            await self.storage.lock_thread(job.thread_id)  # no run is created on it meanwhile
            restored: dict[str, Any] = {}
            if job.cancelled == "rollback":
                restored = await self._forget(job)
                status = "success"  # the thread is as it was, with the rollback as its error
            else:
                run = await self.storage.update_run(job.run_id, {"status": status, "error": error})
            if job.temporary:  # (its checkpoints were in memory: they go with the job)
                await self.storage.delete_thread(job.thread_id)
            elif not [r for r in await self.unfinished(job.thread_id) if r["run_id"] != job.run_id]:
                stamp = now()
                changes = {"status": {"success": "idle"}.get(status, status), "error": error}
                changes.update(updated_at=stamp, state_updated_at=stamp)
                if restored:
                    changes["metadata"] = restored
                await self.storage.update_thread(job.thread_id, changes)
            await self.broker.changed(job.run)
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
