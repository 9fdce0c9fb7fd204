"""Fixtures for LangGraph project tests: project folders, written as users write them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from protocol_apps import Slow, runs_app, serve_with_lifespan

# A graph module as langgraph.json points at it: every kind of variable it may name.
GRAPHS = """
import os
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    count: int


def step(state: State) -> dict:
    count = state.get("count", 0) + 1
    return {"count": count, "messages": [AIMessage(f"reply {count}")]}


def make_builder() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    return builder


builder = make_builder()
graph = builder.compile()
remembering = make_builder().compile(checkpointer=InMemorySaver())
runnable = RunnableLambda(lambda text: text.upper())
number = 42


def make_graph():
    return make_builder().compile(name="made")


def make_graph_from(config):
    return make_builder().compile(name=f"made from {config!r}")


async def make_graph_async():
    return make_builder().compile(name="made async")


def make_number():
    return 42


def make_failing():
    raise ValueError("no API key")


def make_two(a, b):
    return graph


unfinished = StateGraph(State)  # no entry point: compiling it fails
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Projects put folders on sys.path; each test gets its own copy of it back."""
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def write_project(tmp_path: Path) -> Callable[..., Path]:
    """Write ``langgraph.json`` (``config``, or ``text`` as it is) and ``files``; its path."""

    def write(config: Any = None, *, text: str | None = None, **files: str) -> Path:
        for name, content in {"graphs.py": GRAPHS, **files}.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        project = tmp_path / "langgraph.json"
        project.write_text(text if text is not None else json.dumps(config))
        return project

    return write


@pytest.fixture
def slow() -> Iterator[Slow]:
    node = Slow()
    yield node
    node.release.set()


@pytest.fixture
def runs_url(tmp_path: Path, slow: Slow, database: str) -> Iterator[str]:
    with serve_with_lifespan(runs_app(tmp_path, slow, database)) as base:
        yield base
