"""``RemoteRunnable``: a LangChain runnable executed by a chainserve/LangServe server."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ssl
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Literal

import httpx
from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.callbacks.manager import BaseRunManager
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
)
from langchain_core.runnables.schema import StreamEvent
from langchain_core.runnables.utils import AddableDict, Input, Output
from langchain_core.tracers.log_stream import RunLog, RunLogPatch

from chainserve._protocol import LOG_FILTERS
from chainserve.exceptions import UnexpectedResponseError
from chainserve.serialization import Serializer, WellKnownLCSerializer, dumps

from ._callbacks import CallbackReplayer, decode_callback_events, log_once, replay_handlers
from ._http import (
    AsyncEvents,
    Events,
    aopen_event_stream,
    asend,
    decode_json,
    error_from_event,
    incomplete_stream,
    open_event_stream,
    send,
)
from ._sse import ServerSentEvent

__all__ = ["DEFAULT_TIMEOUT", "RemoteRunnable"]

# Chains calling LLMs legitimately run for minutes, so only connecting is bounded.
DEFAULT_TIMEOUT = httpx.Timeout(None, connect=10.0)
DEFAULT_MAX_RETRIES = 2

_JSON_SCALARS = (str, int, float, bool, type(None))
# Consumed by the local run (run_id, run_name) or local-only (callbacks).
_LOCAL_CONFIG_KEYS = ("callbacks", "run_id", "run_name")


def _json_safe(value: Any) -> Any:
    """``value`` without anything JSON cannot carry (dropped silently, §14.2)."""
    if isinstance(value, dict):
        return {
            k: _json_safe(v) for k, v in value.items() if isinstance(k, str) and _is_json_safe(v)
        }
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value if _is_json_safe(v)]
    return value


def _is_json_safe(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple, *_JSON_SCALARS))


def config_for_server(config: RunnableConfig | None) -> dict[str, Any]:
    """The part of a LangChain config that is sent to the server (§14.2)."""
    items = (config or {}).items()
    cleaned = {k: v for k, v in items if k not in _LOCAL_CONFIG_KEYS}
    # Local plumbing (e.g. langgraph, message history) puts objects in here.
    return _json_safe(cleaned)


def _reject_kwargs(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise NotImplementedError(
            f"RemoteRunnable does not forward keyword arguments: {sorted(kwargs)}"
        )


def _filters(*values: Sequence[str] | None) -> dict[str, list[str] | None]:
    return {
        name: None if value is None else list(value)
        for name, value in zip(LOG_FILTERS, values, strict=True)
    }


def _final_event_output(event: Any) -> tuple[bool, Any]:
    """Whether ``event`` ends the root run, and its output."""
    is_root_end = (
        isinstance(event, dict)
        and str(event.get("event", "")).endswith("_end")
        and not event.get("parent_ids")
    )
    data = event.get("data") if is_root_end else None
    return is_root_end, data.get("output") if isinstance(data, dict) else None


class RemoteRunnable(Runnable[Input, Output]):
    """A runnable served over HTTP by chainserve or LangServe.

    It is invoked, batched, streamed and composed exactly like a local runnable::

        joke = RemoteRunnable("http://localhost:8000/joke")
        joke.invoke({"topic": "cats"})
        chain = RunnableLambda(prepare) | joke | StrOutputParser()

    Args:
        url: The runnable's base URL (the ``path`` it was mounted at, optionally with
            a ``/c/<config hash>`` suffix).
        timeout: httpx timeout. The default bounds only connecting (10 s): reads
            wait as long as the chain runs. ``None`` disables every timeout.
        auth, headers, cookies, verify, cert: passed to both httpx clients.
        max_retries: how often to retry a request whose connection could not be
            opened (nothing reached the server, so retrying is always safe).
        client_kwargs: more keyword arguments for both httpx clients.
        use_server_callback_events: replay the server's callback events into the
            local callback handlers (needs ``include_callback_events=True`` on the
            server).
        serializer: must match the server's ``serializer``.

    Sync methods use ``sync_client`` and async methods ``async_client``; both are
    public and may be replaced by any client with httpx's ``post``/``stream`` API: an
    httpx or httpx2 client (e.g. with an ``ASGITransport``) or Starlette's
    ``TestClient(app)``. Requests use absolute URLs built from ``url``, so a
    replacement needs no ``base_url``.

    ``close()`` releases the sync client, ``aclose()`` both. When the RemoteRunnable
    is garbage collected, the two clients it created are closed; replacements are
    not: they belong to whoever made them (as in LangServe).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        client_kwargs: dict[str, Any] | None = None,
        use_server_callback_events: bool = True,
        serializer: Serializer | None = None,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        options: dict[str, Any] = {
            "base_url": self.url,
            "timeout": timeout,
            "auth": auth,
            "headers": headers,
            "cookies": cookies,
            "verify": verify,
            "cert": cert,
            **(client_kwargs or {}),
        }
        self.sync_client = httpx.Client(**_for_client(options, httpx.BaseTransport))
        self.async_client = httpx.AsyncClient(**_for_client(options, httpx.AsyncBaseTransport))
        self.max_retries = max_retries
        self.use_server_callback_events = use_server_callback_events
        self.serializer = serializer or WellKnownLCSerializer()
        finalizer = weakref.finalize(self, _close_clients, self.sync_client, self.async_client)
        finalizer.atexit = False  # the OS closes the sockets; closing then only makes noise

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client's connections."""
        self.sync_client.close()

    async def aclose(self) -> None:
        """Close both clients' connections."""
        self.sync_client.close()
        await self.async_client.aclose()

    def __enter__(self) -> RemoteRunnable[Input, Output]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> RemoteRunnable[Input, Output]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RemoteRunnable(url={self.url!r})"

    # -- requests -------------------------------------------------------------------

    # Absolute ``str`` URLs, so that a replacement client (httpx2's, too) needs no
    # ``base_url``.

    def _post(self, endpoint: str, body: dict[str, Any]) -> httpx.Response:
        url, content = self.url + endpoint, dumps(body)
        return send(self.sync_client, url, content, max_retries=self.max_retries)

    async def _apost(self, endpoint: str, body: dict[str, Any]) -> httpx.Response:
        url, content = self.url + endpoint, dumps(body)
        return await asend(self.async_client, url, content, max_retries=self.max_retries)

    def _events(self, endpoint: str, body: dict[str, Any]) -> AbstractContextManager[Events]:
        url, content = self.url + endpoint, dumps(body)
        return open_event_stream(self.sync_client, url, content, max_retries=self.max_retries)

    def _aevents(
        self, endpoint: str, body: dict[str, Any]
    ) -> AbstractAsyncContextManager[AsyncEvents]:
        url, content = self.url + endpoint, dumps(body)
        return aopen_event_stream(self.async_client, url, content, max_retries=self.max_retries)

    def _run_body(self, input: Any, config: RunnableConfig | None, **extra: Any) -> dict[str, Any]:
        return {
            "input": self.serializer.dumpd(input),
            "config": config_for_server(config),
            "kwargs": {},
            **extra,
        }

    def _batch_body(self, inputs: list[Any], configs: list[RunnableConfig]) -> dict[str, Any]:
        return {
            "inputs": self.serializer.dumpd(inputs),
            "config": [config_for_server(c) for c in configs],
            "kwargs": {},
        }

    def _decode_invoke(self, response: httpx.Response) -> tuple[Any, list[dict[str, Any]]]:
        payload = decode_json(response)
        events = payload.get("callback_events") if self.use_server_callback_events else None
        decoded = decode_callback_events(events, self.serializer) if events else []
        return self.serializer.loadd(payload["output"]), decoded

    def _decode_batch(
        self, response: httpx.Response, size: int
    ) -> tuple[list[Any], list[list[dict[str, Any]]]]:
        payload = decode_json(response)
        outputs = payload["output"]
        if not isinstance(outputs, list) or len(outputs) != size:
            raise UnexpectedResponseError(
                f"Expected {size} outputs from {response.request.url}, got {outputs!r}"
            )
        events = payload.get("callback_events") or []
        if not (self.use_server_callback_events and isinstance(events, list)):
            events = []
        decoded = [decode_callback_events(item, self.serializer) for item in events]
        return self.serializer.loadd(outputs), decoded

    # -- invoke ---------------------------------------------------------------------

    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        _reject_kwargs(kwargs)
        return self._call_with_config(self._invoke, input, config)

    def _invoke(
        self,
        input: Input,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Output:
        response = self._post("invoke", self._run_body(input, config))
        output, events = self._decode_invoke(response)
        CallbackReplayer(run_manager).replay(events)
        return output

    async def ainvoke(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Output:
        _reject_kwargs(kwargs)
        return await self._acall_with_config(self._ainvoke, input, config)

    async def _ainvoke(
        self,
        input: Input,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Output:
        response = await self._apost("invoke", self._run_body(input, config))
        output, events = self._decode_invoke(response)
        await CallbackReplayer(run_manager).areplay(events)
        return output

    # -- batch ----------------------------------------------------------------------

    def batch(
        self,
        inputs: list[Input],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """Run all inputs in one ``/batch`` request.

        The wire has no per-item errors (one failing input fails the whole request),
        so ``return_exceptions=True`` sends one ``/invoke`` request per input instead.
        """
        _reject_kwargs(kwargs)
        if return_exceptions:
            return super().batch(inputs, config, return_exceptions=True)
        return self._batch_with_config(self._batch, inputs, config)

    def _batch(
        self,
        inputs: list[Input],
        run_manager: list[CallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[Exception | Output]:
        response = self._post("batch", self._batch_body(inputs, config))
        outputs, events = self._decode_batch(response, len(inputs))
        for manager, item_events in zip(run_manager, events, strict=False):
            CallbackReplayer(manager).replay(item_events)
        return outputs

    async def abatch(
        self,
        inputs: list[Input],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """Async twin of ``batch``."""
        _reject_kwargs(kwargs)
        if return_exceptions:
            return await super().abatch(inputs, config, return_exceptions=True)
        return await self._abatch_with_config(self._abatch, inputs, config)

    async def _abatch(
        self,
        inputs: list[Input],
        run_manager: list[AsyncCallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[Exception | Output]:
        response = await self._apost("batch", self._batch_body(inputs, config))
        outputs, events = self._decode_batch(response, len(inputs))
        for manager, item_events in zip(run_manager, events, strict=False):
            await CallbackReplayer(manager).areplay(item_events)
        return outputs

    # -- stream ---------------------------------------------------------------------

    def _stream_body(
        self, input: Any, config: RunnableConfig, run_manager: BaseRunManager, kwargs: dict
    ) -> dict[str, Any]:
        body = self._run_body(input, config, kwargs=kwargs)
        # Protocol extension: chainserve streams callback events when asked;
        # LangServe ignores the unknown key.
        if self.use_server_callback_events and replay_handlers(run_manager):
            body["stream_callback_events"] = True
        return body

    def _interpret(self, sse: ServerSentEvent, request: httpx.Request) -> Any:
        """The decoded payload of a ``data`` or ``callback_events`` event, else None.

        Raises on ``error`` events; ``end`` is handled by the caller.
        """
        if sse.event == "data":
            return self.serializer.loads(sse.data)
        if sse.event == "callback_events":
            return decode_callback_events(self.serializer.loads(sse.data), self.serializer)
        if sse.event == "error":
            raise error_from_event(sse.data, request)
        if sse.event != "metadata":
            log_once(f"Ignoring unsupported server-sent event type {sse.event!r}")
        return None

    def stream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        yield from self._transform_stream_with_config(iter([input]), self._stream, config, **kwargs)

    def _stream(
        self,
        inputs: Iterator[Input],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Output]:
        body = self._stream_body(next(inputs), config, run_manager, kwargs)
        replayer = CallbackReplayer(run_manager)
        with self._events("stream", body) as (request, events):
            for sse in events:
                if sse.event == "end":
                    return
                value = self._interpret(sse, request)
                if sse.event == "data":
                    yield _addable(value)
                elif sse.event == "callback_events":
                    replayer.replay(value)
        raise incomplete_stream(request)

    async def astream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        async def single() -> AsyncIterator[Input]:
            yield input

        async for chunk in self._atransform_stream_with_config(
            single(), self._astream, config, **kwargs
        ):
            yield chunk

    async def _astream(
        self,
        inputs: AsyncIterator[Input],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Output]:
        body = self._stream_body(await anext(inputs), config, run_manager, kwargs)
        replayer = CallbackReplayer(run_manager)
        async with self._aevents("stream", body) as (request, events):
            async for sse in events:
                if sse.event == "end":
                    return
                value = self._interpret(sse, request)
                if sse.event == "data":
                    yield _addable(value)
                elif sse.event == "callback_events":
                    await replayer.areplay(value)
        raise incomplete_stream(request)

    async def _aiter_data(self, endpoint: str, body: dict[str, Any]) -> AsyncIterator[Any]:
        """Decoded ``data`` payloads of a stream_log / stream_events request."""
        async with self._aevents(endpoint, body) as (request, events):
            async for sse in events:
                if sse.event == "end":
                    return
                if sse.event == "callback_events":
                    continue  # not requested on these endpoints
                value = self._interpret(sse, request)
                if sse.event == "data":
                    yield value
        raise incomplete_stream(request)

    async def _start_run(
        self, input: Any, config: RunnableConfig | None
    ) -> tuple[AsyncCallbackManagerForChainRun, RunnableConfig]:
        config = ensure_config(config)
        manager = get_async_callback_manager_for_config(config)
        run_manager = await manager.on_chain_start(
            None,
            input,
            name=config.get("run_name") or self.get_name(),
            run_id=config.pop("run_id", None),
        )
        return run_manager, config

    # -- stream_log -----------------------------------------------------------------

    async def astream_log(  # type: ignore[override]
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        diff: bool = True,
        with_streamed_output_list: bool = True,
        include_names: Sequence[str] | None = None,
        include_types: Sequence[str] | None = None,
        include_tags: Sequence[str] | None = None,
        exclude_names: Sequence[str] | None = None,
        exclude_types: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[RunLogPatch] | AsyncIterator[RunLog]:
        """Stream the server's run log.

        Yields ``RunLogPatch`` objects (``diff=True``) or the accumulated ``RunLog``
        (``diff=False``). The server always streams diffs; the client sums them.
        """
        filters = _filters(
            include_names, include_types, include_tags,
            exclude_names, exclude_types, exclude_tags,
        )  # fmt: skip
        run_manager, config = await self._start_run(input, config)
        body = self._run_body(input, config, kwargs=kwargs, diff=True, **filters)
        log = RunLog(state=None)  # type: ignore[arg-type]
        try:
            async for payload in self._aiter_data("stream_log", body):
                ops = _ops(payload)
                # jsonpatch mutates values in place: yield an independent copy.
                log = log + RunLogPatch(*ops)
                yield RunLogPatch(*copy.deepcopy(ops)) if diff else log
        except BaseException as exc:
            await run_manager.on_chain_error(exc)
            raise
        state = log.state if isinstance(log.state, dict) else {}
        await run_manager.on_chain_end(state.get("final_output"))

    # -- stream_events --------------------------------------------------------------

    def astream_events(  # type: ignore[override]
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        version: Literal["v1", "v2", "v3"] = "v2",
        include_names: Sequence[str] | None = None,
        include_types: Sequence[str] | None = None,
        include_tags: Sequence[str] | None = None,
        exclude_names: Sequence[str] | None = None,
        exclude_types: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Stream the server's events, with LangChain objects decoded.

        The server picks the event format (``astream_events_version``, v2 by
        default); ``version`` cannot change it.
        """
        if version == "v3":
            raise NotImplementedError("RemoteRunnable does not support events v3")
        if version != "v2":
            log_once(f"astream_events version {version!r} ignored: the server decides")
        filters = _filters(
            include_names, include_types, include_tags,
            exclude_names, exclude_types, exclude_tags,
        )  # fmt: skip
        return self._astream_events(input, config, filters, kwargs)

    async def _astream_events(
        self,
        input: Any,
        config: RunnableConfig | None,
        filters: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> AsyncIterator[StreamEvent]:
        run_manager, config = await self._start_run(input, config)
        body = self._run_body(input, config, kwargs=kwargs, **filters)
        output = None
        try:
            async for event in self._aiter_data("stream_events", body):
                yield event
                is_end, value = _final_event_output(event)
                output = value if is_end else output
        except BaseException as exc:
            await run_manager.on_chain_error(exc)
            raise
        await run_manager.on_chain_end(output)


def _ops(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("ops"), list):
        raise UnexpectedResponseError(f"Expected a run log patch, got {payload!r:.200}")
    return payload["ops"]


def _addable(chunk: Any) -> Any:
    # Streamed dicts follow additive semantics, so chunks can be summed (as LangServe).
    return AddableDict(chunk) if isinstance(chunk, dict) else chunk


def _for_client(options: dict[str, Any], transport_type: type) -> dict[str, Any]:
    """The options for one of the two clients: a ``transport`` in ``client_kwargs``
    goes only to the client it fits (e.g. ``httpx.ASGITransport`` to the async one)."""
    transport = options.get("transport")
    if transport is None or isinstance(transport, transport_type):
        return options
    return {key: value for key, value in options.items() if key != "transport"}


# Tasks closing async clients of collected RemoteRunnables: a loop keeps only weak
# references to its tasks, and a task collected while pending is never finished.
_CLOSING: set[asyncio.Task[None]] = set()


def _close_clients(sync_client: httpx.Client, async_client: httpx.AsyncClient) -> None:
    """A RemoteRunnable's finalizer: close the clients it created (a function, not a
    method, as a finalizer holding ``self`` would keep the RemoteRunnable alive)."""
    sync_client.close()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _run_on_private_loop(async_client.aclose)
        return
    # Collected in async code, which must not block: close on the running loop.
    task = loop.create_task(_quietly(async_client.aclose()))
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


def _run_on_private_loop(aclose: Callable[[], Awaitable[None]]) -> None:
    # Not asyncio.run: it would replace and then unset this thread's event loop.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_quietly(aclose()))
    finally:
        loop.close()


async def _quietly(closing: Awaitable[None]) -> None:
    """Await ``closing``, ignoring failures, which a finalizer has nobody to report to.

    Notably, closing connections opened on an event loop that is closed since fails
    ("Event loop is closed"): asyncio closes their sockets when it collects them.
    """
    with contextlib.suppress(Exception):
        await closing
