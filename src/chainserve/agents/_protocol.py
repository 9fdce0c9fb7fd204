"""What the Agent Protocol's routes share: the served graphs, the storage, request
parsing and the JSON the wire expects."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ValidationError

from chainserve.agents._storage import Storage, new_id, now
from chainserve.serialization import dumps
from chainserve.server.graphs import find_graph

_Body = TypeVar("_Body", bound=BaseModel)
# Any fixed namespace makes the default assistants' ids the same on every start.
_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b812-9dad-11d1-80b4-00c04fd430c8")


def default_assistant_id(graph_id: str) -> str:
    """The id of a graph's default assistant: a UUID5 of the graph id."""
    return str(uuid.uuid5(_ASSISTANT_NAMESPACE, graph_id))


@dataclass
class AgentServer:
    """The graphs served (by id) and the storage of their assistants and threads.

    ``saver`` gives the server's checkpointer as it is now (a new one per app start),
    or None when no graph uses it.
    """

    graphs: Mapping[str, Runnable]
    storage: Storage
    saver: Callable[[], Any]
    # A thread's lock lasts while a request holds or awaits it.
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def thread_lock(self, thread_id: str) -> asyncio.Lock:
        """The lock of the requests that start runs on ``thread_id`` or delete it: taken
        one at a time, so that a multitask strategy holds and no run outlives its thread."""
        return self._locks.setdefault(thread_id, asyncio.Lock())

    async def create_default_assistants(self) -> None:
        """Store each graph's default assistant, if it is not stored yet."""
        for graph_id in self.graphs:
            stamp = now()
            assistant = {
                "assistant_id": default_assistant_id(graph_id),
                "graph_id": graph_id,
                "config": {},
                "context": {},
                "metadata": {"created_by": "system"},
                "name": graph_id,
                "created_at": stamp,
                "updated_at": stamp,
                "version": 1,
                "description": None,
            }
            await self.storage.put_assistant(assistant, replace=True)

    def graph(self, graph_id: str) -> Any:
        """The served graph (a ``Pregel``) of ``graph_id``, or None."""
        runnable = self.graphs.get(graph_id)
        return find_graph(runnable) if runnable is not None else None

    def checkpointer(self, graph_id: str | None) -> Any:
        """The checkpointer holding the threads of ``graph_id`` (the server's by default)."""
        graph = self.graph(graph_id) if graph_id else None
        saver = getattr(graph, "checkpointer", None)
        return saver if hasattr(saver, "aget_tuple") else self.saver()


def thread_record(thread_id: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new idle thread, as stored and answered."""
    stamp = now()
    return {
        "thread_id": thread_id,
        "created_at": stamp,
        "updated_at": stamp,
        "state_updated_at": stamp,
        "metadata": metadata or {},
        "status": "idle",
        "config": {},
        "error": None,
    }


def check_uuid(value: str, what: str) -> str:
    """``value`` if it is a UUID, else 422 ``Invalid <what> ID: must be a UUID``."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise HTTPException(422, f"Invalid {what} ID: must be a UUID") from None
    return value


async def parse_body(request: Request, model: type[_Body], *, optional: bool = False) -> _Body:
    """The request's JSON body as ``model``; 422 with a one-line reason if it is not."""
    raw = await request.body()
    if not raw.strip() and optional:
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise HTTPException(422, "Invalid JSON in request body") from None
        if errors and errors[0]["type"] == "model_type":
            raise HTTPException(422, "Request body must be a JSON object") from None
        raise HTTPException(422, "; ".join(_reason(error) for error in errors)) from None


def _reason(error: Any) -> str:
    """One of pydantic's errors as a line: where, then what (a check's own words)."""
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "value_error":  # a model's own check, in its own words
        what = str(error["ctx"]["error"])
        return f"{where}: {what}" if where else what
    return f"{where or 'body'}: {error['msg']}"


def query_flag(value: str, name: str) -> bool:
    """A boolean query parameter (``true``/``false``, ``1``/``0``, ...); 422 otherwise."""
    lowered = value.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise HTTPException(422, f"{name} must be a boolean, not {value!r}")


def query_int(value: str, name: str, minimum: int) -> int:
    """An integer query parameter of at least ``minimum``; 422 otherwise."""
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise HTTPException(422, f"{name} must be an integer of at least {minimum}")
    return number


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def json_response(
    content: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` as JSON, LangChain objects as their ``model_dump()``."""
    return Response(
        dumps(content), status_code=status_code, headers=headers, media_type="application/json"
    )


def page(
    items: list[dict[str, Any]], limit: int, offset: int, select: list[str] | None
) -> Response:
    """One page of ``items`` with the ``x-pagination-*`` headers, keys trimmed to ``select``."""
    shown = items[offset : offset + limit]
    more = len(items) > offset + limit
    headers = {"x-pagination-total": str(offset + len(shown) + (1 if more else 0))}
    if more:
        headers["x-pagination-next"] = str(offset + limit)
    if select:
        shown = [{key: item.get(key) for key in select} for item in shown]
    return json_response(shown, headers=headers)


__all__ = ["AgentServer", "check_uuid", "default_assistant_id", "json_response", "new_id"]
