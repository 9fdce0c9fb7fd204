"""A route as an A2A agent: its card at ``{path}/.well-known/agent-card.json``, JSON-RPC
(A2A 1.0, the official ``a2a-sdk``'s default) at ``{path}``.

The protocol is the SDK's (``pip install "chainserve[a2a]"``): its request handler keeps
the tasks (in memory) and relays their events. The agent runs the route's runnable
through its ``APIHandler``, streaming: each piece of text is an artifact update, an
object output a data part; a ``CancelTask`` cancels the run. The route's dependencies
guard both the card and the endpoint.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.params import Depends
from langchain_core.messages import BaseMessage, HumanMessage
from starlette.responses import Response

from chainserve._version import __version__
from chainserve.protocols import A2A_CARD
from chainserve.protocols._shapes import InputShape, describe, input_shape
from chainserve.protocols._streams import Collected, parts
from chainserve.server.errors import RequestError, RunTimeout, logger, problems
from chainserve.server.handler import APIHandler
from chainserve.server.lifespan import around_lifespan
from chainserve.server.responses import JSONBytesResponse

try:
    from a2a.helpers import (
        get_data_parts,
        get_text_parts,
        new_data_part,
        new_task_from_user_message,
        new_text_part,
    )
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.context import ServerCallContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.request_handlers.response_helpers import agent_card_to_dict
    from a2a.server.routes import DefaultServerCallContextBuilder
    from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Task
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError('a2a=True needs the A2A SDK: pip install "chainserve[a2a]"') from exc

_ARTIFACT = "output"
TASKS_KEPT = 10_000  # per agent, the oldest forgotten first


def mount_a2a(
    app: FastAPI | APIRouter, handler: APIHandler, path: str, dependencies: Sequence[Depends]
) -> None:
    """Serve ``handler`` as an A2A agent under ``path``."""
    router = app.router if isinstance(app, FastAPI) else app
    agent = Agent(handler, path, app.prefix if isinstance(app, APIRouter) else "")
    options: dict[str, Any] = {"dependencies": list(dependencies), "include_in_schema": False}
    router.add_api_route(path + A2A_CARD, agent.card, methods=["GET"], **options)
    router.add_api_route(path or "/", agent.rpc, methods=["POST"], **options)
    around_lifespan(router, None, agent.close)


class Agent:
    """One route's agent: its card, and its JSON-RPC endpoint over the SDK's handler."""

    def __init__(self, handler: APIHandler, path: str, prefix: str) -> None:
        self.name = (prefix + path).strip("/") or "default"
        self.description = describe(handler, path)
        self._where = prefix + path
        self._card = self._build_card(self._where or "/")  # the handler's; requests get a URL
        self._handler = DefaultRequestHandler(
            agent_executor=RouteExecutor(handler),
            task_store=RecentTasks(),
            agent_card=self._card,
        )
        self._dispatcher = JsonRpcDispatcher(
            request_handler=self._handler, context_builder=_ContextBuilder()
        )

    async def card(self, request: Request) -> Response:
        """The agent card, naming this server's URL as the request reached it."""
        url = str(request.base_url).rstrip("/") + self._where
        return JSONBytesResponse(orjson.dumps(agent_card_to_dict(self._build_card(url))))

    async def rpc(self, request: Request) -> Response:
        return await self._dispatcher.handle_requests(request)

    async def close(self) -> None:
        await self._handler.aclose()

    def _build_card(self, url: str) -> AgentCard:
        return AgentCard(
            name=self.name,
            description=self.description,
            version=__version__,
            default_input_modes=["text/plain", "application/json"],
            default_output_modes=["text/plain", "application/json"],
            capabilities=AgentCapabilities(streaming=True),
            skills=[
                AgentSkill(
                    id=self.name, name=self.name, description=self.description, tags=["chainserve"]
                )
            ],
            supported_interfaces=[
                AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")
            ],
        )


class RecentTasks(InMemoryTaskStore):
    """The SDK's in-memory task store, keeping the latest ``TASKS_KEPT`` tasks: a server
    that runs for months must not keep every task it ever ran."""

    def __init__(self, kept: int | None = None) -> None:
        super().__init__()
        self._kept = TASKS_KEPT if kept is None else kept
        self._owners: OrderedDict[str, ServerCallContext] = OrderedDict()

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await super().save(task, context)
        # Only the user: the owner's key, without the request the context holds.
        self._owners[task.id] = ServerCallContext(user=context.user)
        self._owners.move_to_end(task.id)
        while len(self._owners) > self._kept:
            oldest, owner = self._owners.popitem(last=False)
            await super().delete(oldest, owner)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self._owners.pop(task_id, None)
        await super().delete(task_id, context)


class _ContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context, with the request (the route's config is built from it)."""

    def build(self, request: Request) -> ServerCallContext:  # type: ignore[override]
        context = super().build(request)
        context.state["request"] = request
        return context


class RouteExecutor(AgentExecutor):
    """Runs a route's runnable for a task, streaming its output as artifact updates."""

    def __init__(self, handler: APIHandler) -> None:
        self.handler = handler
        self.shape = input_shape(handler)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.current_task is None:
            assert context.message is not None  # the SDK's handler runs a task for a message
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = _updater(context, event_queue)
        await updater.start_work()
        request = context.call_context.state["request"]  # _ContextBuilder's
        try:
            config = await self.handler.run_config(request, "a2a")
            value = self.handler.validate_input(_value(self.shape, context), config, ())
        except RequestError as exc:
            await updater.failed(_message(updater, problems(exc)))
            return
        try:
            await self.handler.run(lambda: self._stream(updater, value, config))
        except asyncio.CancelledError:
            raise  # CancelTask: cancel() said so
        except (RequestError, RunTimeout) as exc:
            await updater.failed(_message(updater, problems(exc)))
        except Exception as exc:
            logger.error("runnable_error in A2A agent %s", self.handler.path, exc_info=exc)
            await updater.failed(_message(updater, "The agent failed"))
        else:
            await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Say the task is cancelled; the SDK then cancels ``execute``, and the run."""
        await _updater(context, event_queue).cancel()

    async def _stream(self, updater: TaskUpdater, value: Any, config: Any) -> None:
        collected = Collected()
        streamed = False
        async for kind, item in parts(self.handler.runnable, value, config):
            text = collected.text(kind, item)
            if text:
                await updater.add_artifact(
                    [new_text_part(text)], artifact_id=_ARTIFACT, name=_ARTIFACT, append=streamed
                )
                streamed = True
        output = collected.output
        final = output.text if isinstance(output, BaseMessage) else output
        if isinstance(final, str) and (final or not isinstance(output, BaseMessage)):
            if streamed or not final:
                return
            last = new_text_part(final)
        else:  # an object, or a message of only tool calls: its JSON, in place of any text
            last = new_data_part(orjson.loads(self.handler.serializer.dumps(output)))
        await updater.add_artifact([last], artifact_id=_ARTIFACT, name=_ARTIFACT, append=False)


def _value(shape: InputShape, context: RequestContext) -> Any:
    """The route's input in a message: a data part for object inputs, else its text
    (a chat input given text gets it as one user message)."""
    message = context.message
    data = get_data_parts(message.parts) if message else []
    text = "\n".join(get_text_parts(message.parts)) if message else ""
    if shape.kind in ("object", "field") and data and isinstance(data[0], dict):
        return data[0]
    if shape.kind == "field":
        return {shape.field: [HumanMessage(text)]}
    if shape.kind == "messages":
        return [HumanMessage(text)]
    if shape.kind == "other" and data:
        return data[0]
    if shape.kind == "object":
        raise RequestError(422, "Send this agent's input as a data part (a JSON object)")
    return text


def _updater(context: RequestContext, event_queue: EventQueue) -> TaskUpdater:
    assert context.task_id and context.context_id  # the SDK's handler gives both
    return TaskUpdater(event_queue, context.task_id, context.context_id)


def _message(updater: TaskUpdater, text: str) -> Any:
    return updater.new_agent_message([new_text_part(text)])
