"""Limits: concurrent runs (503 + Retry-After), run timeouts (504), batch size, depth."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from servers import raw_post, read_until, serve
from sse import parse_events

from chainserve import Limits, add_routes


class Gate:
    """Holds runs until the test opens it; counts the runs that were cancelled.

    Thread-safe, since over uvicorn the server's event loop runs in another thread.
    """

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started = 0
        self.cancelled = 0

    async def wait(self) -> None:
        self.started += 1
        try:
            while not self.opened.is_set():
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


gate = Gate()


async def _held(x: Any) -> Any:
    await gate.wait()
    return x


async def _held_after_first_chunk(x: Any):  # unannotated: no schema for AsyncIterator
    yield 1
    await gate.wait()
    yield 2


ran_out = threading.Event()  # a /one_log run has produced all its chunks


async def _many(spec: Any):  # unannotated: no schema for AsyncIterator
    for _ in range(spec["n"]):
        yield {"x": "x" * 10_000}  # a dict: LangChain keeps the last chunk, not their sum
    ran_out.set()


def make_app() -> FastAPI:
    app = FastAPI()
    one = Limits(max_concurrent_runs=1, retry_after=3)
    add_routes(app, RunnableLambda(_held), path="/one", limits=one)
    add_routes(app, RunnableLambda(_held_after_first_chunk), path="/one_stream", limits=one)
    add_routes(app, RunnableLambda(_many), path="/one_log", limits=one)
    quick = Limits(run_timeout=0.2)
    add_routes(app, RunnableLambda(_held), path="/quick", limits=quick)
    add_routes(app, RunnableLambda(_held_after_first_chunk), path="/quick_stream", limits=quick)
    small = Limits(max_batch_size=2, max_json_depth=3)
    add_routes(app, RunnableLambda(lambda x: x), path="/small", limits=small)
    return app


@pytest.fixture(autouse=True)
def fresh_gate() -> None:
    global gate
    gate = Gate()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(make_app()) as base:
        yield base


@pytest.fixture(params=["asgi", "uvicorn"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "asgi":
        transport = httpx.ASGITransport(app=make_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    else:
        async with httpx.AsyncClient(base_url=request.getfixturevalue("url"), timeout=20) as http:
            yield http


async def _until(condition: Any) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_excess_runs_get_503_with_retry_after(client: httpx.AsyncClient) -> None:
    first = asyncio.ensure_future(client.post("/one/invoke", json={"input": 1}))
    await _until(lambda: gate.started == 1)
    refused = await client.post("/one/invoke", json={"input": 2})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "3"
    assert "maximum of 1" in refused.json()["detail"]
    gate.opened.set()
    assert (await first).json()["output"] == 1
    # The slot is free again.
    assert (await client.post("/one/invoke", json={"input": 3})).json()["output"] == 3


async def test_a_stream_holds_its_slot_until_it_ends(url: str) -> None:
    # Over a socket only: httpx's ASGI transport buffers whole responses.
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:
        async with client.stream("POST", "/one_stream/stream", json={"input": 1}) as stream:
            assert stream.status_code == 200
            refused = await client.post("/one_stream/invoke", json={"input": 2})
            assert refused.status_code == 503
            gate.opened.set()
            body = (await stream.aread()).decode()
        assert [data for name, data in parse_events(body) if name == "data"] == [1, 2]
        ok = await client.post("/one_stream/invoke", json={"input": 3})
        assert ok.status_code == 200


def test_a_stream_log_nobody_reads_holds_its_slot_until_the_client_leaves(url: str) -> None:
    # langchain-core runs astream_log ahead of its reader: the run can be over long
    # before its frames are written. The slot is held until they are, or the client leaves.
    ran_out.clear()
    with raw_post(url, "/one_log/stream_log", {"input": {"n": 2_000}}) as sock:
        read_until(sock, b"event: data")
        assert ran_out.wait(20), "the run never finished"
        refused = httpx.post(f"{url}/one_log/invoke", json={"input": {"n": 1}}, timeout=20)
        assert refused.status_code == 503
    deadline = time.monotonic() + 20  # a bound on noticing the hang-up, not a speed check
    while (
        status := httpx.post(f"{url}/one_log/invoke", json={"input": {"n": 1}}, timeout=20)
    ).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status.status_code == 200


@pytest.mark.parametrize("endpoint", ["invoke", "batch"])
async def test_run_timeout_is_a_504_and_cancels(client: httpx.AsyncClient, endpoint: str) -> None:
    body = {"inputs": [1]} if endpoint == "batch" else {"input": 1}
    response = await client.post(f"/quick/{endpoint}", json=body)
    assert response.status_code == 504
    assert response.json()["type"] == "timeout"
    await _until(lambda: gate.cancelled >= 1)


@pytest.mark.parametrize("endpoint", ["stream", "stream_log", "stream_events"])
async def test_timeout_before_first_output_is_a_504(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    response = await client.post(f"/quick/{endpoint}", json={"input": 1})
    assert response.status_code == 504
    await _until(lambda: gate.cancelled >= 1)


async def test_timeout_mid_stream_is_an_error_event(client: httpx.AsyncClient) -> None:
    response = await client.post("/quick_stream/stream", json={"input": 1})
    assert response.status_code == 200
    events = parse_events(response.text)
    assert ("data", 1) in events
    assert events[-1] == ("error", {"status_code": 504, "message": "Gateway Timeout"})
    await _until(lambda: gate.cancelled >= 1)


async def test_batch_size_and_depth_limits(client: httpx.AsyncClient) -> None:
    too_many = await client.post("/small/batch", json={"inputs": [1, 2, 3]})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["inputs"]
    assert (await client.post("/small/batch", json={"inputs": [1, 2]})).status_code == 200
    too_deep = await client.post("/small/invoke", json={"input": [[[1]]]})  # 4 levels
    assert too_deep.status_code == 422
    assert (await client.post("/small/invoke", json={"input": [[1]]})).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_body_size": 0},
        {"max_batch_size": 0},
        {"max_json_depth": 0},
        {"max_concurrent_runs": 0},
        {"run_timeout": 0},
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Limits(**kwargs)
