from typing import TypedDict
import itertools

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt


def _responses():
    for i in itertools.count():
        yield AIMessage(content=f"hello there friend number {i}")


_model = GenericFakeChatModel(messages=_responses())


def call_model(state: MessagesState):
    return {"messages": [_model.invoke(state["messages"])]}


_chat = StateGraph(MessagesState)
_chat.add_node("model", call_model)
_chat.add_edge(START, "model")
_chat.add_edge("model", END)
chat = _chat.compile()


class HState(TypedDict, total=False):
    question: str
    answer: str
    done: bool


def ask(state: HState):
    ans = interrupt({"question": "ok?"})
    return {"answer": ans}


def after(state: HState):
    return {"done": True}


_h = StateGraph(HState)
_h.add_node("ask", ask)
_h.add_node("after", after)
_h.add_edge(START, "ask")
_h.add_edge("ask", "after")
_h.add_edge("after", END)
hitl = _h.compile()


class CState(TypedDict):
    count: int


def inc(state: CState):
    if state.get("count", 0) < 0:
        raise ValueError("negative count")
    w = get_stream_writer()
    w({"progress": "start", "count": state.get("count", 0)})
    w({"progress": "end"})
    return {"count": state.get("count", 0) + 1}


_c = StateGraph(CState)
_c.add_node("inc", inc)
_c.add_edge(START, "inc")
_c.add_edge("inc", END)
counter = _c.compile()


# extra graph (not in the brief's langgraph.json) used only for stream_subgraphs / get_subgraphs
def prep(state: CState):
    return {"count": state.get("count", 0) + 10}


_n = StateGraph(CState)
_n.add_node("prep", prep)
_n.add_node("child", counter)
_n.add_edge(START, "prep")
_n.add_edge("prep", "child")
_n.add_edge("child", END)
nested = _n.compile()


# extra graph (not in the brief's langgraph.json) used only for cancel / multitask / resumable-stream tests
import asyncio


async def slow_step(state: CState):
    w = get_stream_writer()
    for i in range(8):
        w({"tick": i})
        await asyncio.sleep(0.25)
    return {"count": state.get("count", 0) + 1}


async def slow_step2(state: CState):
    return {"count": state.get("count", 0) + 100}


_s = StateGraph(CState)
_s.add_node("slow_step", slow_step)
_s.add_node("slow_step2", slow_step2)
_s.add_edge(START, "slow_step")
_s.add_edge("slow_step", "slow_step2")
_s.add_edge("slow_step2", END)
slow = _s.compile()


# extra graph (not in the brief's langgraph.json): non-streamed messages incl. tool calls
from langchain_core.messages import ToolMessage


def call_tool_msg(state: MessagesState):
    return {"messages": [AIMessage(content="", id="ai-tool-1", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "call_1", "type": "tool_call"}])]}


def tool_result(state: MessagesState):
    return {"messages": [ToolMessage(content="42", tool_call_id="call_1", name="lookup", id="tool-1")]}


def final(state: MessagesState):
    return {"messages": [_model.invoke(state["messages"])]}


_t = StateGraph(MessagesState)
_t.add_node("call", call_tool_msg)
_t.add_node("tool", tool_result)
_t.add_node("final", final)
_t.add_edge(START, "call")
_t.add_edge("call", "tool")
_t.add_edge("tool", "final")
_t.add_edge("final", END)
tools = _t.compile()
