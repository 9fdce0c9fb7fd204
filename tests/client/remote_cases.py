"""Run any runnable method and reduce its result to something comparable.

Remote and local runs differ in ids and in the root run's name ("/joke" on the server,
"RunnableSequence" locally), so results are normalised before comparing.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tracers.log_stream import RunLog

SYNC_METHODS = ["invoke", "batch", "stream"]
ASYNC_METHODS = [
    "ainvoke",
    "abatch",
    "astream",
    "astream_log",
    "astream_log_accumulated",
    "astream_events",
]


def _identity(runnable: Runnable) -> Runnable:
    return runnable


def _to_messages(text: str) -> list[BaseMessage]:
    return [HumanMessage(text)]


def compose(remote: Runnable) -> Runnable:
    """The runnable inside a larger LCEL chain."""
    return RunnableLambda(_to_messages) | remote | StrOutputParser()


@dataclass(frozen=True)
class Case:
    path: str
    input: Any
    inputs: list[Any]
    wrap: Callable[[Runnable], Runnable] = _identity
    batch_order_random: bool = False  # the fake chat model hands out replies in turn
    async_only: bool = False  # the local runnable has no sync implementation
    configs: list[dict] = field(default_factory=list)


CASES = {
    "joke": Case("/joke", {"topic": "cats"}, [{"topic": "cats"}, {"topic": "dogs"}]),
    "chat": Case(
        "/chat",
        [HumanMessage("hi")],
        [[HumanMessage("hi")], [HumanMessage("yo")]],
        batch_order_random=True,
    ),
    "retriever": Case("/retriever", "cats purr", ["cats", "dogs bark", "nothing"]),
    "configurable": Case(
        "/configurable",
        {"name": "bob"},
        [{"name": "bob"}, {"name": "ann"}],
        wrap=lambda r: r.with_config(configurable={"template": "hear {name}"}),
    ),
    "configurable_per_item": Case(
        "/configurable",
        {"name": "bob"},
        [{"name": "bob"}, {"name": "ann"}],
        configs=[
            {"configurable": {"template": "hi {name}"}},
            {"configurable": {"template": "bye {name}"}},
        ],
    ),
    "echo_chat": Case(
        "/echo_chat",
        [HumanMessage("hi")],
        [[HumanMessage("hi")], [HumanMessage("yo")]],
    ),
    "words": Case("/words", "hello big world", ["a b", "c"], async_only=True),
    "composed": Case("/echo_chat", "hi", ["hi", "yo"], wrap=compose),
}


@dataclass
class Served:
    """An app built with one package's add_routes, and the runnables it serves."""

    app: FastAPI
    runnables: dict[str, Any]
    url: str = ""


@dataclass
class Server:
    """One server kind, as seen by a test."""

    kind: str
    served: Served

    @property
    def package(self) -> str:
        return self.kind.split("-")[0]

    @property
    def in_process(self) -> bool:
        return self.kind.endswith("-asgi")


def norm(value: Any) -> Any:
    """Drop what legitimately differs between runs (message ids, metadata)."""
    if isinstance(value, BaseMessage):
        return (type(value).__name__, value.content)
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    return value


def _log_summary(log: RunLog) -> dict[str, Any]:
    state = log.state or {}
    return {
        "final_output": norm(state.get("final_output")),
        "streamed_output": norm(state.get("streamed_output")),
    }


def _events_summary(events: list[dict[str, Any]], *, composed: bool) -> dict[str, Any]:
    root = [e for e in events if not e["parent_ids"]]
    summary: dict[str, Any] = {
        "root_events": [e["event"] for e in root],
        "root_chunks": [norm(e["data"]["chunk"]) for e in root if "chunk" in e["data"]],
        "output": [norm(e["data"].get("output")) for e in root if "output" in e["data"]],
    }
    if not composed:  # composed locally, the remote part is one opaque step
        summary["shape"] = [
            (e["event"], e["name"] if e["parent_ids"] else "<root>") for e in events
        ]
    return summary


def summarize(case: Case, method: str, result: Any) -> Any:
    if method.endswith("batch") and case.batch_order_random:
        return sorted(norm(result), key=repr)
    if method == "astream_log_accumulated":
        return _log_summary(result[-1]) if result else None
    if method == "astream_log":
        if not result:
            return None
        return _log_summary(functools.reduce(operator.add, result, RunLog(state=None)))
    if method == "astream_events":
        return _events_summary(result, composed=case.wrap is compose)
    return norm(result)


def run_sync(case: Case, method: str, runnable: Runnable) -> tuple[Any, Exception | None]:
    """(result or chunks received so far, exception raised)."""
    chunks: list[Any] = []
    try:
        if method == "invoke":
            return runnable.invoke(case.input, case.configs[0] if case.configs else None), None
        if method == "batch":
            return runnable.batch(case.inputs, case.configs or None), None
        for chunk in runnable.stream(case.input):
            chunks.append(chunk)
        return chunks, None
    except Exception as exc:
        return chunks, exc


async def run_async(case: Case, method: str, runnable: Runnable) -> tuple[Any, Exception | None]:
    """(result or items received so far, exception raised)."""
    items: list[Any] = []
    try:
        if method == "ainvoke":
            config = case.configs[0] if case.configs else None
            return await runnable.ainvoke(case.input, config), None
        if method == "abatch":
            return await runnable.abatch(case.inputs, case.configs or None), None
        if method == "astream":
            iterator = runnable.astream(case.input)
        elif method == "astream_log":
            iterator = runnable.astream_log(case.input)
        elif method == "astream_log_accumulated":
            iterator = runnable.astream_log(case.input, diff=False)
        else:
            iterator = runnable.astream_events(case.input, version="v2")
        async for item in iterator:
            items.append(item)
        if method == "astream_log_accumulated":
            return items[-1:], None  # the last RunLog is the whole log
        return items, None
    except Exception as exc:
        if method == "astream_log_accumulated":
            return items[-1:], exc
        return items, exc
