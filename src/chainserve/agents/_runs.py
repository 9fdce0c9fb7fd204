"""Runs (Agent Protocol): ``/threads/{tid}/runs/...`` and stateless ``/runs/...``.

A run executes its assistant's graph in this process (``Executor``); ``wait`` answers
its final values, ``stream`` its events as SSE (WIRE.md §5, §6).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from chainserve.agents._execution import Executor, RunJob, RunStream
from chainserve.agents._protocol import (
    AgentServer,
    check_uuid,
    default_assistant_id,
    json_response,
    parse_body,
    query_flag,
    query_int,
)
from chainserve.agents._storage import new_id, now

_Mode = Literal[
    "values",
    "updates",
    "messages",
    "messages-tuple",
    "custom",
    "debug",
    "tasks",
    "checkpoints",
]
_NOT_FOUND = "Thread or assistant not found."
_BUSY = (
    "Thread is already running a task. Wait for it to finish or choose a different "
    "multitask strategy."
)


class _RunCreate(BaseModel):
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
    multitask_strategy: Literal["reject", "enqueue", "interrupt"] = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    checkpoint_id: str | None = None
    on_disconnect: Literal["cancel", "continue"] = "continue"


def _run_json(run: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in run.items() if key != "error"}


def _sse(event: tuple[str, str, bytes] | None, with_id: bool) -> bytes:
    if event is None:
        return b": heartbeat\r\n\r\n"
    event_id, name, data = event
    line = b"event: " + name.encode() + b"\r\ndata: " + data + b"\r\n"
    if with_id:
        line += b"id: " + event_id.encode() + b"\r\n"
    return line + b"\r\n"


def runs_router(server: AgentServer, executor: Executor) -> APIRouter:
    """The runs routes over ``server``'s graphs and storage, executed by ``executor``."""
    router = APIRouter(tags=["runs"])
    storage = server.storage

    async def assistant_of(assistant_id: str) -> dict[str, Any]:
        try:
            uuid.UUID(assistant_id)
        except ValueError:
            if assistant_id not in server.graphs:
                detail = (
                    f"Invalid assistant: '{assistant_id}'. Must be either:\n"
                    "- A valid assistant UUID, or\n"
                    f"- One of the registered graphs: {', '.join(server.graphs)}"
                )
                raise HTTPException(422, detail) from None
            assistant_id = default_assistant_id(assistant_id)
        assistant = await storage.get_assistant(assistant_id)
        if assistant is None or server.graph(assistant["graph_id"]) is None:
            raise HTTPException(404, _NOT_FOUND)
        return assistant

    async def thread_of(thread_id: str | None, body: _RunCreate) -> tuple[dict[str, Any], bool]:
        """The run's thread (a new temporary one when stateless), and whether temporary."""
        if thread_id is not None:
            thread = await storage.get_thread(check_uuid(thread_id, "thread"))
            if thread is not None:
                return thread, False
            if body.if_not_exists != "create":
                raise HTTPException(404, _NOT_FOUND)
        stamp = now()
        thread = {
            "thread_id": thread_id or new_id(),
            "created_at": stamp,
            "updated_at": stamp,
            "state_updated_at": stamp,
            "metadata": {},
            "status": "idle",
            "config": {},
        }
        await storage.put_thread(thread)
        return thread, thread_id is None

    async def start(thread_id: str | None, body: _RunCreate) -> RunJob:
        assistant = await assistant_of(body.assistant_id)
        thread, temporary = await thread_of(thread_id, body)
        tid = thread["thread_id"]
        busy = executor.active(tid)
        if busy and body.multitask_strategy == "reject":
            raise HTTPException(409, _BUSY)
        if body.multitask_strategy == "interrupt":
            for job in busy:
                executor.cancel(job, "interrupt")
        graph_id, aid = assistant["graph_id"], assistant["assistant_id"]
        run_id = new_id()
        metadata = {
            **assistant["metadata"],
            **thread["metadata"],
            "graph_id": graph_id,
            "assistant_id": aid,
            **(body.metadata or {}),
        }
        config = await _config(server, assistant, body, tid, run_id, metadata)
        modes = [body.stream_mode] if isinstance(body.stream_mode, str) else body.stream_mode
        stamp = now()
        run = {
            "run_id": run_id,
            "thread_id": tid,
            "assistant_id": aid,
            "metadata": metadata,
            "status": "pending",
            "kwargs": {
                "input": body.input,
                "command": body.command,
                "config": config,
                "context": body.context or {},
                "stream_mode": modes,
                "interrupt_before": body.interrupt_before,
                "interrupt_after": body.interrupt_after,
                "temporary": temporary,
                "subgraphs": body.stream_subgraphs,
                "resumable": body.stream_resumable,
            },
            "multitask_strategy": body.multitask_strategy,
            "created_at": stamp,
            "updated_at": stamp,
            "error": None,
        }
        await storage.put_run(run)
        changes = {"status": "busy", "updated_at": stamp, "config": {"configurable": {}}}
        changes["metadata"] = {"graph_id": graph_id, "assistant_id": aid}
        await storage.update_thread(tid, changes)
        job = RunJob(
            run=run,
            graph=server.graph(graph_id),
            input=_input(body),
            config=config,
            context={**assistant.get("context", {}), **(body.context or {})},
            stream_modes=list(modes),
            subgraphs=body.stream_subgraphs,
            interrupt_before=body.interrupt_before,
            interrupt_after=body.interrupt_after,
            resumable=body.stream_resumable,
            temporary=temporary,
        )
        executor.submit(job)
        return job

    def places(job: RunJob, stateless: bool, last: str) -> dict[str, str]:
        base = f"/runs/{job.run_id}" if stateless else f"/threads/{job.thread_id}/runs/{job.run_id}"
        return {"location": f"{base}/{last}", "content-location": base}

    async def wait(thread_id: str | None, request: Request) -> Response:
        job = await start(thread_id, await parse_body(request, _RunCreate))
        await job.finished.wait()
        return json_response(job.result, headers=places(job, thread_id is None, "join"))

    def sse(stream: RunStream, start: int, job: RunJob | None, **headers: str) -> Response:
        resumable = job.resumable if job is not None else True

        async def events() -> AsyncIterator[bytes]:
            completed = False
            try:
                async for event in stream.follow(start):
                    yield _sse(event, resumable)
                completed = True
            finally:
                on_disconnect = job.run["kwargs"].get("on_disconnect") if job else None
                if not completed and job is not None and on_disconnect == "cancel":
                    executor.cancel(job, "interrupt")

        headers = {"cache-control": "no-store", "x-accel-buffering": "no", **headers}
        return StreamingResponse(
            events(), media_type="text/event-stream; charset=utf-8", headers=headers
        )

    async def stream(thread_id: str | None, request: Request) -> Response:
        body = await parse_body(request, _RunCreate)
        job = await start(thread_id, body)
        job.run["kwargs"]["on_disconnect"] = body.on_disconnect
        return sse(job.stream, 0, job, **places(job, thread_id is None, "stream"))

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
    async def create(thread_id: str, request: Request) -> Response:
        job = await start(thread_id, await parse_body(request, _RunCreate))
        run = await storage.get_run(job.run_id) or job.run
        headers = {"content-location": f"/threads/{job.thread_id}/runs/{job.run_id}"}
        return json_response(_run_json({**run, "status": "pending"}), headers=headers)

    async def run_of(thread_id: str, run_id: str, detail: str = "Not Found") -> dict[str, Any]:
        run = await storage.get_run(check_uuid(run_id, "run"))
        if run is None or run["thread_id"] != check_uuid(thread_id, "thread"):
            raise HTTPException(404, detail)
        return run

    @router.get("/threads/{thread_id}/runs")
    async def list_runs(
        thread_id: str,
        limit: str = "10",
        offset: str = "0",
        status: str | None = None,
        select: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        if await storage.get_thread(check_uuid(thread_id, "thread")) is None:
            raise HTTPException(404, f"Thread with ID {thread_id} not found")
        first = query_int(offset, "offset", 0)
        runs = await storage.search_runs(
            thread_id=thread_id, statuses=[status] if status is not None else None
        )
        shown = [_run_json(run) for run in runs[first : first + query_int(limit, "limit", 1)]]
        if select:
            shown = [{key: run.get(key) for key in select} for run in shown]
        return json_response(shown)

    @router.get("/threads/{thread_id}/runs/{run_id}")
    async def get(thread_id: str, run_id: str) -> Response:
        return json_response(_run_json(await run_of(thread_id, run_id)))

    @router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
    async def delete(thread_id: str, run_id: str) -> Response:
        await run_of(thread_id, run_id, "Run not found")
        job = executor.jobs.get(run_id)
        if job is not None:
            executor.cancel(job, "interrupt")
            await job.finished.wait()
        await storage.delete_run(run_id)
        executor.replays.pop(run_id, None)
        return Response(status_code=204)

    @router.get("/threads/{thread_id}/runs/{run_id}/join")
    async def join(thread_id: str, run_id: str) -> Response:
        run = await run_of(thread_id, run_id, "Run not found")
        headers = {"location": f"/threads/{thread_id}/runs/{run_id}/join"}
        headers["content-location"] = f"/threads/{thread_id}/runs/{run_id}"
        job = executor.jobs.get(run_id)
        if job is not None:
            await job.finished.wait()
            return json_response(job.result, headers=headers)
        run = await storage.get_run(run_id) or run
        if run["error"] and run["status"] == "error":
            return json_response({"__error__": run["error"]}, headers=headers)
        return json_response(await _thread_result(server, run), headers=headers)

    @router.get("/threads/{thread_id}/runs/{run_id}/stream")
    async def join_stream(thread_id: str, run_id: str, request: Request) -> Response:
        await run_of(thread_id, run_id, "Run not found")
        last_event_id = request.headers.get("last-event-id")
        job = executor.jobs.get(run_id)
        stream = job.stream if job is not None else executor.replays.get(run_id)
        if stream is None or (job is None and last_event_id is None):
            stream, start = RunStream(), 0
            stream.close()
        else:
            position = stream.position_after(last_event_id)
            if position is None:
                stream, position = RunStream(), 0
                stream.close()
            start = position
        return sse(stream, start, job)

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel")
    async def cancel(
        thread_id: str, run_id: str, wait: str = "false", action: str = "interrupt"
    ) -> Response:
        if action != "interrupt":
            raise HTTPException(422, f"Unsupported cancel action {action!r}: only 'interrupt'")
        await run_of(thread_id, run_id, "No runs found to cancel.")
        job = executor.jobs.get(run_id)
        if job is None:
            raise HTTPException(
                404,
                "No matching runs to cancel. Please verify the thread ID and run IDs are "
                "correct, and the runs haven't been deleted or completed.",
            )
        executor.cancel(job, action)
        if not query_flag(wait, "wait"):
            return Response(status_code=202)
        await job.finished.wait()
        headers = {"location": f"/threads/{thread_id}/runs/{run_id}/join"}
        headers["content-location"] = f"/threads/{thread_id}/runs/{run_id}"
        return json_response({}, headers=headers)

    return router


def _input(body: _RunCreate) -> Any:
    if body.command is None:
        return body.input
    from langgraph.types import Command

    command = body.command
    return Command(
        resume=command.get("resume"),
        goto=command.get("goto") or (),
        update=command.get("update"),
    )


async def _config(
    server: AgentServer,
    assistant: dict[str, Any],
    body: _RunCreate,
    thread_id: str,
    run_id: str,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """The run's ``RunnableConfig``: the assistant's, then the request's, then its ids."""
    base, given = assistant.get("config") or {}, body.config or {}
    config = {**base, **given}
    configurable = {
        **base.get("configurable", {}),
        **given.get("configurable", {}),
        "thread_id": thread_id,
        "run_id": run_id,
        "graph_id": assistant["graph_id"],
        "assistant_id": assistant["assistant_id"],
    }
    if body.checkpoint_id:
        saver = server.checkpointer(assistant["graph_id"])
        reference = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        reference["configurable"]["checkpoint_id"] = body.checkpoint_id
        if saver is not None and await saver.aget_tuple(reference) is not None:
            configurable["checkpoint_id"] = body.checkpoint_id
    config["configurable"] = configurable
    config["metadata"] = {**config.get("metadata", {}), **metadata}
    return config


async def _thread_result(server: AgentServer, run: dict[str, Any]) -> Any:
    """What joining a finished run answers: its thread's interrupts, else its values."""
    graph = server.graph(str(run["metadata"].get("graph_id", "")))
    if graph is None:
        return {}
    snapshot = await graph.aget_state({"configurable": {"thread_id": run["thread_id"]}})
    if snapshot.interrupts:
        return {"__interrupt__": [{"id": i.id, "value": i.value} for i in snapshot.interrupts]}
    return snapshot.values or {}
