"""A plain Runnable (not a graph) in ``add_graphs``: the Agent Protocol runs it as a
one-node graph (stateless runs, and thread runs whose values are its last output), and
its LangServe routes stay as they were."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client, get_sync_client
from protocol_apps import serve_with_lifespan, stream_events

from chainserve.agents import add_graphs

REPLY = "plain runnables stream too"


def _shout(text: str) -> dict[str, Any]:
    if text == "fail":
        raise ValueError("nothing to shout")
    return {"shout": text.upper()}


def runnables_app(folder: Path) -> FastAPI:
    app = FastAPI()
    runnables = {
        "shout": RunnableLambda(_shout).with_types(input_type=str),
        "model": GenericFakeChatModel(messages=itertools.repeat(AIMessage(REPLY))),
    }
    add_graphs(app, runnables, database=f"sqlite:///{folder / 'db.sqlite'}")
    return app


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with serve_with_lifespan(runnables_app(tmp_path)) as base:
        yield base


async def test_stateless_and_thread_runs(url: str) -> None:
    client = get_client(url=url)
    assert await client.runs.wait(None, "shout", input="hi") == {"shout": "HI"}
    tid = (await client.threads.create())["thread_id"]
    assert await client.runs.wait(tid, "shout", input="one") == {"shout": "ONE"}
    assert await client.runs.wait(tid, "shout", input="two") == {"shout": "TWO"}
    thread = await client.threads.get(tid)
    assert (thread["status"], thread["values"]) == ("idle", {"shout": "TWO"})
    history = await client.threads.get_history(tid)
    assert [state["values"] for state in history if state["next"] == []] == [
        {"shout": "TWO"},
        {"shout": "ONE"},
    ]
    failed = await client.runs.wait(tid, "shout", input="fail", raise_error=False)
    assert failed["__error__"] == {"error": "ValueError", "message": "nothing to shout"}
    assert (await client.threads.get(tid))["status"] == "error"


async def test_a_chat_model_streams_its_tokens(url: str) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    events = await stream_events(
        client,
        tid,
        "model",
        input=[{"role": "user", "content": "hi"}],
        stream_mode=["messages-tuple", "values"],
    )
    tokens = [data[0]["content"] for event, data in events if event == "messages"]
    assert len(tokens) > 1 and "".join(tokens) == REPLY
    final = [data for event, data in events if event == "values"][-1]
    assert (final["type"], final["content"]) == ("ai", REPLY)
    state = await client.threads.get_state(tid)
    assert state["values"]["content"] == REPLY


def test_schemas_langserve_routes_and_remote_graph(url: str) -> None:
    client = get_sync_client(url=url)
    schemas = client.assistants.get_schemas("shout")
    assert schemas["input_schema"]["type"] == "string"
    nodes = client.assistants.get_graph("shout")["nodes"]
    assert {node["id"] for node in nodes} == {"__start__", "shout", "__end__"}
    answer = httpx.post(f"{url}/shout/invoke", json={"input": "route"}, timeout=30)
    assert answer.json()["output"] == {"shout": "ROUTE"}
    remote = RemoteGraph("shout", url=url)
    assert remote.invoke("remote") == {"shout": "REMOTE"}
    config = {"configurable": {"thread_id": client.threads.create()["thread_id"]}}
    remote.invoke("kept", config)
    assert remote.get_state(config).values == {"shout": "KEPT"}
