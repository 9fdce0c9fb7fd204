"""``a2a=True``: each route is an A2A agent, as the official ``a2a-sdk`` client sees it
(its defaults: JSON-RPC, protocol 1.0). The card, ``SendMessage`` on routes of every
input shape compared with the runnable run locally, streaming, ``GetTask``,
``CancelTask`` reaching the run, errors, and the route's dependencies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, create_client
from a2a.client.errors import AgentCardResolutionError
from a2a.helpers import get_data_parts, get_text_parts, new_data_part, new_text_part
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from fastapi import Depends, FastAPI
from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage
from open_apps import KEY, OBJECT_ROUTES, ROUTES, Stall, check_key, open_app
from servers import serve

from chainserve import add_routes
from chainserve.demo import LocalChatModel
from chainserve.protocols import a2a as a2a_adapter

COMPLETED = TaskState.TASK_STATE_COMPLETED
FAILED = TaskState.TASK_STATE_FAILED
CANCELED = TaskState.TASK_STATE_CANCELED

# Text routes: (path, what is sent, the local runnable's input for it)
TEXT_CASES = [
    ("/chat", "Hello there, model", [HumanMessage("Hello there, model")]),
    ("/assistant", "Hello assistant", {"messages": [HumanMessage("Hello assistant")]}),
    ("/text/shout", "hello a2a", "hello a2a"),
    ("/text/story", "Tell me a joke about otters", "Tell me a joke about otters"),
]


@pytest.fixture(scope="module")
def stall() -> Stall:
    return Stall()


@pytest.fixture(scope="module")
def base(stall: Stall) -> Iterator[str]:
    with serve(open_app(stall)) as url:
        yield url


@pytest.fixture
async def client(base: str) -> AsyncIterator[Any]:
    """``agent(path, streaming=...)``: an SDK client for a route, closed afterwards."""
    clients: list[Client] = []

    async def agent(path: str, *, streaming: bool = False) -> Client:
        made = await create_client(base + path, client_config=ClientConfig(streaming=streaming))
        clients.append(made)
        return made

    yield agent
    for made in clients:
        await made.close()


def request(*parts: Part, context_id: str = "") -> SendMessageRequest:
    message = Message(
        role=Role.ROLE_USER, message_id=str(uuid.uuid4()), context_id=context_id, parts=parts
    )
    return SendMessageRequest(message=message)


async def send(agent: Client, *parts: Part, context_id: str = "") -> list[StreamResponse]:
    return [event async for event in agent.send_message(request(*parts, context_id=context_id))]


async def sent_task(agent: Client, *parts: Part, context_id: str = "") -> Task:
    """The one answer to a non-streaming send: a Task (not a Message)."""
    events = await send(agent, *parts, context_id=context_id)
    assert [event.WhichOneof("payload") for event in events] == ["task"]
    return events[0].task


def text_of(task: Task) -> str:
    return "".join("".join(get_text_parts(artifact.parts)) for artifact in task.artifacts)


def data_of(task: Task) -> list[Any]:
    return [data for artifact in task.artifacts for data in get_data_parts(artifact.parts)]


def status_text(task: Task) -> str:
    return "".join(get_text_parts(task.status.message.parts))


def local_text(output: Any) -> str:
    return output.text if isinstance(output, BaseMessage) else output


async def test_the_card_is_a_1_0_card_naming_the_route_s_endpoint(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for path in ["/chat", "/text/shout", "/typed", "/support"]:
            response = await http.get(f"{base}{path}/.well-known/agent-card.json")
            assert response.status_code == 200, response.text
            card = response.json()
            assert card["name"] and card["description"]
            assert card["skills"] and all(skill["id"] and skill["name"] for skill in card["skills"])
            assert card["capabilities"]["streaming"] is True
            assert card["supportedInterfaces"] == [
                {"url": base + path, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
            ]
            assert "url" not in card  # not a 0.3 card
        card = (await http.get(f"{base}/text/shout/.well-known/agent-card.json")).json()
        assert card["description"] == "Shout the text back."  # the function's docstring
        resolved = await A2ACardResolver(http, base + "/joke").get_agent_card()
    assert resolved.name and resolved.description and resolved.capabilities.streaming
    assert resolved.supported_interfaces[0].url == base + "/joke"


@pytest.mark.parametrize(("path", "text", "local"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
async def test_send_runs_text_routes_as_locally(
    client: Any, path: str, text: str, local: Any
) -> None:
    task = await sent_task(await client(path), new_text_part(text))
    assert task.status.state == COMPLETED
    assert text_of(task) == local_text(await ROUTES[path].ainvoke(local))
    assert data_of(task) == []


async def test_send_gives_object_routes_their_data_part(client: Any) -> None:
    joke = await sent_task(await client("/joke"), new_data_part({"question": "otters"}))
    assert joke.status.state == COMPLETED
    assert text_of(joke) == await OBJECT_ROUTES["/joke"].ainvoke({"question": "otters"})

    order = {"item": "apple", "quantity": 3}
    typed = await sent_task(await client("/typed"), new_data_part(order))
    assert typed.status.state == COMPLETED
    assert data_of(typed) == [await OBJECT_ROUTES["/typed"].ainvoke(order)]  # 9.0 == 9


async def test_a_graph_on_messages_takes_a_data_part_or_text(client: Any) -> None:
    agent = await client("/support")
    human = {"messages": [{"type": "human", "content": "Hello graph"}]}
    local = await ROUTES["/support"].ainvoke({"messages": [HumanMessage("Hello graph")]})
    for part in [new_data_part(human), new_text_part("Hello graph")]:
        task = await sent_task(agent, part)
        assert task.status.state == COMPLETED
        [state] = data_of(task)  # its output: the graph's last state
        assert [(m["type"], m["content"]) for m in state["messages"]] == [
            (m.type, m.content) for m in local["messages"]
        ]


async def test_the_message_s_context_id_is_the_task_s(client: Any) -> None:
    agent = await client("/text/shout")
    task = await sent_task(agent, new_text_part("hi"), context_id="my-conversation")
    assert task.context_id == "my-conversation"
    assert (await sent_task(agent, new_text_part("hi"))).context_id  # one is made up


@pytest.mark.parametrize(
    ("path", "text", "local"), [TEXT_CASES[0], TEXT_CASES[3]], ids=["/chat", "/text/story"]
)
async def test_streaming_sends_chunks_as_artifact_updates(
    client: Any, path: str, text: str, local: Any
) -> None:
    agent = await client(path, streaming=True)
    events = await send(agent, new_text_part(text))
    kinds = [event.WhichOneof("payload") for event in events]
    assert kinds[0] == "task" and events[0].task.id
    task_id = events[0].task.id
    updates = [event.artifact_update for event in events if event.HasField("artifact_update")]
    assert len(updates) >= 2
    assert [update.append for update in updates] == [False] + [True] * (len(updates) - 1)
    assert {update.task_id for update in updates} == {task_id}
    expected = local_text(await ROUTES[path].ainvoke(local))
    assert "".join("".join(get_text_parts(u.artifact.parts)) for u in updates) == expected
    assert kinds[-1] == "status_update"
    assert events[-1].status_update.status.state == COMPLETED

    task = await agent.get_task(GetTaskRequest(id=task_id))
    assert (task.status.state, text_of(task)) == (COMPLETED, expected)


async def test_streaming_an_object_output_ends_with_its_data(client: Any) -> None:
    agent = await client("/typed", streaming=True)
    events = await send(agent, new_data_part({"item": "pear", "quantity": 2}))
    assert events[-1].status_update.status.state == COMPLETED
    task = await agent.get_task(GetTaskRequest(id=events[0].task.id))
    assert data_of(task) == [{"item": "pear", "total": 6}]


async def test_a_graph_streams_its_model_s_tokens_then_its_state(client: Any) -> None:
    agent = await client("/support", streaming=True)
    events = await send(agent, new_text_part("Hello graph"))
    updates = [event.artifact_update for event in events if event.HasField("artifact_update")]
    local = await ROUTES["/support"].ainvoke({"messages": [HumanMessage("Hello graph")]})
    tokens = "".join("".join(get_text_parts(u.artifact.parts)) for u in updates)
    assert tokens == local["messages"][-1].text
    assert len(updates) >= 3 and updates[-1].append is False  # the state replaces them
    [state] = get_data_parts(updates[-1].artifact.parts)
    assert state["messages"][-1]["content"] == local["messages"][-1].text
    assert events[-1].status_update.status.state == COMPLETED
    task = await agent.get_task(GetTaskRequest(id=events[0].task.id))
    assert (text_of(task), data_of(task)) == ("", [state])


async def test_a_failing_runnable_fails_the_task_without_its_internals(client: Any) -> None:
    for streaming in (False, True):
        agent = await client("/fail", streaming=streaming)
        events = await send(agent, new_text_part("anything"))
        assert "secret internals" not in str(events)
        task_id = events[0].task.id
        task = await agent.get_task(GetTaskRequest(id=task_id))
        assert task.status.state == FAILED
        assert "secret internals" not in str(task)


async def test_bad_input_fails_the_task_naming_the_field(client: Any) -> None:
    for streaming in (False, True):
        agent = await client("/typed", streaming=streaming)
        events = await send(agent, new_data_part({"item": "apple"}))
        task = await agent.get_task(GetTaskRequest(id=events[0].task.id))
        assert task.status.state == FAILED
        assert "quantity" in status_text(task)
    # text where a data part is needed
    task = await sent_task(await client("/typed"), new_text_part("three apples"))
    assert task.status.state == FAILED and status_text(task)


async def test_unknown_tasks_and_finished_tasks_get_the_protocol_s_errors(client: Any) -> None:
    agent = await client("/text/shout")
    with pytest.raises(TaskNotFoundError):
        await agent.get_task(GetTaskRequest(id="no-such-task"))
    with pytest.raises(TaskNotFoundError):
        await agent.cancel_task(CancelTaskRequest(id="no-such-task"))
    done = await sent_task(agent, new_text_part("done"))
    with pytest.raises(TaskNotCancelableError):
        await agent.cancel_task(CancelTaskRequest(id=done.id))
    # a task is the agent's own: another route does not know it
    with pytest.raises(TaskNotFoundError):
        await (await client("/chat")).get_task(GetTaskRequest(id=done.id))
    assert text_of(await sent_task(agent, new_text_part("still here"))) == "STILL HERE"


async def test_bad_json_rpc_gets_json_rpc_errors_and_the_server_keeps_serving(
    base: str, client: Any
) -> None:
    headers = {"A2A-Version": "1.0"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        response = await http.post("/text/shout", content=b"{not json")
        assert response.json()["error"]["code"] == -32700
        call = {"jsonrpc": "2.0", "id": 1, "method": "NoSuchMethod", "params": {}}
        assert (await http.post("/text/shout", json=call)).json()["error"]["code"] == -32601
        call = {"jsonrpc": "2.0", "id": 2, "method": "SendMessage", "params": {"message": 3}}
        answer = (await http.post("/text/shout", json=call)).json()
        assert answer["id"] == 2 and answer["error"]["code"] in (-32600, -32602)
        call = {"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": "nope"}}
        assert (await http.post("/text/shout", json=call)).json()["error"]["code"] == -32001
    task = await sent_task(await client("/text/shout"), new_text_part("after errors"))
    assert (task.status.state, text_of(task)) == (COMPLETED, "AFTER ERRORS")


async def until(condition: Any, seconds: float = 8.0) -> None:
    """Wait, at most ``seconds``, for ``condition()`` to hold (a hang guard)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), seconds)


async def test_cancel_reaches_the_run_and_ends_its_stream(client: Any, stall: Stall) -> None:
    streaming = await client("/slow", streaming=True)
    events: list[StreamResponse] = []

    async def consume() -> None:
        async for event in streaming.send_message(request(new_text_part("wait"))):
            events.append(event)

    consumer = asyncio.create_task(consume())
    try:
        await until(lambda: stall.started.is_set() and events)
        task_id = events[0].task.id
        other = await client("/slow")
        canceled = await other.cancel_task(CancelTaskRequest(id=task_id))
        assert canceled.status.state == CANCELED
        await asyncio.wait_for(consumer, 8)  # the stream ends (a hang guard)
    finally:
        consumer.cancel()
    assert events[-1].status_update.status.state == CANCELED
    assert (await other.get_task(GetTaskRequest(id=task_id))).status.state == CANCELED
    await until(stall.cancelled.is_set)  # the run itself was cancelled
    with pytest.raises(TaskNotCancelableError):
        await streaming.cancel_task(CancelTaskRequest(id=task_id))
    shout = await sent_task(await client("/text/shout"), new_text_part("after cancel"))
    assert text_of(shout) == "AFTER CANCEL"


def guarded_app() -> FastAPI:
    app = FastAPI()
    add_routes(
        app, ROUTES["/text/shout"], path="/guarded", a2a=True, dependencies=[Depends(check_key)]
    )
    return app


async def test_the_route_s_dependencies_guard_card_and_endpoint() -> None:
    with serve(guarded_app()) as url:
        agent_url = url + "/guarded"
        async with httpx.AsyncClient() as http:
            card = await http.get(agent_url + "/.well-known/agent-card.json")
            assert card.status_code == 401
            call = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}
            rpc = await http.post(agent_url, json=call, headers={"A2A-Version": "1.0"})
            assert rpc.status_code == 401
            wrong = {"Authorization": "Bearer wrong"}
            assert (
                await http.get(agent_url + "/.well-known/agent-card.json", headers=wrong)
            ).status_code == 403
        with pytest.raises(AgentCardResolutionError):
            await create_client(agent_url)

        keyed = httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"})
        async with keyed:
            for streaming in (False, True):
                config = ClientConfig(httpx_client=keyed, streaming=streaming)
                agent = await create_client(agent_url, client_config=config)
                events = await send(agent, new_text_part("let me in"))
                task = await agent.get_task(GetTaskRequest(id=events[0].task.id))
                assert (task.status.state, text_of(task)) == (COMPLETED, "LET ME IN")
                await agent.close()


def tool_calling_app() -> FastAPI:
    """A chat model with a tool bound: its reply is only a tool call."""
    app = FastAPI()
    weather = {"type": "function", "function": {"name": "weather", "parameters": {}}}
    model = LocalChatModel().bind_tools([weather]).with_types(input_type=list[AnyMessage])
    add_routes(app, model, path="/agent", a2a=True)
    return app


async def test_a_reply_of_only_tool_calls_is_a_data_part_naming_them() -> None:
    with serve(tool_calling_app()) as url:
        agent = await create_client(url + "/agent", client_config=ClientConfig(streaming=False))
        task = await sent_task(agent, new_text_part("what is the weather"))
        await agent.close()
    local = LocalChatModel().bind_tools([{"type": "function", "function": {"name": "weather"}}])
    expected = local.invoke([HumanMessage("what is the weather")]).tool_calls
    assert task.status.state == COMPLETED and text_of(task) == ""
    [message] = data_of(task)
    assert [(c["name"], c["args"]) for c in message["tool_calls"]] == [
        (c["name"], c["args"]) for c in expected
    ]


async def test_only_the_latest_tasks_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(a2a_adapter, "TASKS_KEPT", 2)
    app = FastAPI()
    add_routes(app, ROUTES["/text/shout"], path="/shout", a2a=True)
    with serve(app) as url:
        agent = await create_client(url + "/shout", client_config=ClientConfig(streaming=False))
        first, second, third = [await sent_task(agent, new_text_part(t)) for t in "abc"]
        with pytest.raises(TaskNotFoundError):
            await agent.get_task(GetTaskRequest(id=first.id))
        for kept in (second, third):
            assert text_of(await agent.get_task(GetTaskRequest(id=kept.id))) == text_of(kept)
        await agent.close()
