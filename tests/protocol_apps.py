"""Apps serving the Agent Protocol for the tests: ``add_graphs`` on a tmp database,
run by uvicorn on a loopback port with their lifespan, as ``chainserve serve`` runs them."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from graph_apps import CounterState, nested_graph, stateless_counter_graph
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from servers import serve

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


def serve_with_lifespan(app: Any, *, timeout: float = 20.0) -> Any:
    """Serve ``app`` with uvicorn in a thread, its lifespan on, as ``chainserve serve``."""
    return serve(app, timeout=timeout, lifespan=True)
