"""A run's stream as the protocols relay it: chunks, or a graph's tokens and states.

A LangGraph graph's own chunks are state updates; its text comes from its chat models'
tokens (its ``messages`` stream) and its output is its last state (``values``). Any
other runnable's chunks are its output in pieces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from chainserve.server.cancellation import closing
from chainserve.server.graphs import find_graph

Kind = Literal["chunk", "token", "state"]


async def parts(
    runnable: Runnable, value: Any, config: RunnableConfig
) -> AsyncIterator[tuple[Kind, Any]]:
    """``("chunk", c)`` for each chunk of a runnable; for a graph, ``("token", m)`` for
    each message of its ``messages`` stream and ``("state", s)`` for each state."""
    if find_graph(runnable) is None:
        async with closing(runnable.astream(value, config)) as chunks:
            async for chunk in chunks:
                yield "chunk", chunk
        return
    modes = ["messages", "values"]
    async with closing(runnable.astream(value, config, stream_mode=modes)) as items:
        async for mode, item in items:
            if mode == "values":
                yield "state", item
            else:
                yield "token", item[0]


def ai_text(message: Any) -> str:
    """The text of an AI message or chunk of a graph's ``messages`` stream ("" for the
    other messages it streams: tool results, ...)."""
    return message.text if isinstance(message, AIMessage) else ""  # chunks included


def chunk_text(chunk: Any) -> str:
    """The text of a chunk that is text (a string, a message); "" for others."""
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, BaseMessage):
        return chunk.text
    return ""


def add(total: Any, chunk: Any) -> Any:
    """Stream chunks added up as LangChain does (``+``); else the latest."""
    if total is None:
        return chunk
    try:
        return total + chunk
    except TypeError:
        return chunk


class Collected:
    """A stream's text pieces, as they come, and its output once it is over."""

    def __init__(self) -> None:
        self.output: Any = None

    def text(self, kind: Kind, item: Any) -> str:
        """The text this part adds (possibly ""), the part counted into the output."""
        if kind == "state":
            self.output = item
            return ""
        if kind == "token":
            return ai_text(item)
        self.output = add(self.output, item)
        return chunk_text(item)
