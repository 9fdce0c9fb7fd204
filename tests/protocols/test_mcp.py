"""The MCP server of an app (``add_routes(..., mcp=True)``), through the official ``mcp``
client over streamable HTTP at ``/mcp``: the handshake in both of the client's modes
(``server/discover`` at 2026-07-28, the ``initialize`` handshake at 2025-11-25), a tool
per ``mcp=True`` route with its schemas, calls compared with the route's runnable run
locally, streamed chunks as progress, errors as results, the routes' dependencies on
``/mcp``, and a client that gives up cancelling its run."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import httpx2
import jsonschema
import pytest
from fastapi import Depends, FastAPI
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult
from open_apps import KEY, OBJECT_ROUTES, ROUTES, WEATHER, Stall, check_key, open_app, shout
from servers import serve

from chainserve import add_routes
from chainserve.demo import LocalChatModel

VERSIONS = {"auto": "2026-07-28", "legacy": "2025-11-25"}  # what each mode speaks
RUNNABLES: dict[str, Runnable] = {**ROUTES, **OBJECT_ROUTES}
HELLO = "hello there"
CONVERSATION = [{"type": "human", "content": HELLO}]
CALLS: dict[str, tuple[str, dict[str, Any], Any]] = {
    # tool: (its route, the call's arguments, the same input run locally)
    "chat": ("/chat", {"input": CONVERSATION}, [HumanMessage(HELLO)]),
    "support": ("/support", {"messages": CONVERSATION}, {"messages": [HumanMessage(HELLO)]}),
    "assistant": ("/assistant", {"messages": CONVERSATION}, {"messages": [HumanMessage(HELLO)]}),
    "text_shout": ("/text/shout", {"input": "hello"}, "hello"),
    "text_story": ("/text/story", {"input": "once upon a time"}, "once upon a time"),
    "joke": ("/joke", {"question": "cats"}, {"question": "cats"}),
    "typed": ("/typed", {"item": "pen", "quantity": 2}, {"item": "pen", "quantity": 2}),
}
BAD_ARGUMENTS = [  # (tool, arguments, the field its error names)
    ("typed", {"item": "pen"}, "quantity"),
    ("typed", {"item": "pen", "quantity": "many"}, "quantity"),
    ("joke", {}, "question"),
    ("text_shout", {}, "input"),
    ("assistant", {"messages": [{"type": "nobody", "content": "hi"}]}, "messages"),
]
AGENT = LocalChatModel().bind_tools([WEATHER])  # answers a user message with a tool call


@pytest.fixture(scope="module")
def stall() -> Stall:
    return Stall()


@pytest.fixture(scope="module")
def url(stall: Stall) -> Iterator[str]:
    with serve(open_app(stall), lifespan=True) as base:
        yield f"{base}/mcp"


def guarded_app() -> FastAPI:
    """One route behind ``check_key`` (so ``/mcp`` is too: it has the dependencies of
    every MCP route) and one that calls a tool."""
    app = FastAPI(title="guarded")
    add_routes(
        app, RunnableLambda(shout), path="/shout", mcp=True, dependencies=[Depends(check_key)]
    )
    add_routes(app, AGENT, path="/agent", mcp=True)
    return app


@pytest.fixture(scope="module")
def guarded_url() -> Iterator[str]:
    with serve(guarded_app(), lifespan=True) as base:
        yield f"{base}/mcp"


@pytest.fixture(params=list(VERSIONS))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def connect(url: str, mode: str = "auto", **http: Any) -> AsyncIterator[Client]:
    """The official client on ``url`` in ``mode``; ``http`` configures its HTTP client
    (headers, ...). Auto mode without it is ``Client(url)``, the client's defaults."""
    if mode == "auto" and not http:
        async with Client(url) as client:
            yield client
        return
    async with (
        httpx2.AsyncClient(timeout=30, **http) as transport,
        Client(streamable_http_client(url, http_client=transport), mode=mode) as client,
    ):
        yield client


def text(result: CallToolResult) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


async def error_text(call: Awaitable[CallToolResult]) -> str:
    """The text of the error a call ends in: an ``isError`` result or a JSON-RPC error."""
    try:
        result = await call
    except MCPError as exc:
        return f"{exc.message} {exc.data or ''}"
    assert result.is_error, result
    return text(result)


def leaves(exc: BaseException) -> list[BaseException]:
    """An exception, or the exceptions of a group and its subgroups."""
    inner = getattr(exc, "exceptions", None)
    return [leaf for sub in inner for leaf in leaves(sub)] if inner else [exc]


def final_text(local: Any) -> str:
    """The text of an output: a string, a message's text, a graph state's last message's."""
    if isinstance(local, dict):
        return str(local["messages"][-1].text)
    return local if isinstance(local, str) else str(local.text)


def check_result(result: CallToolResult, local: Any) -> None:
    """``result`` is what the contract says of the runnable's output ``local``."""
    assert not result.is_error, result
    [content] = result.content
    assert content.type == "text"
    data = result.structured_content
    assert isinstance(data, dict)
    if isinstance(local, str):
        assert (content.text, data) == (local, {"result": local})
    elif isinstance(local, BaseMessage):
        assert content.text == local.text and data["content"] == local.text
    elif isinstance(local.get("messages"), list):  # a graph's state
        assert json.loads(content.text) == data
        messages = [(message["type"], message["content"]) for message in data["messages"]]
        assert messages == [(message.type, message.text) for message in local["messages"]]
        assert messages[-1][0] == "ai"
    else:
        assert json.loads(content.text) == data == local


async def test_the_handshake_declares_tools(url: str, mode: str) -> None:
    async with connect(url, mode) as client:
        assert client.protocol_version == VERSIONS[mode]
        assert client.server_info.name
        assert client.server_capabilities.tools is not None


async def test_a_tool_per_mcp_route_with_its_schemas(url: str, mode: str) -> None:
    async with connect(url, mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    # /secure/chat and /busy have no mcp=True: no tools.
    assert set(tools) == {*CALLS, "fail", "slow"}
    assert all(tool.description for tool in tools.values())
    assert tools["text_shout"].description == "Shout the text back."
    assert tools["joke"].description == "Answer a question about jokes."
    assert tools["typed"].description == "Price an order."
    assert "fail" in str(tools["fail"].description)  # a lambda without a docstring
    schemas = {name: tool.input_schema for name, tool in tools.items()}
    assert all(schema["type"] == "object" for schema in schemas.values())

    typed = schemas["typed"]
    assert {name: field["type"] for name, field in typed["properties"].items()} == {
        "item": "string",
        "quantity": "integer",
    }
    assert sorted(typed["required"]) == ["item", "quantity"]
    assert list(schemas["joke"]["properties"]) == ["question"]
    assert schemas["joke"]["properties"]["question"]["type"] == "string"
    assert schemas["joke"]["required"] == ["question"]
    for name in ("support", "assistant"):
        assert schemas[name]["properties"]["messages"]["type"] == "array"
    assert schemas["assistant"]["required"] == ["messages"]
    for name in ("chat", "text_shout", "text_story", "fail", "slow"):  # not objects: wrapped
        assert (list(schemas[name]["properties"]), schemas[name]["required"]) == (
            ["input"],
            ["input"],
        )
    assert schemas["text_shout"]["properties"]["input"]["type"] == "string"
    # The arguments the tests send are what the schemas describe.
    for name, (_, arguments, _) in CALLS.items():
        jsonschema.validate(arguments, schemas[name])

    output = tools["typed"].output_schema
    assert output is not None and output["type"] == "object"


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_call_answers_as_the_runnable_does(url: str, mode: str, name: str) -> None:
    path, arguments, value = CALLS[name]
    async with connect(url, mode) as client:
        result = await client.call_tool(name, arguments)
    check_result(result, await RUNNABLES[path].ainvoke(value))


@pytest.mark.parametrize("name", ["text_story", "chat", "support"])
async def test_a_streamed_call_reports_its_chunks_as_progress(
    url: str, mode: str, name: str
) -> None:
    path, arguments, value = CALLS[name]
    updates: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        updates.append((done, message))

    async with connect(url, mode) as client:
        result = await client.call_tool(name, arguments, progress_callback=progress)
    local = await RUNNABLES[path].ainvoke(value)
    check_result(result, local)
    assert len(updates) >= 2
    done = [update[0] for update in updates]
    assert done == sorted(set(done))  # strictly increasing
    assert "".join(str(message) for _, message in updates) == final_text(local)


async def test_errors_are_results_and_the_session_goes_on(url: str, mode: str) -> None:
    async with connect(url, mode) as client:
        failed = await client.call_tool("fail", {"input": "boom"})
        assert failed.is_error and text(failed)
        assert "secret internals" not in text(failed)
        for name, arguments, field in BAD_ARGUMENTS:
            assert field in await error_text(client.call_tool(name, arguments))
        assert await error_text(client.call_tool("no_such_tool", {}))
        check_result(await client.call_tool("text_shout", {"input": "still here"}), "STILL HERE")


async def test_mcp_takes_the_routes_dependencies(guarded_url: str, mode: str) -> None:
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    hooks = {"response": [record]}
    for headers, status in [({}, 401), ({"Authorization": "Bearer wrong"}, 403)]:
        statuses.clear()
        try:
            async with connect(guarded_url, mode, headers=headers, event_hooks=hooks) as client:
                await client.list_tools()
        except Exception as exc:
            assert any(isinstance(leaf, MCPError) for leaf in leaves(exc)), exc
        else:
            raise AssertionError(f"the client got in with {headers}")
        assert set(statuses) == {status}

    key = {"Authorization": f"Bearer {KEY}"}
    async with connect(guarded_url, mode, headers=key) as client:
        tools = (await client.list_tools()).tools
        assert {tool.name for tool in tools} == {"shout", "agent"}
        check_result(await client.call_tool("shout", {"input": "let me in"}), "LET ME IN")


async def test_a_models_tool_calls_are_in_its_result(guarded_url: str, mode: str) -> None:
    async with connect(guarded_url, mode, headers={"Authorization": f"Bearer {KEY}"}) as client:
        result = await client.call_tool("agent", {"input": "weather in Paris"})
    local = await AGENT.ainvoke("weather in Paris")
    assert local.tool_calls and not result.is_error
    data = result.structured_content
    assert isinstance(data, dict)
    calls = data.get("tool_calls") or data.get("kwargs", {}).get("tool_calls")
    assert [(call["name"], call["args"]) for call in calls] == [
        (call["name"], call["args"]) for call in local.tool_calls
    ]


async def until(condition: Any, what: str) -> None:
    """Wait (a bounded while) for ``condition()``."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} did not happen")


async def test_a_client_that_gives_up_cancels_the_run(url: str, stall: Stall) -> None:
    # At 2026-07-28 a client cancels a call by closing its response stream.
    async with connect(url) as client:
        call = asyncio.ensure_future(client.call_tool("slow", {"input": "wait"}))
        await until(stall.started.is_set, "the run's start")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await until(stall.cancelled.is_set, "the run's cancellation")
        check_result(await client.call_tool("text_shout", {"input": "next"}), "NEXT")
