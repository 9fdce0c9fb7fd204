"""/metrics over real HTTP, read with prometheus-client's parser: requests by route and
status, runs by outcome (503 and 504 from the limits, a cancelled stream, a failure),
runs in flight and open streams, each count exactly the requests made."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from scrape import Samples, labels, scrape
from servers import raw_post, read_until, serve
from sse import parse_events

from chainserve import Limits, add_routes
from chainserve.demo import LocalChatModel
from chainserve.ops import add_operations

gate = threading.Event()  # holds the runs of /held and /quick until the test opens it


async def _held(x: Any) -> Any:
    while not gate.is_set():
        await asyncio.sleep(0.005)
    return x


async def _first_then_held(x: Any):  # unannotated: no schema for AsyncIterator
    yield 1
    await _held(x)
    yield 2


async def _boom(x: Any) -> Any:
    raise ValueError("no")


def make_app() -> FastAPI:
    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    add_routes(app, RunnableLambda(_boom), path="/boom")
    add_routes(app, RunnableLambda(_held), path="/quick", limits=Limits(run_timeout=0.2))
    one = Limits(max_concurrent_runs=1)
    add_routes(app, RunnableLambda(_first_then_held), path="/held", limits=one)
    add_operations(app)
    return app


def _wait_for(url: str, name: str, key: tuple[tuple[str, str], ...]) -> Samples:
    """Scrape until sample ``name`` has ``key``: the server notices a hang-up by itself."""
    deadline = time.monotonic() + 10  # a bound on waiting, not a speed check
    while key not in (samples := scrape(url)).get(name, {}):
        assert time.monotonic() < deadline, f"{name}{dict(key)} never came"
        time.sleep(0.02)
    return samples


def test_metrics_count_the_requests_and_runs_made() -> None:
    gate.clear()
    with serve(make_app(), lifespan=True) as url:
        for value in (1, 2, 3):
            assert httpx.post(f"{url}/echo/invoke", json={"input": value}).status_code == 200
        streamed = httpx.post(f"{url}/echo/stream", json={"input": 4})
        assert [event for event, _ in parse_events(streamed.text)] == ["metadata", "data", "end"]
        assert httpx.post(f"{url}/boom/invoke", json={"input": 1}).status_code == 500
        assert httpx.post(f"{url}/quick/invoke", json={"input": 1}).status_code == 504
        assert httpx.get(f"{url}/health").status_code == 200  # excluded: not counted
        with raw_post(url, "/held/stream", {"input": 1}) as sock:
            read_until(sock, b"event: data")
            during = scrape(url)
            held_stream = labels(endpoint="stream", route="/held")
            assert during["chainserve_runs_in_flight"][held_stream] == 1
            assert during["chainserve_streams_open"][held_stream] == 1
            refused = httpx.post(f"{url}/held/invoke", json={"input": 1})
            assert refused.status_code == 503
        cancelled = labels(endpoint="stream", outcome="cancelled", route="/held")
        _wait_for(url, "chainserve_runs_total", cancelled)
        held = labels(method="POST", route="/held/stream", status="200")
        samples = _wait_for(url, "chainserve_http_requests_total", held)
    gate.set()

    requests = {
        ("/echo/invoke", "200"): 3,
        ("/echo/stream", "200"): 1,
        ("/boom/invoke", "500"): 1,
        ("/quick/invoke", "504"): 1,
        ("/held/stream", "200"): 1,
        ("/held/invoke", "503"): 1,
    }
    assert samples["chainserve_http_requests_total"] == {
        labels(method="POST", route=route, status=status): count
        for (route, status), count in requests.items()
    }
    by_route: dict[str, float] = {}
    for (route, _), count in requests.items():
        by_route[route] = by_route.get(route, 0) + count
    assert samples["chainserve_http_request_duration_seconds_count"] == {
        labels(method="POST", route=route): count for route, count in by_route.items()
    }
    runs = {
        ("/echo", "invoke", "success"): 3,
        ("/echo", "stream", "success"): 1,
        ("/boom", "invoke", "error"): 1,
        ("/quick", "invoke", "timeout"): 1,
        ("/held", "invoke", "refused"): 1,
        ("/held", "stream", "cancelled"): 1,
    }
    assert samples["chainserve_runs_total"] == {
        labels(route=route, endpoint=endpoint, outcome=outcome): count
        for (route, endpoint, outcome), count in runs.items()
    }
    assert samples["chainserve_run_errors_total"] == {
        labels(route="/boom", endpoint="invoke", type="ValueError"): 1
    }
    started = {(route, endpoint) for route, endpoint, outcome in runs if outcome != "refused"}
    assert samples["chainserve_runs_in_flight"] == {
        labels(route=route, endpoint=endpoint): 0 for route, endpoint in started
    }
    assert samples["chainserve_streams_open"] == {
        labels(route="/echo", endpoint="stream"): 0,
        labels(route="/held", endpoint="stream"): 0,
    }


def test_midway_failures_and_openai_runs_are_counted_and_openmetrics_is_served() -> None:
    async def fails_midway(x: Any) -> AsyncIterator[int]:
        yield 1
        raise KeyError("gone")

    app = FastAPI()
    add_routes(app, RunnableLambda(fails_midway), path="/midway")
    add_routes(app, LocalChatModel(), path="/chat", openai=True)
    add_operations(app)
    with serve(app, lifespan=True) as url:
        body = httpx.post(f"{url}/midway/stream", json={"input": 1}).text
        assert [event for event, _ in parse_events(body)] == ["metadata", "data", "error"]
        chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
        for stream in (False, True):
            completed = httpx.post(f"{url}/v1/chat/completions", json={**chat, "stream": stream})
            assert completed.status_code == 200
        samples = scrape(url)
        answer = httpx.get(f"{url}/metrics", headers={"accept": "application/openmetrics-text"})
    assert samples["chainserve_run_errors_total"] == {
        labels(route="/midway", endpoint="stream", type="KeyError"): 1
    }
    assert samples["chainserve_runs_total"] == {
        labels(route="/midway", endpoint="stream", outcome="error"): 1,
        labels(route="/chat", endpoint="openai", outcome="success"): 2,
    }
    assert samples["chainserve_streams_open"] == {
        labels(route="/midway", endpoint="stream"): 0,
        labels(route="/chat", endpoint="openai"): 0,
    }
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    families = {family.name: family for family in openmetrics_families(answer.text)}
    errors = families["chainserve_run_errors"].samples
    assert [(s.labels, s.value) for s in errors if s.name == "chainserve_run_errors_total"] == [
        ({"route": "/midway", "endpoint": "stream", "type": "KeyError"}, 1)
    ]
