"""``APIHandler``: one method per endpoint, for ``add_routes`` and for custom routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Literal

import orjson
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive

from chainserve.serialization import Serializer, WellKnownLCSerializer
from chainserve.server.callbacks import CallbackEventRecorder
from chainserve.server.cancellation import run_until_disconnect
from chainserve.server.config import (
    ConfigResolver,
    PerRequestConfigModifier,
    check_config_keys,
)
from chainserve.server.errors import (
    Loc,
    RequestError,
    failure_response,
    invalid,
    server_error,
)
from chainserve.server.feedback import (
    Feedback,
    FeedbackCreateRequest,
    LangSmithFeedback,
    PublicTraceLink,
    PublicTraceLinkCreateRequest,
    TokenFeedbackConfig,
    TokenFeedbackRequest,
)
from chainserve.server.frames import RunFrames
from chainserve.server.limits import Limits, RunSlots
from chainserve.server.observers import RunWatch, current_observer, run_endpoint
from chainserve.server.requests import (
    InputValidator,
    batch_configs,
    log_filters,
    read_body,
    require,
)
from chainserve.server.responses import JSONBytesResponse
from chainserve.server.schemas import RunnableSchemas
from chainserve.server.sse import (
    QUEUE_SIZE,
    EventStreamResponse,
    FrameQueue,
    hold_until_output,
)

_CLIENT_GONE = 499  # nginx's status for a client that closed the request


class APIHandler:
    """Serves one runnable: parses requests, runs the runnable, writes responses.

    Use it directly to write your own FastAPI endpoints; mount them with the suffixes
    ``/invoke``, ``/batch``, ``/stream``, ... so that clients can find them.
    """

    def __init__(
        self,
        runnable: Runnable,
        *,
        path: str = "",
        prefix: str = "",
        input_type: type | Literal["auto"] | BaseModel = "auto",
        output_type: type | Literal["auto"] | BaseModel = "auto",
        config_keys: Sequence[str] = ("configurable",),
        include_callback_events: bool = False,
        enable_feedback_endpoint: bool = False,
        token_feedback_config: TokenFeedbackConfig | dict[str, Any] | None = None,
        enable_public_trace_link_endpoint: bool = False,
        per_req_config_modifier: PerRequestConfigModifier | None = None,
        stream_log_name_allow_list: Sequence[str] | None = None,
        playground_type: Literal["default", "chat"] = "default",
        astream_events_version: Literal["v1", "v2"] = "v2",
        serializer: Serializer | None = None,
        limits: Limits | None = None,
    ) -> None:
        if not isinstance(runnable, Runnable):
            raise TypeError(
                f"Expected a Runnable, got {type(runnable)}. Wrap functions with "
                "RunnableLambda and pass the chain itself, not its output."
            )
        if input_type != "auto" or output_type != "auto":
            runnable = runnable.with_types(
                input_type=None if input_type == "auto" else input_type,  # type: ignore[arg-type]
                output_type=None if output_type == "auto" else output_type,  # type: ignore[arg-type]
            )
        if playground_type not in ("default", "chat"):
            raise ValueError(
                f"playground_type must be 'default' or 'chat', not {playground_type!r}"
            )
        self.runnable = runnable
        self.path = path
        self.prefix = prefix
        self.config_keys = check_config_keys(config_keys)
        self.playground_type = playground_type
        self.include_callback_events = include_callback_events
        self.enable_feedback_endpoint = enable_feedback_endpoint
        self.enable_public_trace_link_endpoint = enable_public_trace_link_endpoint
        self.serializer = serializer or WellKnownLCSerializer()
        self.limits = limits or Limits()
        self._slots = RunSlots(self.limits)
        self._observed_as = prefix + path or "/"  # the route label of its runs' metrics
        self._config = ConfigResolver(
            runnable,
            config_keys=self.config_keys,
            run_name=prefix + path,
            modifier=per_req_config_modifier,
        )
        self._inputs = InputValidator(runnable)
        self.schemas = RunnableSchemas(runnable, self.config_keys)
        self.feedback = LangSmithFeedback(token_feedback_config=token_feedback_config)
        self._frames = RunFrames(
            runnable,
            self.serializer,
            run_metadata=self._run_metadata,
            events_version=astream_events_version,
            allow_list=stream_log_name_allow_list,
        )

    # Run endpoints -------------------------------------------------------------

    async def invoke(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``POST /invoke``: ``{"output": ..., "metadata": {"run_id", "feedback_tokens"}}``."""
        body = await read_body(request, self.limits)
        value, config = await self._prepare_body(
            request, body, config_hash, server_config, "invoke"
        )
        recorder = self._record_callbacks(config)
        output, failed = await self._run(request, lambda: self.runnable.ainvoke(value, config))
        if failed is not None:
            return failed
        metadata = await self._run_metadata(config)
        events = recorder.events if recorder else None
        return self._envelope(request, output, metadata, events)

    async def batch(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``POST /batch``: one output per input, in order."""
        body = await read_body(request, self.limits)
        inputs = self._batch_inputs(body)
        configs = await self._batch_configs(request, body, len(inputs), config_hash, server_config)
        values = self._validate_all(inputs, configs)
        recorders = [self._record_callbacks(config) for config in configs]
        outputs, failed = await self._run(request, lambda: self.runnable.abatch(values, configs))
        if failed is not None:
            return failed
        responses = await self._batch_metadata(configs)
        metadata = {"responses": responses, "run_ids": [r["run_id"] for r in responses]}
        events = [r.events for r in recorders if r] if self.include_callback_events else None
        return self._envelope(request, outputs, metadata, events)

    async def stream(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``POST /stream``: SSE ``metadata``, then one ``data`` per chunk, then ``end``."""
        body = await read_body(request, self.limits)
        value, config = await self._prepare_body(
            request, body, config_hash, server_config, "stream"
        )
        recorder = (
            self._record_callbacks(config) if body.get("stream_callback_events") is True else None
        )
        return await self._event_stream(request, self._frames.stream(value, config, recorder))

    async def stream_log(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``POST /stream_log``: SSE ``data`` events of ``{"ops": [...]}`` run log patches."""
        body = await read_body(request, self.limits)
        value, config = await self._prepare_body(
            request, body, config_hash, server_config, "stream_log"
        )
        frames = self._frames.log(value, config, log_filters(body))
        # Unbounded: langchain-core's astream_log runs ahead of its reader into a stream
        # of its own and leaves that run going when its generator is closed. Reading it
        # without pause keeps every cancel landing inside it, where it reaches the run;
        # what the client has not read is held here instead of in langchain-core.
        return await self._event_stream(request, hold_until_output(frames), maxsize=None)

    async def astream_events(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``POST /stream_events``: SSE ``data`` events, one per LangChain stream event."""
        body = await read_body(request, self.limits)
        value, config = await self._prepare_body(
            request, body, config_hash, server_config, "stream_events"
        )
        frames = self._frames.events(value, config, log_filters(body))
        return await self._event_stream(request, hold_until_output(frames))

    stream_events = astream_events

    # Schema endpoints ----------------------------------------------------------

    async def input_schema(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``GET /input_schema``: the JSON schema of the input under this config."""
        return self._schema_response(
            self.schemas.input(self._schema_config(config_hash, server_config))
        )

    async def output_schema(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``GET /output_schema``."""
        return self._schema_response(
            self.schemas.output(self._schema_config(config_hash, server_config))
        )

    async def config_schema(
        self,
        request: Request,
        *,
        config_hash: str = "",
        server_config: RunnableConfig | None = None,
    ) -> Response:
        """``GET /config_schema``: the config a client may send."""
        return self._schema_response(
            self.schemas.config(self._schema_config(config_hash, server_config))
        )

    # Feedback endpoints ----------------------------------------------------------

    async def create_feedback(self, feedback_create_req: FeedbackCreateRequest) -> Feedback:
        """``POST /feedback``: record a score for a run in LangSmith."""
        return await self.feedback.create(feedback_create_req)

    async def create_feedback_from_token(self, token_feedback: TokenFeedbackRequest) -> None:
        """``POST /token_feedback``: record feedback through a presigned token."""
        await self.feedback.create_from_token(token_feedback)

    async def create_public_trace_link(
        self, public_trace_link_create_req: PublicTraceLinkCreateRequest
    ) -> PublicTraceLink:
        """``PUT /public_trace_link``: share a run's trace publicly."""
        return await self.feedback.share(public_trace_link_create_req)

    async def check_feedback_enabled(self) -> None:
        """``HEAD /feedback``: 200, the endpoint exists (as in LangServe); with tracing
        off, ``POST`` then answers 400 with the reason."""

    async def check_public_trace_link_enabled(self) -> None:
        """``HEAD /public_trace_link``: 200, like ``HEAD /feedback``."""

    # Internals -------------------------------------------------------------------

    async def _prepare_body(
        self,
        request: Request,
        body: dict[str, Any],
        config_hash: str,
        server_config: RunnableConfig | None,
        endpoint: str,
    ) -> tuple[Any, RunnableConfig]:
        raw_input = require(body, "input")
        client = self._config.client_config(
            self._config.from_hash(config_hash),
            self._config.validate(body.get("config"), ("config",)),
        )
        config = await self._config.finish(client, request, endpoint, server_config)
        return self._inputs.validate(raw_input, config, ("input",)), config

    def _batch_inputs(self, body: dict[str, Any]) -> list[Any]:
        inputs = require(body, "inputs")
        if not isinstance(inputs, list):
            raise invalid("list_type", ("inputs",), "Inputs must be a list")
        if len(inputs) > self.limits.max_batch_size:
            raise invalid(
                "too_long",
                ("inputs",),
                f"A batch holds at most {self.limits.max_batch_size} inputs",
            )
        return inputs

    async def _batch_configs(
        self,
        request: Request,
        body: dict[str, Any],
        count: int,
        config_hash: str,
        server_config: RunnableConfig | None,
    ) -> list[RunnableConfig]:
        raw = body.get("config")
        hashed = self._config.from_hash(config_hash)
        shared = raw is None or isinstance(raw, dict)
        if shared:
            client = self._config.client_config(hashed, self._config.validate(raw, ("config",)))
        configs: list[RunnableConfig] = []
        for index, item in enumerate(batch_configs(raw, count)):
            if not shared:
                client = self._config.client_config(
                    hashed, self._config.validate(item, ("config", index))
                )
            elif index == 1:
                # As in LangChain: a run id in one shared config names the first run only.
                client = {key: value for key, value in client.items() if key != "run_id"}
            loc = ("config",) if shared else ("config", index)
            configs.append(await self._config.finish(client, request, "batch", server_config, loc))
        self._config.check_threads(configs)
        return configs

    def _validate_all(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]:
        values: list[Any] = []
        errors: list[Any] = []
        for index, (raw, config) in enumerate(zip(inputs, configs, strict=True)):
            try:
                values.append(self._inputs.validate(raw, config, ("inputs", index)))
            except RequestError as exc:
                errors.extend(exc.detail)
        if errors:
            raise RequestError(422, errors)
        return values

    def _record_callbacks(self, config: RunnableConfig) -> CallbackEventRecorder | None:
        if not self.include_callback_events:
            return None
        recorder = CallbackEventRecorder()
        # Added to, not replacing, callbacks from server_config or the modifier.
        config["callbacks"] = [*(config.get("callbacks") or []), recorder]  # type: ignore[misc]
        return recorder

    async def _run_metadata(self, config: RunnableConfig) -> dict[str, Any]:
        run_id = config["run_id"]
        return {"run_id": str(run_id), "feedback_tokens": await self.feedback.tokens(run_id)}  # type: ignore[arg-type]

    async def _batch_metadata(self, configs: list[RunnableConfig]) -> list[dict[str, Any]]:
        metadata = [self._run_metadata(config) for config in configs]
        if self.feedback.issues_tokens():  # one LangSmith call per run: make them together
            return list(await asyncio.gather(*metadata))
        return [await item for item in metadata]  # no task per run when nothing waits

    def _envelope(
        self, request: Request, output: Any, metadata: dict[str, Any], events: Any
    ) -> Response:
        try:
            parts = [
                b'{"output":',
                self.serializer.dumps(output),
                b',"metadata":',
                orjson.dumps(metadata),
            ]
            if events is not None:
                parts += [b',"callback_events":', self.serializer.dumps(events)]
        except Exception as exc:
            return server_error(request, exc, "serialization_error")
        parts.append(b"}")
        return JSONBytesResponse(b"".join(parts))

    async def run_config(self, request: Request, endpoint: str) -> RunnableConfig:
        """The config of a run that another protocol (OpenAI, MCP, A2A) starts: no client
        config, then the route's own as for any run (modifier, run name and id, metadata)."""
        return await self._config.finish({}, request, endpoint)

    def validate_input(self, value: Any, config: RunnableConfig, loc: Loc = ("input",)) -> Any:
        """``value`` checked against the route's input schema (a 422 ``RequestError``
        naming ``loc`` if it does not fit), as ``/invoke`` checks its input."""
        return self._inputs.validate(value, config, loc)

    async def run(
        self,
        start: Callable[[], Coroutine[Any, Any, Any]],
        receive: Receive | None = None,
    ) -> Any:
        """Run under the route's limits: a slot (503 when none is free), the run timeout
        (``RunTimeout``), and, given the request's ``receive``, cancelled when the client
        leaves (``ClientDisconnect``). The runnable's own exceptions propagate."""
        watch = self._take_slot()
        try:
            result = await run_until_disconnect(receive, start(), self.limits.run_timeout)
        except BaseException as exc:
            watch.ended(exc)
            raise
        finally:
            self._slots.release()
        watch.ended(None)
        return result

    def _take_slot(self) -> RunWatch:
        """A slot for a run (a 503 ``RequestError`` when none is free), and its watch."""
        observer, endpoint = current_observer(), run_endpoint.get()
        try:
            self._slots.acquire()
        except RequestError:
            observer.refused(self._observed_as, endpoint)
            raise
        return observer.run(self._observed_as, endpoint)

    async def _run(
        self, request: Request, start: Callable[[], Coroutine[Any, Any, Any]]
    ) -> tuple[Any, Response | None]:
        """Run under the route's limits: the result, or the response saying why not."""
        try:
            return await self.run(start, request.receive), None
        except RequestError:
            raise
        except ClientDisconnect:
            return None, Response(status_code=_CLIENT_GONE)
        except Exception as exc:
            return None, failure_response(request, exc)

    async def open_stream(
        self,
        request: Request,
        frames: AsyncIterator[bytes],
        *,
        maxsize: int | None = QUEUE_SIZE,
        error_frame: Callable[[BaseException], bytes] | None = None,
    ) -> FrameQueue:
        """Start producing ``frames`` under the route's limits, and wait (up to
        ``Limits.header_wait``) for the first. Raises the run's error if it failed
        before producing anything, ``ClientDisconnect`` if the client left.
        ``error_frame`` writes a failure once the stream has begun (LangServe's
        ``error`` event by default)."""
        watch = self._take_slot()

        def over() -> None:
            self._slots.release()
            watch.ended(queue.stopped_by)

        queue = FrameQueue(
            frames,
            timeout=self.limits.run_timeout,
            on_done=over,
            maxsize=maxsize,
            error_frame=error_frame,
        )
        done = await queue.first(request.receive, self.limits.header_wait)
        if done is not None and done.error is not None:
            await queue.close()
            raise done.error
        watch.streaming()
        return queue

    def stream_response(self, queue: FrameQueue) -> EventStreamResponse:
        """The ``text/event-stream`` response writing an opened stream."""
        return EventStreamResponse(queue, keepalive=self.limits.keepalive_interval)

    async def _event_stream(
        self, request: Request, frames: AsyncIterator[bytes], maxsize: int | None = QUEUE_SIZE
    ) -> Response:
        try:
            queue = await self.open_stream(request, frames, maxsize=maxsize)
        except RequestError:
            raise
        except ClientDisconnect:
            return Response(status_code=_CLIENT_GONE)
        except Exception as exc:
            return failure_response(request, exc)
        return self.stream_response(queue)

    def _schema_config(
        self, config_hash: str, server_config: RunnableConfig | None
    ) -> dict[str, Any]:
        config = self._config.from_hash(config_hash)
        if server_config:
            config = dict(merge_configs(config, server_config))  # type: ignore[arg-type]
        return config

    @staticmethod
    def _schema_response(schema: dict[str, Any]) -> Response:
        return JSONBytesResponse(orjson.dumps(schema))
