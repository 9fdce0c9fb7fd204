"""Recording a run's callback events so a client can replay them locally.

Each event is the callback's arguments as one flat dict (``type`` names the
callback), the shape LangServe clients replay. Errors are replaced by a fixed
object so exception text never leaves the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler

SCRUBBED_ERROR = {"status_code": 500, "message": "Internal Server Error", "type": "error"}

# Callback name -> names of its positional arguments.
_EVENTS: dict[str, tuple[str, ...]] = {
    "on_chain_start": ("serialized", "inputs"),
    "on_chain_end": ("outputs",),
    "on_chain_error": ("error",),
    "on_chat_model_start": ("serialized", "messages"),
    "on_llm_start": ("serialized", "prompts"),
    "on_llm_end": ("response",),
    "on_llm_error": ("error",),
    "on_tool_start": ("serialized", "input_str"),
    "on_tool_end": ("output",),
    "on_tool_error": ("error",),
    "on_retriever_start": ("serialized", "query"),
    "on_retriever_end": ("documents",),
    "on_retriever_error": ("error",),
    "on_agent_action": ("action",),
    "on_agent_finish": ("finish",),
}


_RUN_KEYS = ("run_id", "parent_run_id", "tags", "metadata")


class CallbackEventRecorder(AsyncCallbackHandler):
    """Appends every callback of a run to ``events``; meant for one request."""

    run_inline = True  # keep events in the order the run produced them

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def take(self) -> list[dict[str, Any]]:
        """The events recorded since the last call."""
        events, self.events = self.events, []
        return events

    def _record(self, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # LangServe's keys, in its order: every event names its run, parent, tags and
        # metadata (null where the callback has none, as on ``*_end`` and ``*_error``).
        event: dict[str, Any] = {name: kwargs.pop(name, None) for name in _RUN_KEYS}
        for name, value in zip(_EVENTS[kind], args, strict=False):
            event[name] = SCRUBBED_ERROR if name == "error" else value
        event["kwargs"] = kwargs
        event["type"] = kind
        self.events.append(event)


def _recorder(kind: str) -> Callable[..., Any]:
    async def record(self: CallbackEventRecorder, *args: Any, run_id: UUID, **kwargs: Any) -> None:
        self._record(kind, args, {"run_id": run_id, **kwargs})

    record.__name__ = kind
    return record


for _kind in _EVENTS:
    setattr(CallbackEventRecorder, _kind, _recorder(_kind))
