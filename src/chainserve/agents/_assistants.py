"""``/assistants``: a graph with its configuration, versioned (Agent Protocol)."""

from __future__ import annotations

import warnings
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from chainserve.agents._protocol import (
    AgentServer,
    check_uuid,
    default_assistant_id,
    json_response,
    page,
    parse_body,
    query_flag,
)
from chainserve.agents._storage import AlreadyExists, contains, new_id, now
from chainserve.server.graphs import output_model

_SortBy = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]
_Field = Literal[
    "assistant_id",
    "graph_id",
    "name",
    "description",
    "config",
    "context",
    "created_at",
    "updated_at",
    "metadata",
    "version",
]


class _Search(BaseModel):
    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: _SortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[_Field] | None = None


class _Count(BaseModel):
    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None


class _Create(BaseModel):
    graph_id: str
    assistant_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"


class _Update(BaseModel):
    graph_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


class _Versions(BaseModel):
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class _Latest(BaseModel):
    version: int


def assistants_router(server: AgentServer) -> APIRouter:
    """The ``/assistants`` routes over ``server``'s graphs and storage."""
    router = APIRouter(prefix="/assistants", tags=["assistants"])
    storage = server.storage

    def known_graph(graph_id: str) -> None:
        if graph_id not in server.graphs:
            expected = list(server.graphs)
            raise HTTPException(404, f"Graph {graph_id!r} not found. Expected one of: {expected}")

    def assistant_key(assistant_id: str) -> str:
        if assistant_id in server.graphs:  # a graph id names its default assistant
            return default_assistant_id(assistant_id)
        return check_uuid(assistant_id, "assistant")

    async def found(assistant_id: str, detail: str = "Not Found") -> dict[str, Any]:
        assistant = await storage.get_assistant(assistant_key(assistant_id))
        if assistant is None:
            raise HTTPException(404, detail)
        return assistant

    async def found_graph(assistant_id: str) -> Any:
        assistant = await found(assistant_id)
        graph = server.graph(assistant["graph_id"])
        if graph is None:
            raise HTTPException(404, f"Graph {assistant['graph_id']!r} not found")
        return graph

    @router.post("/search")
    async def search(request: Request) -> Response:
        body = await parse_body(request, _Search, optional=True)
        items = await storage.search_assistants(
            graph_id=body.graph_id,
            name=body.name,
            metadata=body.metadata,
            sort_by=body.sort_by or "created_at",
            descending=body.sort_order != "asc",
        )
        return page(items, body.limit, body.offset, list(body.select or ()))

    @router.post("/count")
    async def count(request: Request) -> Response:
        body = await parse_body(request, _Count, optional=True)
        items = await storage.search_assistants(
            graph_id=body.graph_id, name=body.name, metadata=body.metadata
        )
        return json_response(len(items))

    @router.post("")
    async def create(request: Request) -> Response:
        body = await parse_body(request, _Create)
        known_graph(body.graph_id)
        assistant_id = check_uuid(body.assistant_id or new_id(), "assistant")
        config, context = _mirrored(body.config or {}, body.context)
        stamp = now()
        assistant = {
            "assistant_id": assistant_id,
            "graph_id": body.graph_id,
            "config": config,
            "context": context,
            "metadata": body.metadata or {},
            "name": body.name or "Untitled",
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
            "description": body.description,
        }
        try:
            await storage.put_assistant(assistant)
        except AlreadyExists:
            if body.if_exists == "raise":
                raise HTTPException(409, f"Assistant {assistant_id} already exists") from None
            return json_response(await storage.get_assistant(assistant_id))
        return json_response(assistant)

    @router.get("/{assistant_id}")
    async def get(assistant_id: str) -> Response:
        return json_response(await found(assistant_id))

    @router.patch("/{assistant_id}")
    async def update(assistant_id: str, request: Request) -> Response:
        body = await parse_body(request, _Update, optional=True)
        current = await found(assistant_id, f"Assistant {assistant_id} not found")
        if body.graph_id is not None:
            known_graph(body.graph_id)
        changes: dict[str, Any] = body.model_dump(
            include={"graph_id", "name", "description"}, exclude_none=True
        )
        if body.metadata is not None:
            changes["metadata"] = {**current["metadata"], **body.metadata}
        if body.config is not None or body.context is not None:
            config = body.config
            if config is None:  # the new context replaces the current configurable
                config = {k: v for k, v in current["config"].items() if k != "configurable"}
            changes["config"], changes["context"] = _mirrored(config, body.context)
        return json_response(await storage.add_version(current["assistant_id"], changes))

    @router.delete("/{assistant_id}", status_code=204)
    async def delete(assistant_id: str) -> Response:
        if not await storage.delete_assistant(assistant_key(assistant_id)):
            raise HTTPException(404, f"Assistant with ID {assistant_id} not found")
        return Response(status_code=204)

    @router.post("/{assistant_id}/versions")
    async def versions(assistant_id: str, request: Request) -> Response:
        body = await parse_body(request, _Versions, optional=True)
        current = await found(assistant_id, f"Assistant {assistant_id} not found")
        items = await storage.versions(current["assistant_id"])
        if body.metadata:
            items = [item for item in items if contains(item["metadata"], body.metadata)]
        return json_response(items[body.offset : body.offset + body.limit])

    @router.post("/{assistant_id}/latest")
    async def set_latest(assistant_id: str, request: Request) -> Response:
        body = await parse_body(request, _Latest)
        current = await found(assistant_id, f"Assistant {assistant_id} not found")
        chosen = await storage.set_version(current["assistant_id"], body.version)
        if chosen is None:
            raise HTTPException(404, f"Assistant {assistant_id} has no version {body.version}")
        return json_response(chosen)

    @router.get("/{assistant_id}/graph")
    async def graph(assistant_id: str, xray: str = "false") -> Response:
        drawn = (await found_graph(assistant_id)).get_graph(xray=_xray(xray)).to_json()
        for node in drawn["nodes"]:
            data = node.get("data")
            if isinstance(data, dict) and "name" in data:
                node["data"] = {"name": data["name"]}
        return json_response(drawn)

    @router.get("/{assistant_id}/schemas")
    async def schemas(assistant_id: str) -> Response:
        assistant = await found(assistant_id)
        graph = await found_graph(assistant_id)
        schemas = graph_schemas(graph, title=f"{assistant['graph_id']}_state")
        return json_response({"graph_id": assistant["graph_id"], **schemas})

    @router.get("/{assistant_id}/subgraphs")
    async def subgraphs(assistant_id: str, recurse: str = "false") -> Response:
        return await subgraphs_in(assistant_id, None, recurse)

    @router.get("/{assistant_id}/subgraphs/{namespace:path}")
    async def subgraphs_in(
        assistant_id: str, namespace: str | None, recurse: str = "false"
    ) -> Response:
        graph = await found_graph(assistant_id)
        deep = query_flag(recurse, "recurse")
        found_subgraphs = graph.get_subgraphs(namespace=namespace or None, recurse=deep)
        return json_response(
            {ns: graph_schemas(sub, title=sub.get_name("State")) for ns, sub in found_subgraphs}
        )

    return router


def graph_schemas(graph: Any, title: str | None = None) -> dict[str, Any]:
    """A graph's input, output, state, config and context JSON schemas (None where
    LangGraph or pydantic cannot describe one, as for ``typing.TypedDict`` on 3.11);
    ``title`` names the state schema."""

    def attempt(make: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return make()
        except Exception:
            return None

    def state() -> Any:
        schema = output_model(graph).model_json_schema()
        if title is not None:
            schema["title"] = title
        return schema

    def config() -> Any:
        schema = graph.config_schema().model_json_schema()
        return schema if schema.get("properties") else {}

    return {
        "input_schema": attempt(graph.get_input_jsonschema),
        "output_schema": attempt(graph.get_output_jsonschema),
        "state_schema": attempt(state),
        "config_schema": attempt(config),
        "context_schema": attempt(graph.get_context_jsonschema),
    }


def _mirrored(
    config: dict[str, Any], context: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``config`` and ``context`` with ``config.configurable`` and ``context`` the same."""
    configurable = config.get("configurable")
    if configurable and context:
        raise HTTPException(
            400,
            "Cannot specify both configurable and context. Prefer setting context alone. "
            "Context was introduced in LangGraph 0.6.0 and is the long term planned "
            "replacement for configurable.",
        )
    if context:
        return {**config, "configurable": context}, context
    return config, dict(configurable or {})


def _xray(value: str) -> bool | int:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        number = int(value)
    except ValueError:
        raise HTTPException(422, "xray must be a boolean or an integer") from None
    if number < 0:
        raise HTTPException(422, "xray must be a boolean or a positive integer")
    return number if number > 1 else bool(number)
