"""Agent graphs as users write them (a streaming chat model, LangGraph's prebuilt
tool-calling agent, a graph using the runtime store, a ``RemoteGraph`` as a node of a
local graph), served by ``add_graphs`` on a loopback server and used through the
official clients only: ``langgraph_sdk`` and LangGraph's ``RemoteGraph``."""

from __future__ import annotations

import json
import re
import typing
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from graph_apps import stateless_counter_graph
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.pregel.remote import RemoteGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from langgraph_sdk import get_client, get_sync_client
from protocol_apps import (
    AskState,
    ask_graph,
    chat_model_graph,
    parent_graph,
    serve_with_lifespan,
    stream_events,
)
from typing_extensions import TypedDict

from chainserve.agents import add_graphs

# ---------------------------------------------------------------------------
# 1. A chat graph whose node calls a chat model that streams its tokens.

ANSWER = "the quick brown fox jumps"
WORDS = ["the", " ", "quick", " ", "brown", " ", "fox", " ", "jumps"]  # how it streams


def chat_graph() -> Any:
    """``respond`` answers ``ANSWER``."""
    return chat_model_graph(ANSWER)


def chat_in_a_subgraph() -> Any:
    """The chat graph as the node ``assistant`` of a parent graph."""
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", chat_graph())
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", END)
    return builder.compile()


# ---------------------------------------------------------------------------
# 2. LangGraph's prebuilt tool-calling agent, on a chat model that calls a tool.

multiplications: list[tuple[int, int]] = []  # what the tool was called with, in this process


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    multiplications.append((a, b))
    return a * b


class ToolCallingModel(BaseChatModel):
    """Asks for ``multiply(6, 7)``; once the conversation ends with the tool's result,
    answers ``"6 times 7 is <result>"``. Its tool call streams as one chunk, its answer
    word by word."""

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self  # it answers the same whatever the tools

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return AIMessage(f"6 times 7 is {last.content}")
        call = {"name": "multiply", "args": {"a": 6, "b": 7}, "id": f"call_{len(messages)}"}
        return AIMessage("", tool_calls=[{**call, "type": "tool_call"}])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._reply(messages)
        for call in reply.tool_calls:
            args = json.dumps(call["args"])
            chunk = tool_call_chunk(name=call["name"], args=args, id=call["id"], index=0)
            message = AIMessageChunk(content="", tool_call_chunks=[chunk])
            yield ChatGenerationChunk(message=message)
        for word in re.split(r"(\s)", reply.text) if reply.text else []:
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))


def agent_graph() -> Any:
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():  # moved to langchain.agents, still LangGraph's own
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_react_agent(ToolCallingModel(), [multiply])


# ---------------------------------------------------------------------------
# 3. A graph that keeps notes in the runtime store, per user of its context.


class UserContext(TypedDict):
    user: str


class Note(TypedDict, total=False):
    key: str
    text: str
    notes: list[str]


def take_note(state: Note, runtime: Runtime[UserContext]) -> dict[str, Any]:
    """Store the note under ``("notes", <user>)``; answer every note of that user."""
    store = runtime.store
    assert store is not None
    namespace = ("notes", runtime.context["user"])
    store.put(namespace, state["key"], {"text": state["text"]})
    return {"notes": sorted(item.value["text"] for item in store.search(namespace))}


def notes_graph() -> Any:
    builder = StateGraph(Note, context_schema=UserContext)
    builder.add_node("take_note", take_note)
    builder.add_edge(START, "take_note")
    return builder.compile()


# ---------------------------------------------------------------------------
# The server, fresh graphs for each test.


def agents_app(folder: Path, database: str | None = None) -> FastAPI:
    app = FastAPI()
    graphs = {
        "chat": chat_graph(),
        "chat_in_subgraph": chat_in_a_subgraph(),
        "agent": agent_graph(),
        "notes": notes_graph(),
        "counter": stateless_counter_graph(),
        "parent": parent_graph(),
        "ask": ask_graph(),
    }
    add_graphs(app, graphs, database=database or f"sqlite:///{folder / 'db.sqlite'}")
    return app


@pytest.fixture
def url(tmp_path: Path, database: str) -> Iterator[str]:
    with serve_with_lifespan(agents_app(tmp_path, database)) as base:
        yield base


def _client(url: str) -> Any:
    return get_client(url=url)


def _sync_client(url: str) -> Any:
    return get_sync_client(url=url)


def _remote(graph_id: str, url: str, **options: Any) -> Any:
    return RemoteGraph(graph_id, url=url, **options)


def _without_ids(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with its messages as ``(type, content)``: the same run twice compares
    equal."""
    messages = values.get("messages", [])
    kinds = [m["type"] if isinstance(m, dict) else m.type for m in messages]
    return {**values, "messages": list(zip(kinds, _contents(messages), strict=True))}


def _contents(messages: list[Any]) -> list[Any]:
    """The contents of messages, as dicts (the wire) or as LangChain messages."""
    return [m["content"] if isinstance(m, dict) else m.content for m in messages]


# ---------------------------------------------------------------------------
# The chat model's tokens.


async def test_messages_tuple_streams_the_tokens_of_the_model(url: str) -> None:
    client = _client(url)
    tid = (await client.threads.create())["thread_id"]
    question = {"messages": [{"role": "user", "content": "hi"}]}
    events = await stream_events(client, tid, "chat", input=question, stream_mode="messages-tuple")
    assert events[0][0] == "metadata"
    assert [event for event, _ in events[1:]] == ["messages"] * len(WORDS)
    chunks = [data[0] for _, data in events[1:]]
    assert [chunk["content"] for chunk in chunks] == WORDS
    assert "".join(chunk["content"] for chunk in chunks) == ANSWER
    assert {chunk["type"] for chunk in chunks} == {"AIMessageChunk"}
    assert chunks[-1]["chunk_position"] == "last"
    message_id = chunks[0]["id"]
    assert message_id and {chunk["id"] for chunk in chunks} == {message_id}
    for _, (_, metadata) in events[1:]:
        assert metadata["langgraph_node"] == "respond"
        assert metadata["thread_id"] == tid
        assert metadata["graph_id"] == "chat"
    # The thread holds the whole message, once, with the id its chunks had.
    state = await client.threads.get_state(tid)
    human, ai = state["values"]["messages"]
    assert (human["type"], human["content"]) == ("human", "hi")
    assert (ai["type"], ai["content"], ai["id"]) == ("ai", ANSWER, message_id)


async def test_messages_mode_streams_the_message_as_it_grows(url: str) -> None:
    client = _client(url)
    tid = (await client.threads.create())["thread_id"]
    events = await stream_events(
        client, tid, "chat", input={"messages": "hi"}, stream_mode="messages"
    )
    names = [event for event, _ in events]
    # No messages/complete follows a streamed message (WIRE.md §6.2, as the reference).
    assert names == ["metadata", "messages/metadata"] + ["messages/partial"] * len(WORDS)
    (message_id, described), *_ = events[1][1].items()
    assert len(events[1][1]) == 1
    assert described["metadata"]["langgraph_node"] == "respond"
    partial = [data for _, data in events[2:]]
    assert all(len(data) == 1 for data in partial)
    grown = ["".join(WORDS[: n + 1]) for n in range(len(WORDS))]
    assert [data[0]["content"] for data in partial] == grown
    assert {(data[0]["type"], data[0]["id"]) for data in partial} == {("ai", message_id)}
    values = (await client.threads.get_state(tid))["values"]
    assert values["messages"][-1]["content"] == ANSWER
    assert values["messages"][-1]["id"] == message_id


async def test_messages_of_a_model_inside_a_subgraph(url: str) -> None:
    client = _client(url)
    tid = (await client.threads.create())["thread_id"]
    modes: Any = {"stream_mode": "messages-tuple", "stream_subgraphs": True}
    events = await stream_events(client, tid, "chat_in_subgraph", input={"messages": "hi"}, **modes)
    streamed = [(event, data) for event, data in events if event.startswith("messages")]
    assert {event.split("|")[1].split(":")[0] for event, _ in streamed} == {"assistant"}
    assert "".join(data[0]["content"] for _, data in streamed) == ANSWER
    assert {data[1]["langgraph_node"] for _, data in streamed} == {"respond"}
    # The "messages" mode's events carry no namespace, as LangGraph Platform's.
    modes["stream_mode"] = "messages"
    events = await stream_events(client, tid, "chat_in_subgraph", input={"messages": "hi"}, **modes)
    names = [event for event, _ in events if event.startswith("messages")]
    assert names[0] == "messages/metadata" and set(names[1:]) == {"messages/partial"}
    assert events[-1][1][0]["content"] == ANSWER


async def test_messages_of_a_subgraph_without_stream_subgraphs_are_as_langgraph_streams_them(
    url: str,
) -> None:
    """Without ``stream_subgraphs``, LangGraph's ``stream_mode="messages"`` still gives
    the messages a subgraph node returned: once, whole, from the parent's node. LangGraph
    Platform streams them so too, as it passes ``subgraphs=stream_subgraphs`` to
    ``astream`` (langgraph_api/stream.py, ``astream_state``); RemoteGraph counts on it
    (langgraph/pregel/remote.py: "the server dedupes them across namespaces")."""
    local = [
        (message.type, message.content, metadata["langgraph_node"])
        for message, metadata in chat_in_a_subgraph().stream(
            {"messages": "hi"}, stream_mode="messages"
        )
    ]
    assert local == [("ai", ANSWER, "assistant")]
    client = _client(url)
    tid = (await client.threads.create())["thread_id"]
    events = await stream_events(
        client, tid, "chat_in_subgraph", input={"messages": "hi"}, stream_mode="messages-tuple"
    )
    served = [
        (data[0]["type"], data[0]["content"], data[1]["langgraph_node"])
        for event, data in events
        if event == "messages"
    ]
    assert served == local


# ---------------------------------------------------------------------------
# The prebuilt agent.


async def test_the_agent_calls_its_tool_then_answers(url: str) -> None:
    client = _client(url)
    tid = (await client.threads.create())["thread_id"]
    before = len(multiplications)
    question = {"role": "user", "content": "what is 6 times 7?"}
    result = await client.runs.wait(tid, "agent", input={"messages": [question]})
    assert multiplications[before:] == [(6, 7)]  # it ran, in the server
    human, call, result_message, answer = result["messages"]
    assert (human["type"], human["content"]) == ("human", "what is 6 times 7?")
    assert call["type"] == "ai"
    [tool_call] = call["tool_calls"]
    assert (tool_call["name"], tool_call["args"]) == ("multiply", {"a": 6, "b": 7})
    assert result_message["type"] == "tool"
    assert result_message["name"] == "multiply"
    assert result_message["tool_call_id"] == tool_call["id"]
    assert (result_message["content"], result_message["status"]) == ("42", "success")
    assert (answer["type"], answer["content"]) == ("ai", "6 times 7 is 42")
    assert (await client.threads.get_state(tid))["values"] == result
    assert (await client.threads.get(tid))["status"] == "idle"

    # The history, oldest first: the input, the model, the tool, the model, the end.
    history = list(reversed(await client.threads.get_history(tid)))
    nexts = [entry["next"] for entry in history]
    assert nexts == [["__start__"], ["agent"], ["tools"], ["agent"], []]
    assert [entry["metadata"]["step"] for entry in history] == [-1, 0, 1, 2, 3]
    kinds = [[m["type"] for m in entry["values"].get("messages", [])] for entry in history]
    turns = ["human", "ai", "tool", "ai"]
    assert kinds == [turns[:n] for n in range(5)]
    assert history[-1]["values"] == result


async def test_the_agent_streams_its_steps_as_updates(url: str) -> None:
    client = _client(url)
    tid = (await client.threads.create())["thread_id"]
    events = await stream_events(
        client, tid, "agent", input={"messages": "what is 6 times 7?"}, stream_mode="updates"
    )
    assert [event for event, _ in events] == ["metadata", "updates", "updates", "updates"]
    steps = [data for _, data in events[1:]]
    assert [list(step) for step in steps] == [["agent"], ["tools"], ["agent"]]
    [call] = steps[0]["agent"]["messages"]
    assert call["tool_calls"][0]["name"] == "multiply"
    [result] = steps[1]["tools"]["messages"]
    assert (result["type"], result["content"]) == ("tool", "42")
    assert result["tool_call_id"] == call["tool_calls"][0]["id"]
    [answer] = steps[2]["agent"]["messages"]
    assert answer["content"] == "6 times 7 is 42"
    # A second turn on the thread sees the first: its tool call has a new id.
    second = await client.runs.wait(tid, "agent", input={"messages": "again?"})
    assert [m["type"] for m in second["messages"]] == ["human", "ai", "tool", "ai"] * 2
    calls = [m["tool_calls"][0]["id"] for m in second["messages"] if m.get("tool_calls")]
    assert len(set(calls)) == 2


async def test_the_agent_streams_its_messages(url: str) -> None:
    client = _client(url)
    tid = (await client.threads.create())["thread_id"]
    events = await stream_events(
        client, tid, "agent", input={"messages": "what is 6 times 7?"}, stream_mode="messages-tuple"
    )
    messages = [data for event, data in events if event == "messages"]
    by_node: dict[str, list[Any]] = {}
    for message, metadata in messages:
        by_node.setdefault(metadata["langgraph_node"], []).append(message)
    assert set(by_node) == {"agent", "tools"}
    # The tool's message, not streamed by a model, comes once and whole.
    [tool_message] = by_node["tools"]
    assert (tool_message["type"], tool_message["content"]) == ("tool", "42")
    call, *words = by_node["agent"]
    assert call["type"] == "AIMessageChunk"
    assert call["tool_call_chunks"][0]["name"] == "multiply"
    assert "".join(word["content"] for word in words) == "6 times 7 is 42"
    assert len(words) > 1
    # In the messages mode: the tool's message is complete, the model's grow.
    again = {"messages": "again"}
    events = await stream_events(client, tid, "agent", input=again, stream_mode="messages")
    complete = [data[0] for event, data in events if event == "messages/complete"]
    assert [(m["type"], m["content"]) for m in complete] == [("tool", "42")]
    partial = [data[0] for event, data in events if event == "messages/partial"]
    assert partial[0]["tool_calls"][0]["name"] == "multiply"
    assert partial[-1]["content"] == "6 times 7 is 42"
    described = [data for event, data in events if event == "messages/metadata"]
    assert len(described) == 3  # the tool call, the tool's result, the answer


# ---------------------------------------------------------------------------
# The runtime store, through a run of the Agent Protocol.


async def test_a_run_uses_the_store_the_client_sees(url: str) -> None:
    client = _client(url)
    await client.store.put_item(["notes", "ada"], "earlier", {"text": "from the client"})
    tid = (await client.threads.create())["thread_id"]
    note = {"key": "n1", "text": "from the graph"}
    result = await client.runs.wait(tid, "notes", input=note, context={"user": "ada"})
    assert result["notes"] == ["from the client", "from the graph"]  # the graph read it
    item = await client.store.get_item(["notes", "ada"], "n1")
    assert item is not None
    assert item["value"] == {"text": "from the graph"}
    assert item["namespace"] == ["notes", "ada"]
    # Another user of the same graph writes under their own namespace.
    other = await client.runs.wait(
        None, "notes", input={"key": "n1", "text": "bob's"}, context={"user": "bob"}
    )
    assert other["notes"] == ["bob's"]
    found = await client.store.search_items(["notes"])
    assert sorted((*i["namespace"], i["key"]) for i in found["items"]) == [
        ("notes", "ada", "earlier"),
        ("notes", "ada", "n1"),
        ("notes", "bob", "n1"),
    ]
    bobs = await client.store.search_items(["notes"], filter={"text": "bob's"})
    assert [(i["namespace"], i["value"]) for i in bobs["items"]] == [
        (["notes", "bob"], {"text": "bob's"})
    ]


# ---------------------------------------------------------------------------
# RemoteGraph, on its own.


def test_remote_graph_invoke_stream_and_state(url: str) -> None:
    remote = _remote("counter", url=url)
    result = remote.invoke({"messages": "hi"})  # stateless
    assert _contents(result["messages"]) == ["hi", "reply 1 to hi"]
    assert (result["count"], result["seen"]) == (1, ["hi"])

    tid = str(uuid.uuid4())  # the thread need not exist: RemoteGraph creates it
    config: Any = {"configurable": {"thread_id": tid}}
    assert remote.invoke({"messages": "one"}, config)["count"] == 1
    values = list(remote.stream({"messages": "two"}, config, stream_mode="values"))
    assert [_contents(value["messages"]) for value in values] == [
        ["one", "reply 1 to one", "two"],
        ["one", "reply 1 to one", "two", "reply 2 to two"],
    ]
    updates = list(remote.stream({"messages": "three"}, config, stream_mode="updates"))
    assert [list(update) for update in updates] == [["reply"]]
    assert updates[0]["reply"]["count"] == 3
    assert _contents(updates[0]["reply"]["messages"]) == ["reply 3 to three"]

    state = remote.get_state(config)
    assert state.values["count"] == 3
    assert _contents(state.values["messages"])[-1] == "reply 3 to three"
    assert state.next == ()
    assert state.config["configurable"]["thread_id"] == tid
    assert state.metadata is not None and state.metadata["step"] == 7
    history = list(remote.get_state_history(config))
    assert [entry.metadata["step"] for entry in history if entry.metadata] == list(range(7, -2, -1))
    assert history[0].config == state.config
    assert _sync_client(url).threads.get_state(tid)["values"] == state.values


def test_remote_graph_streams_tokens(url: str) -> None:
    remote = _remote("chat", url=url)
    parts = list(remote.stream({"messages": "hi"}, stream_mode="messages"))
    assert all(isinstance(part, tuple) and len(part) == 2 for part in parts)
    assert [message["content"] for message, _ in parts] == WORDS
    assert {metadata["langgraph_node"] for _, metadata in parts} == {"respond"}
    # As the node of a local graph: its tokens stream through the parent's stream.
    builder = StateGraph(MessagesState)
    builder.add_node("remote_chat", remote)
    builder.add_edge(START, "remote_chat")
    parent: Any = builder.compile()
    streamed = list(parent.stream({"messages": "hi"}, stream_mode="messages", subgraphs=True))
    assert {ns[0].split(":")[0] for ns, _ in streamed} == {"remote_chat"}
    assert [message["content"] for _, (message, _) in streamed] == WORDS


def test_remote_graph_streams_subgraphs(url: str) -> None:
    remote = _remote("parent", url=url)
    parts = list(remote.stream({"messages": "a"}, stream_mode="updates", subgraphs=True))
    assert [(len(ns), list(update)) for ns, update in parts] == [
        (0, ["prep"]),
        (1, ["reply"]),
        (0, ["child"]),
    ]
    assert parts[1][0][0].startswith("child:")
    assert parts[1][1]["reply"]["count"] == 1
    assert parts[2][1]["child"]["count"] == 1
    both = list(remote.stream({"messages": "b"}, stream_mode=["values", "updates"], subgraphs=True))
    assert {(len(ns), mode) for ns, mode, _ in both} == {
        (0, "values"),
        (0, "updates"),
        (1, "values"),
        (1, "updates"),
    }
    assert both[-1][:2] == ((), "values")
    assert _without_ids(both[-1][2]) == _without_ids(parent_graph().invoke({"messages": "b"}))
    # Without subgraphs, only the parent's own steps.
    assert [list(update) for update in remote.stream({"messages": "c"})] == [["prep"], ["child"]]


async def test_remote_graph_async(url: str) -> None:
    remote = _remote("parent", url=url)
    result = await remote.ainvoke({"messages": "a"})
    assert _without_ids(result) == _without_ids(await parent_graph().ainvoke({"messages": "a"}))
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}
    parts = [
        part
        async for part in remote.astream(
            {"messages": "b"}, config, stream_mode="updates", subgraphs=True
        )
    ]
    assert [(len(ns), list(update)) for ns, update in parts] == [
        (0, ["prep"]),
        (1, ["reply"]),
        (0, ["child"]),
    ]
    state = await remote.aget_state(config)
    assert state.values["seen"] == ["prep", "prep", "b"]  # the child's seen, added to prep's
    assert state.next == ()
    tokens = [
        message["content"]
        async for message, _ in _remote("chat", url=url).astream(
            {"messages": "hi"}, stream_mode="messages"
        )
    ]
    assert tokens == WORDS


# ---------------------------------------------------------------------------
# RemoteGraph as a node of a local graph.


class Relay(typing.TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    count: int
    seen: list[str]  # the remote counter's, replaced by each of its answers
    note: str


def _note(state: Relay) -> dict[str, Any]:
    return {"note": f"remote counted {state['count']}: {state['messages'][-1].content}"}


def relay_builder(url: str, **remote: Any) -> StateGraph:
    """``remote``: the served counter graph, as a ``RemoteGraph`` node; then ``note``,
    a local node reading what it answered."""
    builder = StateGraph(Relay)
    builder.add_node("remote", _remote("counter", url=url, **remote))
    builder.add_node("note", _note)
    builder.add_edge(START, "remote")
    builder.add_edge("remote", "note")
    builder.add_edge("note", END)
    return builder


def test_remote_graph_as_a_node(url: str) -> None:
    graph: Any = relay_builder(url).compile()
    result = graph.invoke({"messages": "x"})
    assert result["count"] == 1
    assert _contents(result["messages"]) == ["x", "reply 1 to x"]
    assert isinstance(result["messages"][-1], AIMessage)  # the parent's reducer made it one
    assert result["note"] == "remote counted 1: reply 1 to x"

    # Its stream shows the remote graph's own steps under the node's namespace.
    parts = list(graph.stream({"messages": "y"}, stream_mode="updates", subgraphs=True))
    assert [(len(ns), list(update)) for ns, update in parts] == [
        (1, ["reply"]),
        (0, ["remote"]),
        (0, ["note"]),
    ]
    assert parts[0][0][0].startswith("remote:")
    assert parts[0][1]["reply"]["count"] == 1
    assert parts[2][1]["note"] == {"note": "remote counted 1: reply 1 to y"}


def test_remote_graph_node_keeps_its_thread_across_invocations(url: str) -> None:
    """The parent keeps nothing (no checkpointer); the remote thread keeps the turns."""
    graph: Any = relay_builder(url).compile()
    tid = str(uuid.uuid4())
    config: Any = {"configurable": {"thread_id": tid}}
    assert graph.invoke({"messages": "one"}, config)["note"] == "remote counted 1: reply 1 to one"
    second = graph.invoke({"messages": "two"}, config)
    assert second["count"] == 2
    assert second["note"] == "remote counted 2: reply 2 to two"
    assert sorted(_contents(second["messages"])) == sorted(
        ["one", "reply 1 to one", "two", "reply 2 to two"]
    )
    thread = _sync_client(url).threads.get_state(tid)["values"]
    assert _contents(thread["messages"]) == ["one", "reply 1 to one", "two", "reply 2 to two"]
    assert (thread["count"], thread["seen"]) == (2, ["one", "two"])
    # The same, on a thread named in the RemoteGraph's own config.
    other = str(uuid.uuid4())
    pinned = relay_builder(url, config={"configurable": {"thread_id": other}}).compile()
    pinned.invoke({"messages": "a"})
    assert pinned.invoke({"messages": "b"})["count"] == 2
    assert _sync_client(url).threads.get_state(other)["values"]["count"] == 2


def test_remote_graph_node_with_a_local_checkpointer(url: str) -> None:
    graph: Any = relay_builder(url).compile(checkpointer=InMemorySaver())
    tid = str(uuid.uuid4())
    config: Any = {"configurable": {"thread_id": tid}}
    graph.invoke({"messages": "one"}, config)
    second = graph.invoke({"messages": "two"}, config)
    assert _contents(second["messages"]) == ["one", "reply 1 to one", "two", "reply 2 to two"]
    assert second["note"] == "remote counted 2: reply 2 to two"
    local = graph.get_state(config)
    assert local.values["count"] == 2
    assert local.next == ()
    steps = [entry.metadata["step"] for entry in graph.get_state_history(config) if entry.metadata]
    assert steps == list(range(6, -2, -1))  # per turn: input, start, remote, note
    remote = _sync_client(url).threads.get_state(tid)["values"]  # the parent's thread id
    assert remote["count"] == 2
    assert _contents(remote["messages"]) == _contents(second["messages"])


async def test_remote_graph_node_async(url: str) -> None:
    graph: Any = relay_builder(url).compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}
    first = await graph.ainvoke({"messages": "one"}, config)
    assert first["note"] == "remote counted 1: reply 1 to one"
    parts = [
        part
        async for part in graph.astream(
            {"messages": "two"}, config, stream_mode="values", subgraphs=True
        )
    ]
    remote_values = [values for ns, values in parts if ns]
    assert remote_values[-1]["count"] == 2  # the remote graph's own values, streamed through
    assert all(ns[0].startswith("remote:") for ns, _ in parts if ns)
    last = [values for ns, values in parts if not ns][-1]
    assert last["note"] == "remote counted 2: reply 2 to two"
    assert (await graph.aget_state(config)).values["count"] == 2


def test_an_interrupt_of_a_remote_graph_node_interrupts_the_parent(url: str) -> None:
    builder = StateGraph(AskState)
    builder.add_node("remote_ask", _remote("ask", url=url))
    builder.add_edge(START, "remote_ask")
    graph = builder.compile(checkpointer=InMemorySaver())
    tid = str(uuid.uuid4())
    config: Any = {"configurable": {"thread_id": tid}}
    result = graph.invoke({"question": "q"}, config)
    assert [i.value for i in result["__interrupt__"]] == [{"question": "ok?"}]
    local = graph.get_state(config)
    assert local.next == ("remote_ask",)
    assert [i.value for i in local.interrupts] == [{"question": "ok?"}]
    # RemoteGraph raised the interrupt as soon as it streamed: the run ends on its own.
    client = _sync_client(url)
    [run] = client.runs.list(tid)
    client.runs.join(tid, run["run_id"])
    assert client.runs.get(tid, run["run_id"])["status"] == "interrupted"
    assert client.threads.get(tid)["status"] == "interrupted"
    # The remote thread resumes through RemoteGraph itself.
    resumed = _remote("ask", url=url).invoke(Command(resume="yes"), config)
    assert resumed == {"question": "q", "answer": "yes"}
    assert client.threads.get(tid)["status"] == "idle"
