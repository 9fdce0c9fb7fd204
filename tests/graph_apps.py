"""LangGraph graphs served by the tests, as LangServe users write them.

The states use ``typing.TypedDict`` (what LangGraph's tutorials write), which pydantic
cannot describe on Python < 3.12: serving them at all is part of what is tested.
"""

import operator
import typing
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class CounterState(typing.TypedDict):
    """A chat state with a counter: each run adds one reply and one to ``count``."""

    messages: Annotated[list[AnyMessage], add_messages]
    count: int
    seen: Annotated[list[str], operator.add]


def _reply(state: CounterState) -> dict[str, Any]:
    count = state.get("count", 0) + 1
    last = state["messages"][-1].text if state.get("messages") else "nothing"
    return {"count": count, "messages": [AIMessage(f"reply {count} to {last}")], "seen": [last]}


def counter_builder() -> StateGraph:
    builder = StateGraph(CounterState)
    builder.add_node("reply", _reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder


def counter_graph(checkpointer: Any = None) -> Any:
    """The counter graph, on ``checkpointer`` (a fresh in-memory one by default)."""
    return counter_builder().compile(checkpointer=checkpointer or InMemorySaver())


def stateless_counter_graph() -> Any:
    return counter_builder().compile()


def nested_graph() -> Any:
    """A state holding a typing.TypedDict, which pydantic cannot check on 3.11. Each
    call declares new types, as a fresh process would."""

    class Inner(typing.TypedDict):
        label: str

    class NestedState(typing.TypedDict):
        inner: Inner
        total: int

    builder = StateGraph(NestedState)
    builder.add_node("add", lambda state: {"total": state.get("total", 0) + 1})
    builder.add_edge(START, "add")
    builder.add_edge("add", END)
    return builder.compile()


class Point(typing.TypedDict):
    x: int


def norm(point: Point) -> int:
    """A function typed with a typing.TypedDict, which pydantic rejects on 3.11."""
    return abs(point["x"])
