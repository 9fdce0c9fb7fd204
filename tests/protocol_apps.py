"""Apps serving the Agent Protocol for the tests: ``add_graphs`` on a tmp database,
run by uvicorn on a loopback port with their lifespan, as ``chainserve serve`` runs them."""

from __future__ import annotations

import asyncio
import itertools
import threading
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graph_apps import CounterState, nested_graph, stateless_counter_graph
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt
from langgraph_sdk.errors import APIStatusError
from servers import serve

from chainserve.agents import add_graphs

# The keys of a new thread on the wire (WIRE.md §3): no error nor interrupts yet.
NEW_THREAD_KEYS = {
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "values",
}


class AskState(typing.TypedDict, total=False):
    question: str
    answer: str


def _ask(state: AskState) -> dict[str, Any]:
    return {"answer": interrupt({"question": "ok?"})}


def ask_graph() -> Any:
    """``ask`` interrupts with ``{"question": "ok?"}`` (no checkpointer of its own)."""
    builder = StateGraph(AskState)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile()


def parent_graph() -> Any:
    """Node ``prep``, then the counter graph as the subgraph node ``child``."""
    builder = StateGraph(CounterState)
    builder.add_node("prep", lambda state: {"seen": ["prep"]})
    builder.add_node("child", stateless_counter_graph())
    builder.add_edge(START, "prep")
    builder.add_edge("prep", "child")
    builder.add_edge("child", END)
    return builder.compile()


def protocol_app(folder: Path, database: str | None = None) -> FastAPI:
    """Graphs ``counter``, ``nested``, ``ask``, ``parent`` on ``database`` (by default
    the SQLite file ``folder/db.sqlite``)."""
    app = FastAPI()
    graphs = {
        "counter": stateless_counter_graph(),
        "nested": nested_graph(),
        "ask": ask_graph(),
        "parent": parent_graph(),
    }
    add_graphs(app, graphs, database=database or f"sqlite:///{folder / 'db.sqlite'}")
    return app


def serve_with_lifespan(app: Any, *, timeout: float = 20.0) -> Any:
    """Serve ``app`` with uvicorn in a thread, its lifespan on, as ``chainserve serve``."""
    return serve(app, timeout=timeout, lifespan=True)


class Count(typing.TypedDict, total=False):
    count: int


def inc(state: Count) -> dict[str, Any]:
    """Add one to ``count`` (a negative one fails), telling its progress to the writer."""
    if state.get("count", 0) < 0:
        raise ValueError("negative count")
    writer = get_stream_writer()
    writer({"progress": "start", "count": state.get("count", 0)})
    return {"count": state.get("count", 0) + 1}


def one_node_graph(node: Any, name: str = "inc") -> Any:
    """A ``Count`` graph of the one node ``name``."""
    builder = StateGraph(Count)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder.compile()


class Slow:
    """An async node that waits until released, writing ``{"waiting": true}`` custom
    events meanwhile; records whether it was cancelled."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.cancelled = threading.Event()

    async def until_started(self) -> None:
        """Wait (in a thread: the node may run in this loop) until the node runs."""
        if not await asyncio.to_thread(self.started.wait, 10):
            pytest.fail("the slow node did not start")

    async def until_cancelled(self) -> None:
        """Wait until the node has seen its cancellation."""
        if not await asyncio.to_thread(self.cancelled.wait, 10):
            pytest.fail("the slow node was not cancelled")

    async def __call__(self, state: Count) -> dict[str, Any]:
        self.started.set()
        writer = get_stream_writer()
        try:
            while not self.release.is_set():
                writer({"waiting": True})  # what a client following it sees meanwhile
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return {"count": state.get("count", 0) + 1}


def runs_app(folder: Path, slow: Slow, database: str | None = None) -> FastAPI:
    """Graphs ``inc``, ``ask``, ``parent``, ``counter`` and ``slow`` (its node ``slow``)
    on ``database`` (by default the SQLite file ``folder/db.sqlite``)."""
    app = FastAPI()
    graphs = {
        "inc": one_node_graph(inc),
        "ask": ask_graph(),
        "parent": parent_graph(),
        "counter": stateless_counter_graph(),
        "slow": one_node_graph(slow, "slow_step"),
    }
    add_graphs(app, graphs, database=database or f"sqlite:///{folder / 'db.sqlite'}")
    return app


async def stream_events(client: Any, tid: str | None, assistant: str, **kwargs: Any) -> list[Any]:
    """``(event, data)`` of every part of ``client.runs.stream(...)`` (an async client)."""
    return [(part.event, part.data) async for part in client.runs.stream(tid, assistant, **kwargs)]


def chat_model_graph(answer: str, node: str = "respond") -> Any:
    """One node ``node`` answering every turn ``answer`` from LangChain's fake chat
    model, which streams it word by word (whitespace included) when messages stream."""
    model = GenericFakeChatModel(messages=itertools.repeat(AIMessage(answer)))

    def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node(node, respond)
    builder.add_edge(START, node)
    builder.add_edge(node, END)
    return builder.compile()


async def refusal(call: Any) -> tuple[int, str]:
    """The status and ``detail`` of the error response ``call`` (an SDK call) raises."""
    with pytest.raises((APIStatusError, httpx.HTTPStatusError)) as caught:
        await call
    response = caught.value.response
    return response.status_code, response.json()["detail"]
