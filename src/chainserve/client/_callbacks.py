"""Replay of server-side callback events (protocol §7.3, §14.6) into local handlers.

A server built with ``include_callback_events=True`` records every callback call of a
run as ``{"type": "on_chain_start", "run_id": ..., "parent_run_id": ..., ...,
"kwargs": {...}}``. The client replays them into the handlers of its own run so that
local tracers see the remote run as a subtree of the ``RemoteRunnable`` run.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.callbacks.manager import (
    BaseRunManager,
    ahandle_event,
    handle_event,
)
from langchain_core.tracers.log_stream import LogStreamCallbackHandler

from chainserve.exceptions import RemoteRunError
from chainserve.serialization import Serializer

__all__ = ["CallbackReplayer", "decode_callback_events", "replay_handlers"]

logger = logging.getLogger("chainserve.client")

# Event type -> the handler attribute that opts a handler out of it.
IGNORE_CONDITIONS: dict[str, str | None] = {
    "on_chain_start": "ignore_chain",
    "on_chain_end": "ignore_chain",
    "on_chain_error": "ignore_chain",
    "on_chat_model_start": "ignore_chat_model",
    "on_llm_start": "ignore_llm",
    "on_llm_new_token": "ignore_llm",
    "on_llm_end": "ignore_llm",
    "on_llm_error": "ignore_llm",
    "on_retriever_start": "ignore_retriever",
    "on_retriever_end": "ignore_retriever",
    "on_retriever_error": "ignore_retriever",
    "on_tool_start": "ignore_agent",
    "on_tool_end": "ignore_agent",
    "on_tool_error": "ignore_agent",
    "on_agent_action": "ignore_agent",
    "on_agent_finish": "ignore_agent",
    "on_custom_event": "ignore_custom_event",
}
_FIXED_KEYS = ("type", "kwargs")


@functools.lru_cache(maxsize=256)
def log_once(message: str) -> None:
    """Log a protocol anomaly once per distinct message."""
    logger.warning(message)


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _decode_error(value: Any) -> Any:
    # The server scrubs exceptions to {"status_code": 500, "message": "..."}.
    if isinstance(value, dict) and "status_code" in value:
        return RemoteRunError(int(value["status_code"]), str(value.get("message", "")))
    return RemoteRunError(500, str(value))


def _decode_event(raw: Any, serializer: Serializer) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("type") not in IGNORE_CONDITIONS:
        kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"unsupported callback event {kind!r}")
    event = {key: serializer.loadd(value) for key, value in raw.items()}
    event["run_id"] = _as_uuid(raw.get("run_id"))
    event["parent_run_id"] = _as_uuid(raw.get("parent_run_id"))
    if event["run_id"] is None:
        raise ValueError("callback event without run_id")
    if not isinstance(event.get("kwargs") or {}, dict):
        raise ValueError("callback event kwargs is not an object")
    if event["type"].endswith("_error"):
        event["error"] = _decode_error(raw.get("error"))
    return event


def decode_callback_events(raw: Any, serializer: Serializer) -> list[dict[str, Any]]:
    """Decode a wire list of callback events; invalid events are dropped (logged)."""
    if not isinstance(raw, list):
        log_once(f"Ignoring callback_events: expected a list, got {type(raw).__name__}")
        return []
    events = []
    for item in raw:
        try:
            events.append(_decode_event(item, serializer))
        except (ValueError, TypeError) as exc:
            log_once(f"Ignoring invalid server callback event: {exc}")
    return events


def replay_handlers(run_manager: BaseRunManager) -> list[BaseCallbackHandler]:
    """The handlers of ``run_manager`` that server events are replayed into.

    ``astream_log``'s handler is left out: it turns run names into JSON-patch paths
    without escaping ``/``, and server run names are paths such as ``/joke``.
    """
    return [h for h in run_manager.handlers if not isinstance(h, LogStreamCallbackHandler)]


class CallbackReplayer:
    """Replays decoded events under one local run.

    Server run ids are replaced by fresh ones, consistently for the replayer's whole
    life (a stream delivers events in several batches); server root runs are
    re-parented under the local run.
    """

    def __init__(self, run_manager: BaseRunManager) -> None:
        self._run_manager = run_manager
        self._handlers = replay_handlers(run_manager)
        self._ids: dict[uuid.UUID, uuid.UUID] = {}

    def _local_id(self, server_id: uuid.UUID) -> uuid.UUID:
        return self._ids.setdefault(server_id, uuid.uuid4())

    def _call_args(self, event: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
        kind = event["type"]
        fields = {k: v for k, v in event.items() if k not in _FIXED_KEYS}
        fields["run_id"] = self._local_id(event["run_id"])
        parent = event["parent_run_id"]
        fields["parent_run_id"] = (
            self._run_manager.run_id if parent is None else self._local_id(parent)
        )
        # Recorded extras first, so they cannot override the event's own fields.
        return kind, IGNORE_CONDITIONS[kind], {**(event.get("kwargs") or {}), **fields}

    def replay(self, events: Iterable[dict[str, Any]]) -> None:
        """Send events to the run's handlers (sync)."""
        for event in events:
            kind, ignore, kwargs = self._call_args(event)
            handle_event(self._handlers, kind, ignore, **kwargs)

    async def areplay(self, events: Iterable[dict[str, Any]]) -> None:
        """Send events to the run's handlers (async)."""
        for event in events:
            kind, ignore, kwargs = self._call_args(event)
            await ahandle_event(self._handlers, kind, ignore, **kwargs)
