"""LangGraph graphs served with ``add_routes``, over a real loopback server.

A graph with a checkpointer runs on the thread its client names in
``configurable.thread_id``; its input is a partial state update; a state declared with
``typing.TypedDict`` is served on Python 3.11. Both chainserve's and LangServe's
``RemoteRunnable`` are used as LangServe users use them, with
``with_config(configurable={"thread_id": ...})``.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import langserve
import pytest
from fastapi import FastAPI, Request
from graph_apps import (
    chat_graph,
    context_graph,
    counter_graph,
    nested_graph,
    norm,
    order_graph,
    stateless_counter_graph,
)
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableLambda
from servers import serve
from sse import parse_events

import chainserve
from chainserve import add_routes

pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")

# pydantic refuses typing.TypedDict before Python 3.12.
OLD_PYDANTIC_TYPEDDICT = sys.version_info < (3, 12)
CLIENTS = {"chainserve": chainserve.RemoteRunnable, "langserve": langserve.RemoteRunnable}


def thread_from_header(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """A server that names the thread itself (say, one per user)."""
    thread = request.headers.get("x-thread")
    if thread:
        config = {**config, "configurable": {**config.get("configurable", {}), "thread_id": thread}}
    return config


GRAPH = counter_graph()


def graph_app() -> FastAPI:
    app = FastAPI()
    add_routes(app, GRAPH, path="/counter")
    add_routes(app, stateless_counter_graph(), path="/stateless")
    add_routes(app, counter_graph(), path="/per_user", per_req_config_modifier=thread_from_header)
    add_routes(app, nested_graph(), path="/nested")
    add_routes(app, chat_graph(), path="/chat")
    add_routes(app, order_graph(), path="/order")
    add_routes(app, context_graph(), path="/context")
    add_routes(app, counter_graph().with_retry(), path="/retrying")
    add_routes(app, counter_graph().with_config(configurable={"thread_id": "one"}), path="/bound")
    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(graph_app()) as base:
        yield base


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


def human(text: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(text)]}


def texts(state: dict[str, Any]) -> list[str]:
    return [message.text for message in state["messages"]]


@pytest.mark.parametrize("package", CLIENTS)
async def test_a_thread_keeps_its_state_across_calls(url: str, package: str) -> None:
    remote = CLIENTS[package](f"{url}/counter")
    on_thread = remote.with_config(thread())
    first = on_thread.invoke(human("hi"))
    second = await on_thread.ainvoke(human("again"))
    other = remote.with_config(thread()).invoke(human("elsewhere"))
    assert first["count"] == 1 and texts(first) == ["hi", "reply 1 to hi"]
    assert second["count"] == 2
    assert texts(second) == ["hi", "reply 1 to hi", "again", "reply 2 to again"]
    assert other["count"] == 1 and other["seen"] == ["elsewhere"]


@pytest.mark.parametrize("package", CLIENTS)
async def test_stream_events_and_stream_log_on_a_thread(url: str, package: str) -> None:
    remote = CLIENTS[package](f"{url}/counter").with_config(thread())
    chunks = list(remote.stream(human("one")))
    assert [list(chunk) for chunk in chunks] == [["reply"]]
    assert chunks[0]["reply"]["count"] == 1
    events = [event async for event in remote.astream_events(human("two"), version="v2")]
    ends = [e for e in events if e["event"] == "on_chain_end" and e["name"] == "/counter"]
    assert [end["data"]["output"]["count"] for end in ends] == [2]
    final: Any = None
    async for patch in remote.astream_log(human("three")):
        final = patch if final is None else final + patch
    assert final.state["final_output"]["reply"]["count"] == 3  # the streamed updates
    state = GRAPH.get_state(remote.config)  # the server's own checkpointer, in-process
    assert state.values["seen"] == ["one", "two", "three"]


def test_a_graph_runs_from_an_earlier_checkpoint(url: str) -> None:
    config = thread()
    remote = chainserve.RemoteRunnable(f"{url}/counter")
    remote.invoke(human("a"), config)
    remote.invoke(human("b"), config)
    after_first = next(
        snapshot
        for snapshot in GRAPH.get_state_history(config)
        if snapshot.values.get("count") == 1 and not snapshot.next
    )
    checkpoint_id = after_first.config["configurable"]["checkpoint_id"]
    forked = remote.invoke(
        human("c"), {"configurable": {**config["configurable"], "checkpoint_id": checkpoint_id}}
    )
    assert forked["seen"] == ["a", "c"] and forked["count"] == 2


async def test_config_schema_lists_the_checkpoint_keys(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        schema = (await client.get("/counter/config_schema")).json()
        stateless = (await client.get("/stateless/config_schema")).json()
    keys = schema["$defs"]["Configurable"]["properties"]
    assert list(keys) == ["thread_id", "checkpoint_id", "checkpoint_ns"]
    assert "Configurable" not in stateless.get("$defs", {})


async def test_a_missing_thread_is_a_422_not_a_500(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for endpoint in ("invoke", "stream", "stream_events"):
            response = await client.post(
                f"/counter/{endpoint}",
                json={"input": {"messages": [{"type": "human", "content": "x"}]}},
            )
            assert response.status_code == 422, response.text
            [error] = response.json()["detail"]
            assert error["loc"] == ["config", "configurable", "thread_id"]
        batch = await client.post("/counter/batch", json={"inputs": [{"count": 1}]})
        assert batch.json()["detail"][0]["loc"] == ["config", "configurable", "thread_id"]
        items = await client.post(
            "/counter/batch", json={"inputs": [{}, {}], "config": [thread(), {}]}
        )
        assert items.json()["detail"][0]["loc"] == ["config", 1, "configurable", "thread_id"]


async def test_the_server_may_name_the_thread(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"x-thread": "ada"}) as client:
        for expected in (1, 2):
            response = await client.post("/per_user/invoke", json={"input": {"messages": "hi"}})
            assert response.json()["output"]["count"] == expected


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "human", "content": "hi"}],
        [["user", "hi"]],
        [{"role": "user", "content": "hi"}],
        "hi",
    ],
    ids=["serialized", "pair", "role", "string"],
)
async def test_input_is_a_partial_update_in_what_add_messages_takes(
    url: str, messages: Any
) -> None:
    body = {"input": {"messages": messages}, "config": thread()}
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/counter/invoke", json=body)
    assert response.status_code == 200, response.text
    output = response.json()["output"]
    assert output["count"] == 1 and output["seen"] == ["hi"]
    assert [m["type"] for m in output["messages"]] == ["human", "ai"]


@pytest.mark.parametrize(
    ("input", "loc"),
    [
        ({"count": "many"}, ["input", "count"]),
        ({"messages": [{"role": "robot", "content": "x"}]}, ["input", "messages"]),
        ({"seen": "not a list"}, ["input", "seen"]),
        ([1, 2], ["input"]),
    ],
    ids=["count", "message_role", "seen", "not_an_object"],
)
async def test_present_keys_are_type_checked(url: str, input: Any, loc: list[Any]) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/counter/invoke", json={"input": input, "config": thread()})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


async def test_keys_not_sent_are_not_reset(url: str) -> None:
    config = thread()
    async with httpx.AsyncClient(base_url=url) as client:
        await client.post("/counter/invoke", json={"input": {"count": 10}, "config": config})
        response = await client.post("/counter/invoke", json={"input": {}, "config": config})
    assert response.json()["output"]["count"] == 12


async def test_input_schema_of_a_typing_typeddict_state(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        schema = (await client.get("/counter/input_schema")).json()
        nested = (await client.get("/nested/input_schema")).json()
        nested_output = (await client.get("/nested/output_schema")).json()
        total = await client.post("/nested/invoke", json={"input": {"inner": {"label": "x"}}})
    assert set(schema["properties"]) == {"messages", "count", "seen"}
    assert "required" not in schema
    assert schema["properties"]["count"]["type"] == "integer"
    if OLD_PYDANTIC_TYPEDDICT:
        assert nested["properties"]["inner"] == {"default": None, "title": "Inner"}  # any
    assert set(nested_output["properties"]) == {"inner", "total"}
    assert total.status_code == 200 and total.json()["output"]["total"] == 1


def test_uncheckable_state_keys_are_named_in_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chainserve"):
        add_routes(FastAPI(), nested_graph(), path="/nested")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if OLD_PYDANTIC_TYPEDDICT:
        [warning] = warnings
        assert "cannot check" in warning and "['inner']" in warning
    else:  # pydantic checks typing.TypedDict from Python 3.12 on
        assert warnings == []


def test_a_runnable_whose_input_pydantic_cannot_describe_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    with caplog.at_level(logging.WARNING, logger="chainserve"):
        add_routes(app, RunnableLambda(norm), path="/norm")
    warned = any("accepting any input" in r.getMessage() for r in caplog.records)
    assert warned == OLD_PYDANTIC_TYPEDDICT
    with serve(app) as base:
        response = httpx.post(f"{base}/norm/invoke", json={"input": {"x": -3}})
    assert response.json()["output"] == 3


async def test_streams_of_a_graph_over_http(url: str) -> None:
    config = thread()
    async with httpx.AsyncClient(base_url=url) as client:
        for endpoint in ("stream", "stream_log", "stream_events"):
            body = {"input": {"messages": endpoint}, "config": config}
            response = await client.post(f"/counter/{endpoint}", json=body)
            events = parse_events(response.text)
            assert response.status_code == 200 and events[-1] == ("end", None), response.text
    state = GRAPH.get_state(config)
    assert state.values["seen"] == ["stream", "stream_log", "stream_events"]


async def test_a_batch_runs_once_per_thread(url: str) -> None:
    first, second = thread(), thread()
    async with httpx.AsyncClient(base_url=url) as client:
        shared = await client.post(
            "/counter/batch", json={"inputs": [{"count": 1}, {"count": 2}], "config": first}
        )
        twice = await client.post(
            "/counter/batch", json={"inputs": [{}, {}], "config": [second, second]}
        )
        apart = await client.post(
            "/counter/batch", json={"inputs": [{}, {}], "config": [first, second]}
        )
    for refused in (shared, twice):
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["config", 1, "configurable", "thread_id"]
    assert [output["count"] for output in apart.json()["output"]] == [1, 1]


@pytest.mark.parametrize("messages", [[["user", "hi"]], "hi", [{"role": "user", "content": "hi"}]])
async def test_a_messages_state_takes_partial_updates(url: str, messages: Any) -> None:
    config = thread()
    async with httpx.AsyncClient(base_url=url) as client:
        for expected in (1, 2):
            body = {"input": {"messages": messages}, "config": config}
            response = await client.post("/chat/invoke", json=body)
            assert response.status_code == 200, response.text
            assert response.json()["output"]["turns"] == expected
        mood = await client.post("/chat/invoke", json={"input": {"mood": 5}, "config": config})
    assert mood.status_code == 422 and mood.json()["detail"][0]["loc"] == ["input", "mood"]


async def test_a_pydantic_state_keeps_its_constraints(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        negative = await client.post("/order/invoke", json={"input": {"quantity": -1}})
        fine = await client.post("/order/invoke", json={"input": {"quantity": 3}})
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"] == ["input", "quantity"]
    assert fine.json()["output"] == {"quantity": 3, "note": "3 ordered"}


async def test_context_keys_and_thread_share_configurable(url: str) -> None:
    config = {"configurable": {**thread()["configurable"], "user": "ada"}}
    async with httpx.AsyncClient(base_url=url) as client:
        schema = (await client.get("/context/config_schema")).json()
        response = await client.post(
            "/context/invoke", json={"input": {"messages": "hi"}, "config": config}
        )
    keys = schema["$defs"]["Configurable"]["properties"]
    assert list(keys) == ["user", "thread_id", "checkpoint_id", "checkpoint_ns"]
    assert response.json()["output"]["messages"][-1]["content"] == "hello ada"


async def test_wrapped_graphs_are_graphs(url: str) -> None:
    config = thread()
    async with httpx.AsyncClient(base_url=url) as client:
        retrying = [
            (await client.post("/retrying/invoke", json={"input": {}, "config": config})).json()
            for _ in range(2)
        ]
        bound = [(await client.post("/bound/invoke", json={"input": {}})) for _ in range(2)]
    assert [output["output"]["count"] for output in retrying] == [1, 2]
    assert [response.json()["output"]["count"] for response in bound] == [1, 2]
