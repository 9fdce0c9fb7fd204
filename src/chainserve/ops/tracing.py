"""OpenTelemetry traces: a span per request, and a span per LangChain run inside it.

The spans go by OTLP over HTTP (protobuf), batched, as the standard ``OTEL_*``
variables configure the SDK (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_SCHEDULE_DELAY``, ...). A request carrying a W3C
``traceparent`` gets its span in the caller's trace. Each app has a tracer provider of
its own rather than the global one (which is set once per process); spans the app's own
code makes through a global provider still join the request's trace, its context.
"""

from __future__ import annotations

import asyncio
import functools
import os
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from chainserve._version import __version__

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError(
        'tracing needs the OpenTelemetry SDK and its OTLP exporter: pip install "chainserve[ops]"'
    ) from exc

if TYPE_CHECKING:
    from chainserve.ops.middleware import Exchange

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
# The run spans of the request being served: LangChain adds it to every run's callbacks.
_run_spans: ContextVar[RunSpans | None] = ContextVar("chainserve_run_spans", default=None)


class Tracing:
    """An app's tracer, exporting its spans as the ``OTEL_*`` variables say."""

    def __init__(self) -> None:
        exporter = _exporter()
        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "chainserve"}))
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("chainserve", __version__)
        self.runs = RunSpans(self.tracer)
        _hook_runs()

    def start(self, exchange: Exchange) -> RequestSpan:
        """The span of ``exchange``, current from now until ``RequestSpan.end``."""
        return RequestSpan(self, exchange)

    async def flush(self) -> None:
        """Export the spans still batched (at shutdown)."""
        await asyncio.to_thread(self.provider.force_flush)


class RequestSpan:
    """A request's span, child of the incoming ``traceparent``'s, if any."""

    __slots__ = ("_attached", "_runs", "_span")

    def __init__(self, tracing: Tracing, exchange: Exchange) -> None:
        carrier = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in exchange.headers
        }
        parent = propagate.extract(carrier)
        self._span = tracing.tracer.start_span(
            exchange.method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": exchange.method, "url.path": exchange.path},
        )
        self._attached = context.attach(trace.set_span_in_context(self._span, parent))
        self._runs = _run_spans.set(tracing.runs)

    def end(self, exchange: Exchange, error: BaseException | None) -> None:
        _run_spans.reset(self._runs)
        context.detach(self._attached)
        span = self._span
        if exchange.route is not None:
            span.update_name(f"{exchange.method} {exchange.route}")
            span.set_attribute("http.route", exchange.route)
        span.set_attribute("http.response.status_code", exchange.status)
        if error is not None:
            span.record_exception(error)
        if exchange.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()


class RunSpans(BaseCallbackHandler):
    """A span per top-level LangChain run, child of the span current when it starts
    (its request's). Its inner runs get none: LangSmith traces those."""

    run_inline = True  # called in the run's own context, where its request's span is current

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._spans: dict[UUID, trace.Span] = {}

    def _start(self, kind: str, run_id: UUID, parent_run_id: UUID | None, name: Any) -> None:
        if parent_run_id is not None:
            return
        name = str(name or kind)
        attributes = {"langchain.run_id": str(run_id), "langchain.run_name": name}
        attributes["langchain.run_type"] = kind
        self._spans[run_id] = self._tracer.start_span(f"run {name}", attributes=attributes)

    def _end(self, run_id: UUID, error: BaseException | None = None) -> None:
        span = self._spans.pop(run_id, None)
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self._start("chain", kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("name"))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self._start("chat_model", kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("name"))

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        self._start("llm", kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("name"))

    def on_retriever_start(self, serialized: Any, query: Any, **kwargs: Any) -> None:
        self._start("retriever", kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("name"))

    def on_tool_start(self, serialized: Any, input_str: Any, **kwargs: Any) -> None:
        self._start("tool", kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("name"))

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self._end(kwargs["run_id"])

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self._end(kwargs["run_id"])

    def on_retriever_end(self, documents: Any, **kwargs: Any) -> None:
        self._end(kwargs["run_id"])

    def on_tool_end(self, output: Any, **kwargs: Any) -> None:
        self._end(kwargs["run_id"])

    def on_chain_error(self, error: BaseException, **kwargs: Any) -> None:
        self._end(kwargs["run_id"], error)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self._end(kwargs["run_id"], error)

    def on_retriever_error(self, error: BaseException, **kwargs: Any) -> None:
        self._end(kwargs["run_id"], error)

    def on_tool_error(self, error: BaseException, **kwargs: Any) -> None:
        self._end(kwargs["run_id"], error)


@functools.cache
def _hook_runs() -> None:
    """Have LangChain add the current request's ``RunSpans`` to every run (once per
    process: LangChain keeps its hooks for good)."""
    from langchain_core.tracers.context import register_configure_hook

    register_configure_hook(_run_spans, inheritable=True)


def _exporter() -> OTLPSpanExporter:
    """The OTLP/HTTP exporter the variables configure; a ValueError for what it cannot do."""
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    if exporters != "otlp":
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={exporters!r}: chainserve exports traces by 'otlp' only "
            "(or 'none' for no traces)"
        )
    named = [name for name in _PROTOCOLS if os.environ.get(name, "").strip()]
    if named and (protocol := os.environ[named[0]].strip()) != "http/protobuf":
        raise ValueError(f"{named[0]}={protocol!r}: chainserve sends traces as 'http/protobuf'")
    for name in _ENDPOINTS:
        endpoint = os.environ.get(name, "").strip()
        if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
            raise ValueError(f"{name}={endpoint!r} is not an http:// or https:// URL")
    return OTLPSpanExporter()
