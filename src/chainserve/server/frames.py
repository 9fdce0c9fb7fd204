"""A run's output as SSE frames: one generator per streaming endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal

import orjson
from langchain_core._api import suppress_langchain_deprecation_warning
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig

from chainserve.serialization import Serializer
from chainserve.server.callbacks import CallbackEventRecorder
from chainserve.server.cancellation import closing
from chainserve.server.sse import END_FRAME, data_frame, frame


class RunFrames:
    """Runs a runnable for a streaming endpoint and encodes what it produces.

    ``log`` and ``events`` pair each frame with whether it carries output, for
    ``sse.hold_until_output``.
    """

    def __init__(
        self,
        runnable: Runnable,
        serializer: Serializer,
        *,
        run_metadata: Callable[[RunnableConfig], Awaitable[dict[str, Any]]],
        events_version: Literal["v1", "v2"],
        allow_list: Sequence[str] | None,
    ) -> None:
        self.runnable = runnable
        self.serializer = serializer
        self._run_metadata = run_metadata
        self._events_version = events_version
        self._allow_list = allow_list

    async def stream(
        self, value: Any, config: RunnableConfig, recorder: CallbackEventRecorder | None
    ) -> AsyncIterator[bytes]:
        started = False
        async with closing(self.runnable.astream(value, config)) as chunks:
            async for chunk in chunks:
                data = self.serializer.dumps(chunk)
                if not started:
                    started = True
                    yield frame("metadata", orjson.dumps(await self._run_metadata(config)))
                if recorder is not None and recorder.events:
                    yield frame("callback_events", self.serializer.dumps(recorder.take()))
                yield data_frame(data)
        if recorder is not None and recorder.events:
            yield frame("callback_events", self.serializer.dumps(recorder.take()))
        yield END_FRAME

    async def log(
        self, value: Any, config: RunnableConfig, filters: dict[str, Any]
    ) -> AsyncIterator[tuple[bytes, bool]]:
        if self._name_allowed():
            # /stream_log is part of the protocol: langchain-core's deprecation of
            # astream_log is for library users, not for each request a server answers.
            patches = self.runnable.astream_log(value, config, diff=True, **filters)
            with suppress_langchain_deprecation_warning():
                async with closing(patches):
                    async for patch in patches:
                        output = any(
                            op["path"] in ("/streamed_output/-", "/final_output")
                            for op in patch.ops
                        )
                        yield data_frame(self.serializer.dumps({"ops": patch.ops})), output
        yield END_FRAME, True

    async def events(
        self, value: Any, config: RunnableConfig, filters: dict[str, Any]
    ) -> AsyncIterator[tuple[bytes, bool]]:
        if self._name_allowed():
            events = self.runnable.astream_events(
                value, config, version=self._events_version, **filters
            )
            async with closing(events):
                async for event in events:
                    metadata = event.get("metadata")
                    if metadata:
                        event["metadata"] = {
                            k: v for k, v in metadata.items() if not k.startswith("__")
                        }
                    output = event["event"].endswith(("_stream", "_end"))
                    yield data_frame(self.serializer.dumps(event)), output
        yield END_FRAME, True

    def _name_allowed(self) -> bool:
        if self._allow_list is None:
            return True
        if isinstance(self.runnable, RunnableBinding):
            name = self.runnable.config.get("run_name") or self.runnable.get_name()
        else:
            name = self.runnable.get_name()
        return name in self._allow_list
