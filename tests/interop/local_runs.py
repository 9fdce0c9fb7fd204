"""What running the served runnables locally gives, in a form any client's results match.

Interop tests call a chainserve server through a client (LangServe's Python
``RemoteRunnable``, LangChain.js's ``RemoteRunnable``) and compare what they get with a
local run of the same runnable from ``apps.RUNNABLES``. Both sides go through
``plain`` (and the summaries below) so that differences that are not the server's
(message ids, client classes) do not count.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps import RUNNABLES
from langchain_core._api.deprecation import LangChainDeprecationWarning
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tracers.log_stream import RunLog, RunLogPatch


@dataclass(frozen=True)
class Case:
    """A runnable served at ``path``, the inputs to call it with, and its config."""

    id: str
    path: str
    input: Any
    other_input: Any  # batches are ``[input, other_input]``
    configurable: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> list[Any]:
        return [self.input, self.other_input]

    @property
    def config(self) -> RunnableConfig:
        """The config a client passes (with ``.with_config``) for this case."""
        return {"configurable": self.configurable} if self.configurable else {}

    def local(self) -> Runnable:
        """A fresh local instance, named as the server names its runs (the path)."""
        return RUNNABLES[self.path]().with_config(self.config, run_name=self.path)


JOKE = Case("joke", "/joke", {"topic": "cats"}, {"topic": "dogs"})
RETRIEVER = Case("retriever", "/retriever", "cats purr", "dogs and cows")
CONFIGURABLE = Case(
    "configurable",
    "/configurable",
    {"name": "bob"},
    {"name": "ann"},
    configurable={"template": "hear {name}"},
)
CHAT = Case("chat", "/echo_chat", [HumanMessage("hi there")], [HumanMessage("bye now")])
ADD_ONE = Case("add_one", "/add_one", 1, 41)

SECRET = "secret failure detail"  # what /fail and /fail_mid_stream raise with


def plain(value: Any) -> Any:
    """``value`` as plain JSON-like data: messages, documents and containers unwrapped.

    A message becomes ``{"type", "content"}`` with chunk types folded into their
    role (``AIMessageChunk`` -> ``ai``, as LangChain.js reports it); ids are dropped.
    A prompt value becomes ``{"messages": [...]}``, which is also what LangServe's
    Python client makes of a chat prompt value (its wire form has no ``type``).
    """
    if isinstance(value, PromptValue):
        return {"messages": plain(value.to_messages())}
    if isinstance(value, BaseMessage):
        return {
            "type": value.type.removesuffix("MessageChunk").lower(),
            "content": value.content,
        }
    if isinstance(value, Document):
        return {"page_content": value.page_content, "metadata": plain(value.metadata)}
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def log_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a final run log state that must not depend on who ran it."""
    return plain({key: state[key] for key in ("final_output", "streamed_output")})


def events_summary(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, Any]]:
    """``(event, name, chunk or output)`` per stream event; run ids and times dropped."""
    return [
        (
            event["event"],
            event["name"],
            plain(event.get("data", {}).get("chunk", event.get("data", {}).get("output"))),
        )
        for event in events
    ]


async def invoke(case: Case) -> Any:
    return plain(await case.local().ainvoke(case.input))


async def batch(case: Case) -> list[Any]:
    return plain(await case.local().abatch(case.inputs))


async def stream(case: Case) -> list[Any]:
    return plain([chunk async for chunk in case.local().astream(case.input)])


async def stream_log(case: Case) -> dict[str, Any]:
    log: RunLogPatch | None = None
    with warnings.catch_warnings():  # astream_log is deprecated, but served all the same
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        async for patch in case.local().astream_log(case.input):
            log = patch if log is None else log + patch
    assert isinstance(log, RunLog)
    return log_summary(log.state)


async def stream_events(case: Case) -> list[tuple[str, str, Any]]:
    return events_summary(
        [event async for event in case.local().astream_events(case.input, version="v2")]
    )
