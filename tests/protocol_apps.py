"""Apps serving the Agent Protocol for the tests: ``add_graphs`` on a tmp database,
run by uvicorn on a loopback port with their lifespan, as ``chainserve serve`` runs them."""

from __future__ import annotations

import contextlib
import threading
import time
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from graph_apps import CounterState, nested_graph, stateless_counter_graph
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from servers import free_port

from chainserve.agents import add_graphs


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


def protocol_app(folder: Path) -> FastAPI:
    """Graphs ``counter``, ``nested``, ``ask``, ``parent`` on the SQLite file
    ``folder/db.sqlite``."""
    app = FastAPI()
    graphs = {
        "counter": stateless_counter_graph(),
        "nested": nested_graph(),
        "ask": ask_graph(),
        "parent": parent_graph(),
    }
    add_graphs(app, graphs, database=f"sqlite:///{folder / 'db.sqlite'}")
    return app


@contextlib.contextmanager
def serve_with_lifespan(app: Any, *, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread, its lifespan on; yield its URL, then stop."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
