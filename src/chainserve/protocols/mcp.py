"""One MCP server per app at ``/mcp`` (streamable HTTP): a tool per ``mcp=True`` route.

The protocol is the official ``mcp`` SDK's (``pip install "chainserve[mcp]"``), in
stateless mode, answering with server-sent events so that progress notifications reach
the client. A tool call runs the route's runnable through its ``APIHandler``: its config,
limits and serialization; a client that goes away cancels it (the SDK cancels the call).
``/mcp`` has the dependencies of every MCP route (auth, say).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.params import Depends
from fastapi.routing import APIRoute
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from starlette.requests import Request
from starlette.responses import Response

from chainserve._version import __version__
from chainserve.protocols._relay import Relay
from chainserve.protocols._shapes import describe, input_shape, wrap_schema
from chainserve.protocols._streams import Collected, parts
from chainserve.server.errors import RequestError, RunTimeout, logger, problems
from chainserve.server.handler import APIHandler
from chainserve.server.lifespan import around_lifespan

try:
    import mcp_types as types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel.server import Server
    from mcp.server.streamable_http_manager import (
        StreamableHTTPASGIApp,
        StreamableHTTPSessionManager,
    )
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError('mcp=True needs the MCP SDK: pip install "chainserve[mcp]"') from exc

_SERVER = "_chainserve_mcp_server"  # the router's MCPServer, once it has one


def tool_name(path: str) -> str:
    """A route's tool name: its path without slashes, inner ones as ``_``."""
    name = path.strip("/").replace("/", "_") or "default"
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name)


def mount_mcp(
    app: FastAPI | APIRouter, handler: APIHandler, path: str, dependencies: Sequence[Depends]
) -> None:
    """Serve ``handler`` as a tool of ``app``'s MCP server."""
    router = app.router if isinstance(app, FastAPI) else app
    server = getattr(router, _SERVER, None)
    if server is None:
        title = app.title if isinstance(app, FastAPI) else "chainserve"
        server = MCPServer(router, title)
        setattr(router, _SERVER, server)
    server.add(RouteTool(handler, path), dependencies)


class RouteTool:
    """One route as an MCP tool."""

    def __init__(self, handler: APIHandler, path: str) -> None:
        self.handler = handler
        self.name = tool_name(path)
        shape = input_shape(handler)
        self.wrapped = shape.kind not in ("object", "field")
        # A chat input also takes a string (one user message): what MCP hosts send.
        self.chat = shape.kind == "messages"
        schema = shape.schema
        if self.chat:
            text = {"type": "string", "description": "A user message"}
            options = schema.get("anyOf", [schema])
            schema = {"anyOf": [text, *(o for o in options if o.get("type") != "string")]}
            schema = {**schema, "$defs": shape.schema.get("$defs", {})}
        self.input_schema = wrap_schema(schema) if self.wrapped else schema
        output = handler.schemas.output({})
        self.tool = types.Tool(
            name=self.name,
            description=describe(handler, path),
            input_schema=self.input_schema,
            # Declared only where the structured result is the output itself.
            output_schema=output if _plain_object(output) else None,
        )

    async def call(
        self, ctx: ServerRequestContext[Any], arguments: dict[str, Any], progress: bool
    ) -> types.CallToolResult:
        try:
            config = await self.handler.run_config(ctx.request, "mcp")  # type: ignore[arg-type]
            value = self._value(arguments, config)
        except RequestError as exc:
            return _error(problems(exc))
        try:
            start = (lambda: self._stream(ctx, value, config)) if progress else None
            output = await self.handler.run(
                start or (lambda: self.handler.runnable.ainvoke(value, config))
            )
        except RequestError as exc:  # the route's limit on runs at once
            return _error(problems(exc))
        except RunTimeout as exc:
            logger.warning("Tool %s timed out: %s", self.name, exc)
            return _error(problems(exc))
        except Exception as exc:
            logger.error("runnable_error in MCP tool %s", self.name, exc_info=exc)
            return _error("The tool failed (the server's log has the details)")
        return self._result(output)

    def _value(self, arguments: dict[str, Any], config: RunnableConfig) -> Any:
        if not self.wrapped:
            return self.handler.validate_input(arguments, config, ())
        if "input" not in arguments:
            raise RequestError(422, [{"loc": ["input"], "msg": "Field required"}])
        if self.chat and isinstance(arguments["input"], str):
            arguments = {"input": [HumanMessage(arguments["input"])]}
        return self.handler.validate_input(arguments["input"], config, ("input",))

    async def _stream(
        self, ctx: ServerRequestContext[Any], value: Any, config: RunnableConfig
    ) -> Any:
        """Run streaming: one progress notification per piece of text."""
        collected = Collected()
        count = 0
        async for kind, item in parts(self.handler.runnable, value, config):
            text = collected.text(kind, item)
            if text:
                count += 1
                await ctx.session.report_progress(count, None, text)
        return collected.output

    def _result(self, output: Any) -> types.CallToolResult:
        if isinstance(output, str):
            return _text(output, {"result": output})
        data = orjson.loads(self.handler.serializer.dumps(output))
        if isinstance(output, BaseMessage) and output.text:
            return _text(output.text, data)
        text = orjson.dumps(data).decode()
        return _text(text, data if isinstance(data, dict) else {"result": data})


class MCPServer:
    """An app's MCP server: its tools, the SDK's server, and the ``/mcp`` route."""

    def __init__(self, router: APIRouter, title: str) -> None:
        self._router = router
        self._tools: dict[str, RouteTool] = {}
        self._dependencies: list[Depends] = []
        self._route: APIRoute | None = None
        self._server: Server[Any] = Server(
            title or "chainserve",
            version=__version__,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            get_tool_input_schema=self._input_schema,
        )
        self._manager: StreamableHTTPSessionManager | None = None
        self._runner: asyncio.Future[None] | None = None
        self._starting: asyncio.Lock | None = None
        around_lifespan(router, None, self.stop)

    def add(self, tool: RouteTool, dependencies: Sequence[Depends]) -> None:
        self._tools[tool.name] = tool
        self._dependencies += [d for d in dependencies if d not in self._dependencies]
        self._mount()

    def _mount(self) -> None:
        """(Re)register ``/mcp`` with the dependencies of every tool so far."""
        if self._route is not None:
            self._router.routes.remove(self._route)
        self._router.add_api_route(
            "/mcp",
            self.endpoint,
            methods=["GET", "POST", "DELETE"],
            dependencies=list(self._dependencies),
            include_in_schema=False,
        )
        self._route = self._router.routes[-1]  # type: ignore[assignment]

    async def endpoint(self, request: Request) -> Response:
        return Relay(StreamableHTTPASGIApp(await self._running()))

    async def _running(self) -> StreamableHTTPSessionManager:
        """The SDK's session manager, started on first use (it needs a task group that
        outlives requests); stopped with the app's lifespan."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._manager is None:
                manager = StreamableHTTPSessionManager(
                    app=self._server, json_response=False, stateless=True, security_settings=None
                )
                started = asyncio.Event()
                # In an empty context: no request's context outlives the request.
                hold = self._hold(manager, started)
                self._runner = contextvars.Context().run(asyncio.ensure_future, hold)
                await started.wait()
                self._manager = manager
        return self._manager

    @staticmethod
    async def _hold(manager: StreamableHTTPSessionManager, started: asyncio.Event) -> None:
        async with manager.run():
            started.set()
            await asyncio.Event().wait()  # until stopped

    async def stop(self) -> None:
        runner, self._runner, self._manager = self._runner, None, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool.tool for tool in self._tools.values()])

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        tool = self._tools.get(name)
        return tool.input_schema if tool else None

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = self._tools.get(params.name)
        if tool is None:
            return _error(f"Unknown tool {params.name!r}; tools/list names them")
        progress = (params.meta or {}).get("progress_token") is not None
        return await tool.call(ctx, dict(params.arguments or {}), progress)


def _text(text: str, data: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=data
    )


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _plain_object(schema: dict[str, Any]) -> bool:
    """An object schema whose values are plain JSON (not LangChain's message models,
    whose JSON form is the serializer's, not the schema's)."""
    defs = schema.get("$defs", {})
    return schema.get("type") == "object" and not any(name.endswith("Message") for name in defs)
