"""OpenTelemetry traces, received by an OTLP/HTTP receiver on loopback: a span per
request in the caller's trace (``traceparent``), a span per run with its LangChain run
id; and the OTEL_* settings that cannot be served, refused at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from otlp import Receiver
from servers import serve
from sse import parse_events

from chainserve import add_routes
from chainserve.ops import add_operations

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER, ERROR = 2, 2  # OTLP's SPAN_KIND_SERVER, STATUS_CODE_ERROR


async def _boom(x: Any) -> Any:
    raise ValueError("no")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Any:
    with Receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        yield receiver


def test_spans_of_requests_and_runs_reach_the_otlp_receiver(receiver: Receiver) -> None:
    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    add_routes(app, RunnableLambda(_boom), path="/boom")
    add_operations(app)  # tracing: OTEL_EXPORTER_OTLP_ENDPOINT is set
    traceparent = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
    with serve(app, lifespan=True) as url:
        invoked = httpx.post(
            f"{url}/echo/invoke", json={"input": 1}, headers={"traceparent": traceparent}
        )
        streamed = httpx.post(f"{url}/echo/stream", json={"input": 2})
        assert httpx.post(f"{url}/boom/invoke", json={"input": 1}).status_code == 500
        assert httpx.get(f"{url}/health").status_code == 200  # excluded: no span
    # The server has stopped: its lifespan's shutdown exported every span.
    [request] = receiver.named("POST /echo/invoke")
    assert (request.trace_id, request.parent_span_id) == (TRACE_ID, CALLER_SPAN)
    assert request.kind == SERVER
    assert request.service == "chainserve"
    assert request.attributes == {
        "http.request.method": "POST",
        "url.path": "/echo/invoke",
        "http.route": "/echo/invoke",
        "http.response.status_code": 200,
    }
    run_id = invoked.json()["metadata"]["run_id"]
    runs = {span.attributes["langchain.run_id"]: span for span in receiver.named("run /echo")}
    run = runs[run_id]
    assert (run.trace_id, run.parent_span_id) == (TRACE_ID, request.span_id)
    assert run.attributes == {
        "langchain.run_id": run_id,
        "langchain.run_name": "/echo",
        "langchain.run_type": "chain",
    }
    # A request without a traceparent starts a trace of its own.
    [stream] = receiver.named("POST /echo/stream")
    assert stream.trace_id != TRACE_ID and stream.parent_span_id == ""
    stream_run_id = parse_events(streamed.text)[0][1]["run_id"]
    assert runs[stream_run_id].parent_span_id == stream.span_id
    assert set(runs) == {run_id, stream_run_id}
    [failed] = receiver.named("POST /boom/invoke")
    assert failed.status_code == ERROR
    assert failed.attributes["http.response.status_code"] == 500
    [failed_run] = receiver.named("run /boom")
    assert (failed_run.status_code, failed_run.events) == (ERROR, ["exception"])
    assert failed_run.parent_span_id == failed.span_id
    assert not receiver.named("GET /health")
    assert len(receiver.spans) == 6  # three requests, three runs


def test_no_otel_variables_no_tracing(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")  # the endpoint stays set
    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    add_operations(app)
    with serve(app, lifespan=True) as url:
        assert httpx.post(f"{url}/echo/invoke", json={"input": 1}).status_code == 200
    assert receiver.spans == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin", "exports traces by 'otlp' only"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "sends traces as 'http/protobuf'"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318", "is not an http:// or https:// URL"),
    ],
)
def test_otel_settings_that_cannot_be_served_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message) as raised:
        add_operations(FastAPI())
    assert str(raised.value).startswith(f"{variable}={value!r}")
