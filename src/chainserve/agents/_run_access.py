"""Reading, joining and cancelling runs (Agent Protocol): ``/threads/{tid}/runs/{rid}``
with ``/join``, ``/stream`` and ``/cancel``, ``/runs/cancel``, and the thread's stream
``/threads/{tid}/stream`` (WIRE.md §5, §6.4, §8)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from chainserve.agents._execution import Executor, RunJob
from chainserve.agents._protocol import (
    AgentServer,
    check_uuid,
    json_response,
    parse_body,
    query_flag,
    query_int,
)
from chainserve.agents._runs import cancel_runs
from chainserve.agents._storage import run_json
from chainserve.agents._streams import (
    HEARTBEAT,
    Event,
    RunStream,
    event_id,
    sse_response,
    wire_json,
)

_NONE_TO_CANCEL = "No runs found to cancel."
_FINISHED = (
    "No matching runs to cancel. Please verify the thread ID and run IDs are correct, "
    "and the runs haven't been deleted or completed."
)
_Action = Literal["interrupt", "rollback"]


class _CancelMany(BaseModel):
    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None


def run_access_router(server: AgentServer, executor: Executor) -> APIRouter:
    """The routes that read, join and cancel the runs ``executor`` runs."""
    router = APIRouter(tags=["runs"])
    storage = server.storage

    async def run_of(thread_id: str, run_id: str, detail: str = "Not Found") -> dict[str, Any]:
        run = await storage.get_run(check_uuid(run_id, "run"))
        if run is None or run["thread_id"] != check_uuid(thread_id, "thread"):
            raise HTTPException(404, detail)
        return run

    def places(thread_id: str, run_id: str) -> dict[str, str]:
        base = f"/threads/{thread_id}/runs/{run_id}"
        return {"location": f"{base}/join", "content-location": base}

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
        shown = [run_json(run) for run in runs[first : first + query_int(limit, "limit", 1)]]
        if select:
            shown = [{key: run.get(key) for key in select} for run in shown]
        return json_response(shown)

    @router.get("/threads/{thread_id}/runs/{run_id}")
    async def get(thread_id: str, run_id: str) -> Response:
        return json_response(run_json(await run_of(thread_id, run_id)))

    @router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
    async def delete(thread_id: str, run_id: str) -> Response:
        run = await run_of(thread_id, run_id, "Run not found")
        if run["status"] in _UNFINISHED:
            await executor.cancel_run(run_id, "interrupt")
            await executor.ended(run_id)
        await storage.delete_run(run_id)
        executor.replays.pop(run_id, None)
        return Response(status_code=204)

    @router.get("/threads/{thread_id}/runs/{run_id}/join")
    async def join(thread_id: str, run_id: str) -> Response:
        run = await run_of(thread_id, run_id, "Run not found")
        job = executor.jobs.get(run_id)
        if job is not None:
            await job.finished.wait()
            return json_response(job.result, headers=places(thread_id, run_id))
        if run["status"] in _UNFINISHED:  # executed by another process
            await executor.ended(run_id)
        run = await storage.get_run(run_id) or run
        if run["error"] and run["status"] == "error":
            return json_response({"__error__": run["error"]}, headers=places(thread_id, run_id))
        return json_response(await _thread_result(server, run), headers=places(thread_id, run_id))

    @router.get("/threads/{thread_id}/runs/{run_id}/stream")
    async def join_stream(
        thread_id: str,
        run_id: str,
        request: Request,
        stream_mode: Annotated[list[str] | None, Query()] = None,
        cancel_on_disconnect: str = "false",
    ) -> Response:
        run = await run_of(thread_id, run_id, "Run not found")
        last_event_id = request.headers.get("last-event-id")
        cancel_on_close = query_flag(cancel_on_disconnect, "cancel_on_disconnect")
        job = executor.jobs.get(run_id)
        stream = job.stream if job is not None else executor.replays.get(run_id)
        events, start = None, None
        if stream is not None and (job is not None or last_event_id is not None):
            start = stream.position_after(last_event_id)
        if start is not None:
            events = stream.follow(start)  # type: ignore[union-attr]
        elif job is None and (run["status"] in _UNFINISHED or last_event_id is not None):
            events = await executor.broker.events(run_id, last_event_id)  # another process's
        on_closed = None
        if events is not None and run["status"] in _UNFINISHED and cancel_on_close:
            on_closed = lambda: _cancel_later(executor, run_id)  # noqa: E731
        resumable = job.resumable if job is not None else True
        events = _only(events or RunStream.closed().follow(0), _wanted(stream_mode))
        return sse_response(events, ids=resumable, on_disconnect=on_closed)

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel")
    async def cancel(
        thread_id: str, run_id: str, wait: str = "false", action: str = "interrupt"
    ) -> Response:
        chosen = _action(action)
        run = await run_of(thread_id, run_id, _NONE_TO_CANCEL)
        if run["status"] not in _UNFINISHED:
            raise HTTPException(404, _FINISHED)
        await cancel_runs(server, executor, [run], chosen)
        if not query_flag(wait, "wait"):
            return Response(status_code=202)
        await executor.ended(run_id)
        return json_response({}, headers=places(thread_id, run_id))

    @router.post("/runs/cancel", status_code=204)
    async def cancel_many(request: Request, action: str = "interrupt") -> Response:
        chosen = _action(action)
        body = await parse_body(request, _CancelMany)
        runs = await _chosen_runs(executor, body)
        if not runs:
            raise HTTPException(404, _NONE_TO_CANCEL)
        await cancel_runs(server, executor, runs, chosen)
        return Response(status_code=204)

    @router.get("/threads/{thread_id}/stream")
    async def thread_stream(
        thread_id: str,
        request: Request,
        stream_mode: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        if await storage.get_thread(check_uuid(thread_id, "thread")) is None:
            raise HTTPException(404, f"Thread with ID {thread_id} not found")
        last_event_id = request.headers.get("last-event-id")
        if last_event_id is not None and not _EVENT_ID.fullmatch(last_event_id):
            raise HTTPException(422, "Invalid last-event-id: must be an event id of this server")
        events = _thread_events(executor, thread_id, last_event_id)
        return sse_response(_only(events, _wanted(stream_mode)), ids=True)

    return router


_EVENT_ID = re.compile(r"\d+-\d+")  # as event_id() makes them


def _action(action: str) -> _Action:
    if action not in ("interrupt", "rollback"):
        raise HTTPException(422, f"Invalid cancel action {action!r}: 'interrupt' or 'rollback'")
    return "rollback" if action == "rollback" else "interrupt"


async def _chosen_runs(executor: Executor, body: _CancelMany) -> list[dict[str, Any]]:
    """The runs ``POST /runs/cancel`` names: by status, or by thread (and run ids)."""
    if body.status is not None:
        if body.thread_id is not None or body.run_ids is not None:
            raise HTTPException(
                422,
                "When providing a 'status', 'thread_id' and 'run_ids' must be omitted. "
                "The 'status' selects the runs to cancel on its own.",
            )
        statuses = list(_UNFINISHED) if body.status == "all" else [body.status]
        return await executor.storage.search_runs(statuses=statuses)
    if body.thread_id is None:
        raise HTTPException(422, "Give either a 'status', or a 'thread_id' (and 'run_ids')")
    runs = await executor.unfinished(check_uuid(body.thread_id, "thread"))
    if body.run_ids is not None:
        runs = [run for run in runs if run["run_id"] in body.run_ids]
    return runs


def _cancel_later(executor: Executor, run_id: str) -> None:
    """Cancel the run once its follower has left (a task: the response is gone)."""
    job = executor.jobs.get(run_id)
    if job is not None:
        executor.cancel(job, "disconnect")
        return
    task = asyncio.get_running_loop().create_task(executor.cancel_run(run_id, "disconnect"))
    _CANCELLING.add(task)
    task.add_done_callback(_CANCELLING.discard)


_CANCELLING: set[asyncio.Task[None]] = set()
_UNFINISHED = ("pending", "running")


def _wanted(stream_mode: list[str] | None) -> Callable[[str], bool]:
    """Which event names a join's ``stream_mode`` keeps (none given or ``run_modes``:
    all); ``metadata`` and ``error`` always."""
    modes = {mode for mode in stream_mode or () if mode and mode != "run_modes"}
    if not modes:
        return lambda name: True
    names = {"messages" if mode == "messages-tuple" else mode for mode in modes}
    names |= {"metadata", "error"}
    return lambda name: name.split("|")[0].split("/")[0] in names


async def _only(
    events: AsyncIterator[Event | None], wanted: Callable[[str], bool]
) -> AsyncIterator[Event | None]:
    async for event in events:
        if event is None or wanted(event[1]):
            yield event


async def _thread_events(
    executor: Executor, thread_id: str, last_event_id: str | None
) -> AsyncIterator[Event | None]:
    """The events of the thread's runs, one run after the other, each followed by
    ``metadata`` ``{"status": "run_done"}``; the runs going on now from the live point
    (or from the first event after ``last_event_id``'s, of this run or an earlier one),
    later ones from their start. Ends when the server stops."""
    queue = executor.watch(thread_id)
    starts = {}
    for running in executor.active(thread_id):
        stream = running.stream
        live = len(stream.events)
        starts[running.run_id] = (
            live if last_event_id is None else stream.position_since(last_event_id)
        )
    try:
        while True:
            job: RunJob | None
            try:
                job = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except asyncio.TimeoutError:
                yield None
                continue
            if job is None:
                return
            async for event in job.stream.follow(starts.pop(job.run_id, 0)):
                yield event
            done = {"status": "run_done", "run_id": job.run_id}
            yield event_id(), "metadata", wire_json(done)
    finally:
        executor.unwatch(thread_id, queue)


async def _thread_result(server: AgentServer, run: dict[str, Any]) -> Any:
    """What joining a finished run answers: its thread's interrupts, else its values."""
    graph = server.graph(str(run["metadata"].get("graph_id", "")))
    if graph is None:
        return {}
    snapshot = await graph.aget_state({"configurable": {"thread_id": run["thread_id"]}})
    if snapshot.interrupts:
        return {"__interrupt__": [{"id": i.id, "value": i.value} for i in snapshot.interrupts]}
    return snapshot.values or {}
