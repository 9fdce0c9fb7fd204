"""``/threads``: threads, their state and history (Agent Protocol).

A thread's state is in the checkpoints of the graph its metadata's ``graph_id`` names,
kept by that graph's checkpointer (the server's, unless the graph has its own).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from chainserve.agents._execution import Executor
from chainserve.agents._protocol import (
    AgentServer,
    check_uuid,
    json_response,
    page,
    parse_body,
    query_flag,
    query_int,
    thread_record,
)
from chainserve.agents._storage import AlreadyExists, contains, new_id, now

_Status = Literal["idle", "busy", "interrupted", "error"]
_SortBy = Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
_Field = Literal[
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "context",
    "status",
    "values",
    "interrupts",
    "error",
]


class _Update(BaseModel):
    values: Any = None
    as_node: str | None = None
    command: dict[str, Any] | None = None


class _Superstep(BaseModel):
    updates: list[_Update]


class _Create(BaseModel):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    supersteps: list[_Superstep] | None = None


class _Search(BaseModel):
    ids: list[str] | None = None
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: _Status | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: _SortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[_Field] | None = None
    extract: dict[str, str] | None = None


class _Count(BaseModel):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: _Status | None = None


class _Patch(BaseModel):
    metadata: dict[str, Any] = Field(default_factory=dict)


class _AtCheckpoint(BaseModel):
    checkpoint: dict[str, Any] | None = None
    subgraphs: bool = False


class _StateUpdate(BaseModel):
    values: Any = None
    as_node: str | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None


class _History(BaseModel):
    limit: int = Field(10, ge=1, le=1000)
    before: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None


def threads_router(server: AgentServer, executor: Executor) -> APIRouter:
    """The ``/threads`` routes over ``server``'s graphs, storage and checkpointers;
    deleting a thread first stops its runs in ``executor``."""
    router = APIRouter(prefix="/threads", tags=["threads"])
    storage = server.storage

    async def found(thread_id: str, detail: str | None = None) -> dict[str, Any]:
        thread = await storage.get_thread(check_uuid(thread_id, "thread"))
        if thread is None:
            raise HTTPException(404, detail or f"Thread with ID {thread_id} not found")
        return thread

    def graph_of(thread: dict[str, Any]) -> Any:
        graph = server.graph(str(thread["metadata"].get("graph_id", "")))
        return graph if graph is not None and hasattr(graph.checkpointer, "aget_tuple") else None

    async def with_values(thread: dict[str, Any]) -> dict[str, Any]:
        graph = graph_of(thread)
        snapshot = await graph.aget_state(_config(thread["thread_id"])) if graph else None
        if snapshot is None or not _saved(snapshot):
            return {**_stateless(thread), "values": None}
        interrupts = {
            task.id: [_interrupt(i) for i in task.interrupts]
            for task in snapshot.tasks
            if task.interrupts
        }
        return {**thread, "values": snapshot.values, "interrupts": interrupts}

    async def filtered(values: dict[str, Any] | None, **criteria: Any) -> list[dict[str, Any]]:
        """The matching threads; with their values only if filtered on them."""
        threads = await storage.search_threads(**criteria)
        if not values:
            return threads
        threads = [await with_values(t) for t in threads]
        return [t for t in threads if t["values"] and contains(t["values"], values)]

    async def write_state(
        thread: dict[str, Any], updates: list[list[Any]], checkpoint: dict[str, Any] | None = None
    ) -> Any:
        graph = graph_of(thread)
        if graph is None:
            detail = f"Thread {thread['thread_id']} has no graph: set graph_id in its metadata"
            raise HTTPException(400, detail)
        from langgraph.errors import InvalidUpdateError

        config = _config(thread["thread_id"], checkpoint)
        # Recorded in the checkpoints' metadata, as the reference server does.
        config["metadata"] = {"graph_id": thread["metadata"]["graph_id"]}
        try:
            saved = await graph.abulk_update_state(config, updates)
        except InvalidUpdateError as exc:
            raise HTTPException(400, str(exc).split("\n")[0]) from None
        stamp = now()
        changes = {"updated_at": stamp, "state_updated_at": stamp, "config": {"configurable": {}}}
        await storage.update_thread(thread["thread_id"], changes)
        return saved

    @router.post("")
    async def create(request: Request) -> Response:
        body = await parse_body(request, _Create, optional=True)
        thread = thread_record(check_uuid(body.thread_id or new_id(), "thread"), body.metadata)
        try:
            await storage.put_thread(thread)
        except AlreadyExists:
            if body.if_exists == "raise":
                detail = f"Thread with ID {thread['thread_id']} already exists"
                raise HTTPException(409, detail) from None
            return json_response(await with_values(await found(thread["thread_id"])))
        if body.supersteps:
            from langgraph.types import StateUpdate

            steps = [[StateUpdate(u.values, u.as_node) for u in s.updates] for s in body.supersteps]
            try:
                await write_state(thread, steps)
            except HTTPException:
                await storage.delete_thread(thread["thread_id"])
                raise
            thread = await found(thread["thread_id"])
        return json_response(await with_values(thread))

    @router.post("/search")
    async def search(request: Request) -> Response:
        body = await parse_body(request, _Search, optional=True)
        threads = await filtered(
            body.values,
            ids=[check_uuid(i, "thread") for i in body.ids] if body.ids is not None else None,
            status=body.status,
            metadata=body.metadata,
            sort_by=body.sort_by or "created_at",
            descending=body.sort_order != "asc",
        )
        shown = slice(body.offset, body.offset + body.limit)  # only these need their values
        threads[shown] = [t if "values" in t else await with_values(t) for t in threads[shown]]
        if body.extract:
            for thread in threads[shown]:
                thread["extracted"] = {k: _path(thread, p) for k, p in body.extract.items()}
        select: list[str] = list(body.select or ())
        if select and body.extract:
            select.append("extracted")
        return page(threads, body.limit, body.offset, select)

    @router.post("/count")
    async def count(request: Request) -> Response:
        body = await parse_body(request, _Count, optional=True)
        threads = await filtered(body.values, status=body.status, metadata=body.metadata)
        return json_response(len(threads))

    @router.get("/{thread_id}")
    async def get(thread_id: str) -> Response:
        return json_response(await with_values(await found(thread_id)))

    @router.patch("/{thread_id}")
    async def update(thread_id: str, request: Request) -> Response:
        body = await parse_body(request, _Patch, optional=True)
        await found(thread_id, "Not Found")
        changes = {"metadata": body.metadata, "updated_at": now()}
        updated = await storage.update_thread(thread_id, changes)
        return json_response(await with_values(updated or await found(thread_id)))

    @router.delete("/{thread_id}", status_code=204)
    async def delete(thread_id: str) -> Response:
        thread = await found(thread_id)
        async with server.thread_lock(thread_id):  # no run starts on it meanwhile
            runs = await executor.unfinished(thread_id)
            for run in runs:
                await executor.cancel_run(run["run_id"], "interrupt")
            for run in runs:
                await executor.ended(run["run_id"])
            saver = server.checkpointer(thread["metadata"].get("graph_id"))
            if saver is not None:
                await saver.adelete_thread(thread_id)
            await storage.delete_thread(thread_id)
        return Response(status_code=204)

    @router.post("/{thread_id}/copy")
    async def copy(thread_id: str) -> Response:
        thread = await found(thread_id)
        stamp = now()
        new = {**thread, "thread_id": new_id(), "created_at": stamp, "updated_at": stamp}
        await storage.put_thread(new)
        saver = server.checkpointer(thread["metadata"].get("graph_id"))
        if saver is not None:
            await _copy_checkpoints(saver, thread_id, new["thread_id"])
        return json_response(_stateless(new))

    async def state_at(
        thread_id: str, checkpoint: dict[str, Any] | None, subgraphs: bool
    ) -> Response:
        thread = await found(thread_id)
        graph = graph_of(thread)
        if graph is None:
            return json_response(_EMPTY_STATE)
        snapshot = await graph.aget_state(_config(thread_id, checkpoint), subgraphs=subgraphs)
        if not _saved(snapshot):
            return json_response(_EMPTY_STATE)
        return json_response(state_json(snapshot))

    @router.get("/{thread_id}/state")
    async def get_state(thread_id: str, subgraphs: str = "false") -> Response:
        return await state_at(thread_id, None, query_flag(subgraphs, "subgraphs"))

    @router.get("/{thread_id}/state/{checkpoint_id}")
    async def get_state_at(
        thread_id: str, checkpoint_id: str, subgraphs: str = "false"
    ) -> Response:
        checkpoint = {"checkpoint_id": checkpoint_id}
        return await state_at(thread_id, checkpoint, query_flag(subgraphs, "subgraphs"))

    @router.post("/{thread_id}/state/checkpoint")
    async def post_state_at(thread_id: str, request: Request) -> Response:
        body = await parse_body(request, _AtCheckpoint, optional=True)
        return await state_at(thread_id, body.checkpoint, body.subgraphs)

    @router.post("/{thread_id}/state")
    async def update_state(thread_id: str, request: Request) -> Response:
        body = await parse_body(request, _StateUpdate)
        thread = await found(thread_id)
        from langgraph.types import StateUpdate

        checkpoint = dict(body.checkpoint or {})
        if body.checkpoint_id:
            checkpoint["checkpoint_id"] = body.checkpoint_id
        update = StateUpdate(body.values, body.as_node)
        saved = await write_state(thread, [[update]], checkpoint)
        configurable = saved["configurable"]
        reference = {
            "thread_id": thread_id,
            "checkpoint_ns": configurable.get("checkpoint_ns", ""),
            "checkpoint_id": configurable["checkpoint_id"],
        }
        return json_response(
            {
                "checkpoint": reference,
                "configurable": reference,
                "checkpoint_id": reference["checkpoint_id"],
            }
        )

    async def history(thread_id: str, body: _History) -> Response:
        thread = await found(thread_id)
        graph = graph_of(thread)
        if graph is None:
            return json_response([])
        before = body.before
        if isinstance(before, str):
            before = {"checkpoint_id": before}
        if isinstance(before, dict) and "configurable" in before:
            before = before["configurable"]
        states = graph.aget_state_history(
            _config(thread_id, body.checkpoint),
            filter=body.metadata or None,
            before=_config(thread_id, before) if before else None,
            limit=body.limit,
        )
        return json_response([state_json(snapshot) async for snapshot in states])

    @router.post("/{thread_id}/history")
    async def post_history(thread_id: str, request: Request) -> Response:
        return await history(thread_id, await parse_body(request, _History, optional=True))

    @router.get("/{thread_id}/history")
    async def get_history(thread_id: str, limit: str = "10", before: str | None = None) -> Response:
        body = _History(limit=query_int(limit, "limit", 1), before=before)
        return await history(thread_id, body)

    return router


_EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


def _stateless(thread: dict[str, Any]) -> dict[str, Any]:
    """A thread with no state yet as the wire shows it: no ``error`` (nor interrupts)."""
    return {key: value for key, value in thread.items() if key != "error"}


def state_json(snapshot: Any) -> dict[str, Any]:
    """A LangGraph ``StateSnapshot`` as the protocol's ThreadState."""
    checkpoint = _reference(snapshot.config)
    parent = _reference(snapshot.parent_config)
    return {
        "values": snapshot.values,
        "next": list(snapshot.next),
        "tasks": [_task(task) for task in snapshot.tasks],
        "metadata": snapshot.metadata,
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "interrupts": [_interrupt(i) for i in snapshot.interrupts],
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


def _saved(snapshot: Any) -> bool:
    """Whether ``snapshot`` is of a stored checkpoint (not the empty state LangGraph
    answers for a thread, or a checkpoint id, it does not have)."""
    return snapshot.metadata is not None and "checkpoint_id" in snapshot.config["configurable"]


def _task(task: Any) -> dict[str, Any]:
    nested = task.state if hasattr(task.state, "values") and hasattr(task.state, "next") else None
    return {
        "id": task.id,
        "name": task.name,
        "path": list(task.path),
        "error": repr(task.error) if task.error is not None else None,
        "interrupts": [_interrupt(i) for i in task.interrupts],
        "checkpoint": _reference(task.state) if isinstance(task.state, dict) else None,
        "state": state_json(nested) if nested is not None else None,
        "result": task.result,
    }


def _interrupt(interrupt: Any) -> dict[str, Any]:
    return {"id": interrupt.id, "value": interrupt.value}


def _reference(config: Any) -> dict[str, Any] | None:
    configurable = (config or {}).get("configurable") or {}
    if "checkpoint_id" not in configurable:
        return None
    return {
        "checkpoint_id": configurable["checkpoint_id"],
        "thread_id": configurable.get("thread_id"),
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
    }


def _config(thread_id: str, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    keys = ("checkpoint_id", "checkpoint_ns")
    chosen = {key: (checkpoint or {})[key] for key in keys if (checkpoint or {}).get(key)}
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", **chosen}}


def _path(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


async def _copy_checkpoints(saver: Any, source: str, target: str) -> None:
    """Copy every checkpoint and pending write of thread ``source`` to ``target``."""
    saved = [t async for t in saver.alist({"configurable": {"thread_id": source}})]
    for found in reversed(saved):  # oldest first: each one's parent is there before it
        configurable = found.config["configurable"]
        into: dict[str, Any] = {
            "thread_id": target,
            "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        }
        if found.parent_config:
            into["checkpoint_id"] = found.parent_config["configurable"]["checkpoint_id"]
        checkpoint = found.checkpoint
        written = await saver.aput(
            {"configurable": into},
            checkpoint,
            found.metadata,
            checkpoint.get("channel_versions", {}),
        )
        by_task: defaultdict[str, list[tuple[str, Any]]] = defaultdict(list)
        for task_id, channel, value in found.pending_writes or ():
            by_task[task_id].append((channel, value))
        for task_id, writes in by_task.items():
            await saver.aput_writes(written, writes, task_id)
