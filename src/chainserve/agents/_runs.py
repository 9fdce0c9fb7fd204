"""Creating runs (Agent Protocol): ``/threads/{tid}/runs[/wait|/stream]`` and the
stateless ``/runs[/wait|/stream|/batch]``.

A run executes its assistant's graph in this process (``Executor``); ``wait`` answers
its final values, ``stream`` its events as SSE (WIRE.md §5, §6). Reading, joining and
cancelling runs is in ``_run_access``.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field, RootModel, model_validator

from chainserve.agents._execution import Executor, RunJob, can_roll_back
from chainserve.agents._processes import LEASE_SECONDS, this_process
from chainserve.agents._protocol import (
    AgentServer,
    check_uuid,
    default_assistant_id,
    json_response,
    parse_body,
    thread_record,
)
from chainserve.agents._storage import AlreadyExists, new_id, now, run_json
from chainserve.agents._streams import sse_response
from chainserve.agents._webhooks import check_webhook

_Mode = Literal[
    "values",
    "updates",
    "messages",
    "messages-tuple",
    "custom",
    "debug",
    "tasks",
    "checkpoints",
    "events",
]
_NOT_FOUND = "Thread or assistant not found."
MAX_DELAY = 366 * 24 * 3600.0  # seconds: the longest after_seconds
_BUSY = (
    "Thread is already running a task. Wait for it to finish or choose a different "
    "multitask strategy."
)


class RunCreate(BaseModel):
    """A request to create a run, as the official clients send it."""

    assistant_id: str
    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: _Mode | list[_Mode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    checkpoint_id: str | None = None
    checkpoint: dict[str, Any] | None = None  # its checkpoint_id, as checkpoint_id
    durability: Literal["sync", "async", "exit"] | None = None
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: Literal["delete", "keep"] = "delete"  # a stateless run's thread
    webhook: str | None = None
    after_seconds: float = Field(default=0.0, ge=0, le=MAX_DELAY)

    @model_validator(mode="after")
    def _checked(self) -> RunCreate:
        """What the types do not say: checked here, so that a batch is checked whole."""
        if self.webhook is not None and (problem := check_webhook(self.webhook)):
            raise ValueError(problem)
        for name in ("configurable", "metadata"):
            if not isinstance((self.config or {}).get(name, {}), dict):
                raise ValueError(f"config.{name} must be an object")
        if not isinstance((self.checkpoint or {}).get("checkpoint_id", ""), (str, type(None))):
            raise ValueError("checkpoint.checkpoint_id must be a string")
        return self


class _Batch(RootModel[list[RunCreate]]):
    pass


def run_places(job: RunJob, stateless: bool, last: str) -> dict[str, str]:
    """The ``location`` (``…/{last}``) and ``content-location`` headers of a run."""
    base = f"/runs/{job.run_id}" if stateless else f"/threads/{job.thread_id}/runs/{job.run_id}"
    return {"location": f"{base}/{last}", "content-location": base}


class RunStarter:
    """Turns a ``RunCreate`` into a stored run handed to the executor; one thread's
    requests are taken one at a time (across processes, too), so that its multitask
    strategy holds."""

    def __init__(self, server: AgentServer, executor: Executor) -> None:
        self.server = server
        self.executor = executor
        executor.make_job = self.job_of

    async def assistant(self, assistant_id: str) -> dict[str, Any]:
        """The assistant a run names by UUID or by graph id; 422 or 404 otherwise."""
        graphs = self.server.graphs
        try:
            uuid.UUID(assistant_id)
        except ValueError:
            if assistant_id not in graphs:
                detail = (
                    f"Invalid assistant: '{assistant_id}'. Must be either:\n"
                    "- A valid assistant UUID, or\n"
                    f"- One of the registered graphs: {', '.join(graphs)}"
                )
                raise HTTPException(422, detail) from None
            assistant_id = default_assistant_id(assistant_id)
        assistant = await self.server.storage.get_assistant(assistant_id)
        if assistant is None or self.server.graph(assistant["graph_id"]) is None:
            raise HTTPException(404, _NOT_FOUND)
        return assistant

    async def start(self, thread_id: str | None, body: RunCreate) -> RunJob:
        """Store the run and submit it: on ``thread_id``, or on a new thread if None."""
        assistant = await self.assistant(body.assistant_id)
        if thread_id is None:
            thread = thread_record(new_id())
            temporary = body.on_completion == "delete"
            return await self._start(assistant, thread, body, new=True, temporary=temporary)
        async with self.server.thread_lock(check_uuid(thread_id, "thread")):
            found = await self.server.storage.get_thread(thread_id)
            if found is None and body.if_not_exists != "create":
                raise HTTPException(404, _NOT_FOUND)
            thread = found or thread_record(thread_id)
            try:
                return await self._start(assistant, thread, body, new=found is None)
            except AlreadyExists:  # POST /threads made it meanwhile: the run goes on it
                thread = await self.server.storage.get_thread(thread_id) or thread
                return await self._start(assistant, thread, body, new=False)

    async def _take_turn(self, thread_id: str, body: RunCreate) -> list[dict[str, Any]]:
        """Apply the multitask strategy to the thread's unfinished runs: 409 (reject), or
        those to cancel once the new run is stored."""
        busy = await self.executor.unfinished(thread_id)
        strategy = body.multitask_strategy
        if not busy or strategy == "enqueue":
            return []
        if strategy == "reject":
            raise HTTPException(409, _BUSY)
        check_rollback(self.server, busy, strategy)
        return busy

    async def _start(
        self,
        assistant: dict[str, Any],
        thread: dict[str, Any],
        body: RunCreate,
        *,
        new: bool,
        temporary: bool = False,
    ) -> RunJob:
        """Store the run (and ``thread``, if ``new``) in one transaction, and submit it."""
        graph_id, aid, tid = assistant["graph_id"], assistant["assistant_id"], thread["thread_id"]
        run_id = new_id()
        metadata = {
            **assistant["metadata"],
            **thread["metadata"],
            "graph_id": graph_id,
            "assistant_id": aid,
            **(body.metadata or {}),
        }
        config = await _config(self.server, assistant, body, tid, run_id, metadata)
        context = {**assistant.get("context", {}), **(body.context or {})}
        run = _run_record(run_id, tid, aid, metadata, body, config, context, temporary)
        changes = {"status": "busy", "updated_at": now(), "config": {"configurable": {}}}
        changes["metadata"] = {"graph_id": graph_id, "assistant_id": aid}
        storage = self.server.storage
        async with storage.transaction():
            await storage.lock_thread(tid)
            to_cancel = [] if new else await self._take_turn(tid, body)
            if new:
                await storage.put_thread(thread)
            await storage.put_run(run)
            await storage.update_thread(tid, changes)
        for other in to_cancel:
            await self.executor.cancel_run(other["run_id"], body.multitask_strategy)
        job = await self.job_of(run)
        self.executor.submit(job)
        return job

    async def job_of(self, run: dict[str, Any]) -> RunJob:
        """The job that executes the stored ``run``; ``LookupError`` if its graph is not
        served here."""
        kwargs = run["kwargs"]
        graph_id = run["metadata"].get("graph_id", "")
        graph = self.server.graph(graph_id)
        if graph is None:
            raise LookupError(f"graph {graph_id!r} is not served here")
        if kwargs.get("temporary"):  # its checkpoints are deleted at its end: why write them?
            from langgraph.checkpoint.memory import InMemorySaver

            graph = graph.copy(update={"checkpointer": InMemorySaver()})
        return RunJob(
            run=run,
            graph=graph,
            input=_input(kwargs.get("input"), kwargs.get("command")),
            config=kwargs["config"],
            context=kwargs.get("context") or {},
            stream_modes=list(kwargs["stream_mode"]),
            subgraphs=bool(kwargs.get("subgraphs")),
            interrupt_before=kwargs.get("interrupt_before"),
            interrupt_after=kwargs.get("interrupt_after"),
            resumable=bool(kwargs.get("resumable")),
            temporary=bool(kwargs.get("temporary")),
            webhook=kwargs.get("webhook"),
            durability=kwargs.get("durability"),
        )


def check_rollback(server: AgentServer, runs: list[dict[str, Any]], action: str) -> None:
    """422 if ``rollback`` is asked of a run whose graph's checkpointer cannot delete a
    run's checkpoints."""
    if action == "rollback" and not all(
        run["kwargs"].get("temporary") or can_roll_back(server.graph(_graph_id(run)))
        for run in runs
    ):
        raise HTTPException(
            422,
            "Cannot roll back: the graph's checkpointer cannot delete a run's checkpoints "
            "(adelete_for_runs); cancel with 'interrupt' instead",
        )


def _graph_id(run: dict[str, Any]) -> str:
    return str(run["metadata"].get("graph_id", ""))


async def cancel_runs(
    server: AgentServer, executor: Executor, runs: list[dict[str, Any]], action: str
) -> None:
    """Cancel ``runs`` (executing here or elsewhere) with ``action``; 422 before any is
    cancelled if ``rollback`` cannot be done (``check_rollback``)."""
    check_rollback(server, runs, action)
    for run in runs:
        await executor.cancel_run(run["run_id"], action)


def runs_router(server: AgentServer, executor: Executor) -> APIRouter:
    """The routes that create runs over ``server``'s graphs, executed by ``executor``."""
    router = APIRouter(tags=["runs"])
    starter = RunStarter(server, executor)

    async def wait(thread_id: str | None, request: Request) -> Response:
        job = await starter.start(thread_id, await parse_body(request, RunCreate))
        await job.finished.wait()
        return json_response(job.result, headers=run_places(job, thread_id is None, "join"))

    async def stream(thread_id: str | None, request: Request) -> Response:
        body = await parse_body(request, RunCreate)
        job = await starter.start(thread_id, body)
        on_closed = None
        if body.on_disconnect == "cancel":
            on_closed = lambda: executor.cancel(job, "disconnect")  # noqa: E731
        headers = run_places(job, thread_id is None, "stream")
        return sse_response(
            job.stream.follow(0), ids=job.resumable, on_disconnect=on_closed, headers=headers
        )

    async def create(thread_id: str | None, body: RunCreate) -> Response:
        job = await starter.start(thread_id, body)
        run = await server.storage.get_run(job.run_id) or job.run
        headers = {"content-location": run_places(job, thread_id is None, "")["content-location"]}
        return json_response(run_json({**run, "status": "pending"}), headers=headers)

    @router.post("/threads/{thread_id}/runs/wait")
    async def thread_wait(thread_id: str, request: Request) -> Response:
        return await wait(thread_id, request)

    @router.post("/runs/wait")
    async def stateless_wait(request: Request) -> Response:
        return await wait(None, request)

    @router.post("/threads/{thread_id}/runs/stream")
    async def thread_stream(thread_id: str, request: Request) -> Response:
        return await stream(thread_id, request)

    @router.post("/runs/stream")
    async def stateless_stream(request: Request) -> Response:
        return await stream(None, request)

    @router.post("/threads/{thread_id}/runs")
    async def thread_create(thread_id: str, request: Request) -> Response:
        return await create(thread_id, await parse_body(request, RunCreate))

    @router.post("/runs")
    async def stateless_create(request: Request) -> Response:
        return await create(None, await parse_body(request, RunCreate))

    @router.post("/runs/batch")
    async def batch(request: Request) -> Response:
        bodies = (await parse_body(request, _Batch)).root
        for body in bodies:  # every item checked (parsed, and here) before any run starts
            await starter.assistant(body.assistant_id)
        jobs = [await starter.start(None, body) for body in bodies]
        return json_response([run_json({**job.run, "status": "pending"}) for job in jobs])

    return router


def _run_record(
    run_id: str,
    thread_id: str,
    assistant_id: str,
    metadata: dict[str, Any],
    body: RunCreate,
    config: dict[str, Any],
    context: dict[str, Any],
    temporary: bool,
) -> dict[str, Any]:
    """The stored run, as the wire shows it (WIRE.md §5), with what executing it takes
    in its ``kwargs``; ``created_at`` is when it is due, later with ``after_seconds``."""
    due = now(body.after_seconds)
    modes = [body.stream_mode] if isinstance(body.stream_mode, str) else body.stream_mode
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "metadata": metadata,
        "status": "pending",
        "kwargs": {
            "input": body.input,
            "command": body.command,
            "config": config,
            "context": context,
            "stream_mode": modes,
            "interrupt_before": body.interrupt_before,
            "interrupt_after": body.interrupt_after,
            "webhook": body.webhook,
            "temporary": temporary,
            "subgraphs": body.stream_subgraphs,
            "resumable": body.stream_resumable,
            "durability": body.durability,
        },
        "multitask_strategy": body.multitask_strategy,
        "created_at": due,
        "updated_at": due,
        "error": None,
        "owner": this_process(),
        "lease_until": now(LEASE_SECONDS),
    }


def _input(value: Any, command: dict[str, Any] | None) -> Any:
    """What ``astream`` gets: the input, or the ``Command`` asked for."""
    if command is None:
        return value
    from langgraph.types import Command

    return Command(
        resume=command.get("resume"),
        goto=command.get("goto") or (),
        update=command.get("update"),
    )


async def _config(
    server: AgentServer,
    assistant: dict[str, Any],
    body: RunCreate,
    thread_id: str,
    run_id: str,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """The run's ``RunnableConfig``: the assistant's, then the request's, then its ids."""
    base, given = assistant.get("config") or {}, body.config or {}
    config = {"run_name": assistant["graph_id"], **base, **given}
    configurable = {
        **base.get("configurable", {}),
        **given.get("configurable", {}),
        "thread_id": thread_id,
        "run_id": run_id,
        "graph_id": assistant["graph_id"],
        "assistant_id": assistant["assistant_id"],
    }
    checkpoint_id = body.checkpoint_id or (body.checkpoint or {}).get("checkpoint_id")
    if checkpoint_id:
        saver = server.checkpointer(assistant["graph_id"])
        reference = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        reference["configurable"]["checkpoint_id"] = checkpoint_id
        if saver is not None and await saver.aget_tuple(reference) is not None:
            configurable["checkpoint_id"] = checkpoint_id
    config["configurable"] = configurable
    config["metadata"] = {**config.get("metadata", {}), **metadata}
    return config
