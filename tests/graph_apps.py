"""LangGraph graphs served by the tests, as LangServe users write them.

The states use ``typing.TypedDict`` (what LangGraph's tutorials write), which pydantic
cannot describe on Python < 3.12: serving them at all is part of what is tested.
"""

import operator
import typing
from typing import Annotated, Any

import typing_extensions
from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import MessagesState, add_messages
from pydantic import BaseModel, Field


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


class ChatState(MessagesState):
    """LangGraph's MessagesState (a typing_extensions.TypedDict), extended."""

    turns: int
    mood: typing_extensions.NotRequired[str]


def _chat_turn(state: ChatState) -> dict[str, Any]:
    turns = state.get("turns", 0) + 1
    return {"messages": [AIMessage(f"turn {turns}")], "turns": turns}


def chat_graph() -> Any:
    builder = StateGraph(ChatState)
    builder.add_node("turn", _chat_turn)
    builder.add_edge(START, "turn")
    return builder.compile(checkpointer=InMemorySaver())


class Order(BaseModel):
    """A pydantic state: its constraints hold for the keys a client sends."""

    quantity: int = Field(0, ge=0)
    note: str = ""


def order_graph() -> Any:
    builder = StateGraph(Order)
    builder.add_node("confirm", lambda order: {"note": f"{order.quantity} ordered"})
    builder.add_edge(START, "confirm")
    return builder.compile()


class Context(typing_extensions.TypedDict):
    user: str


def _greet(state: ChatState, config: RunnableConfig) -> dict[str, Any]:
    user = config["configurable"].get("user", "nobody")
    return {"messages": [AIMessage(f"hello {user}")]}


def context_graph() -> Any:
    """A graph that reads its context from ``configurable``, as before LangGraph 1."""
    builder = StateGraph(ChatState, context_schema=Context)
    builder.add_node("greet", _greet)
    builder.add_edge(START, "greet")
    return builder.compile(checkpointer=InMemorySaver())
