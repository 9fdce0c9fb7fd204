"""Silent streams: headers after ``header_wait``, keep-alive comments while nothing comes.

Over a real loopback socket: httpx's ASGI transport buffers whole responses. Nothing
here measures time: the runs wait for the test (``Gates``) or for the server to have
written a keep-alive (``Wire``), so each check is about what came in which order.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from langserve import RemoteRunnable as LangServeRemoteRunnable
from servers import raw_post, read_until, serve
from sse import parse_events
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainserve import Limits, RemoteRunnable, add_routes
from chainserve.server.sse import KEEPALIVE_FRAME

WAIT = 15.0  # an upper bound for anything to happen, not a speed target
TINY = Limits(header_wait=0.2, keepalive_interval=0.1)
ENDPOINTS = ["stream", "stream_log", "stream_events"]

# The server's stream_log runs astream_log, deprecated in langchain-core; pytest's
# warning capture undoes chainserve's filter for it.
pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")


class Gates:
    """Holds a run at numbered points until the test opens them (thread-safe: the
    server's event loop runs in another thread); records whether the run was cancelled."""

    def __init__(self) -> None:
        self.opened = [threading.Event(), threading.Event()]
        self.cancelled = threading.Event()

    async def wait(self, index: int) -> None:
        deadline = time.monotonic() + WAIT  # a stuck test must not leave its run going
        try:
            while not self.opened[index].is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gate {index} was never opened")
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


gates = Gates()


class Wire:
    """ASGI middleware counting the keep-alive comments the server has written."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.keepalives = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and message["body"] == KEEPALIVE_FRAME:
                self.keepalives += 1

        await self.app(scope, receive, counting)

    async def next_keepalive(self) -> None:
        """Return once the server has written a keep-alive after this call."""
        seen = self.keepalives
        deadline = time.monotonic() + WAIT
        while self.keepalives == seen:
            if time.monotonic() > deadline:
                raise TimeoutError("no keep-alive comment was written")
            await asyncio.sleep(0.005)


async def _gated(_: Any):  # unannotated: no schema for AsyncIterator
    await gates.wait(0)  # silent past header_wait: the headers go out, then comments
    yield "a"
    await gates.wait(1)  # silent mid-stream (a long tool call): comments again
    yield "b"


async def _fails_late(_: Any) -> Any:
    await gates.wait(0)
    raise RuntimeError("boom")


async def _fails_at_once(_: Any) -> Any:
    raise RuntimeError("boom")


async def _sleepy(_: Any):  # silent for longer than TINY's header_wait, twice
    await asyncio.sleep(0.3)
    yield "a"
    await asyncio.sleep(0.3)
    yield "b"


async def _sleepy_fails(_: Any) -> Any:
    await asyncio.sleep(0.3)
    raise RuntimeError("boom")


def make_app() -> Wire:
    app = FastAPI()
    add_routes(app, RunnableLambda(_gated), path="/gated", limits=TINY)
    one = Limits(header_wait=0.2, keepalive_interval=0.1, max_concurrent_runs=1)
    add_routes(app, RunnableLambda(_gated), path="/gated_one", limits=one)
    add_routes(app, RunnableLambda(_fails_late), path="/fails_late", limits=TINY)
    # header_wait far above a run that fails at once, however loaded the machine is.
    patient = Limits(header_wait=WAIT, keepalive_interval=0.1)
    add_routes(app, RunnableLambda(_fails_at_once), path="/fails_at_once", limits=patient)
    timed = Limits(header_wait=0.2, keepalive_interval=0.1, run_timeout=1.0)
    add_routes(app, RunnableLambda(_gated), path="/times_out", limits=timed)
    off = Limits(header_wait=None, keepalive_interval=None)
    add_routes(app, RunnableLambda(_sleepy), path="/off", limits=off)
    add_routes(app, RunnableLambda(_sleepy_fails), path="/off_fails", limits=off)
    wire = Wire(app)

    async def _paced(_: Any):  # each chunk only once the stream has been idle
        for chunk in ("a", "b"):
            await wire.next_keepalive()
            yield chunk

    add_routes(app, RunnableLambda(_paced), path="/paced", limits=TINY)
    return wire


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Wire]]:
    wire = make_app()
    with serve(wire) as base:
        yield base, wire


@pytest.fixture
def url(server: tuple[str, Wire]) -> str:
    return server[0]


@pytest.fixture
def wire(server: tuple[str, Wire]) -> Wire:
    return server[1]


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    global gates
    gates = Gates()


def _outputs(endpoint: str, body: bytes) -> list[Any]:
    """The chunks a stream carried, whatever the endpoint's event format."""
    events = [data for name, data in parse_events(body.decode()) if name == "data"]
    if endpoint == "stream":
        return events
    if endpoint == "stream_events":
        return [e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream"]
    return [op["value"] for e in events for op in e["ops"] if op["path"] == "/streamed_output/-"]


def _read_until(chunks: Iterator[bytes], received: bytes, marker: bytes, after: int = 0) -> bytes:
    """Read on until ``marker`` is in what was received, past offset ``after``.

    A stalled stream raises httpx.ReadTimeout; one that only sends comments, this.
    """
    deadline = time.monotonic() + WAIT
    while received.find(marker, after) < 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} after {after}: {received[-300:]!r}")
        received += next(chunks)
    return received


# Headers and comments ----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_silent_run_gets_headers_and_comments_before_its_first_output(
    url: str, endpoint: str
) -> None:
    path = f"{url}/gated/{endpoint}"
    with httpx.stream("POST", path, json={"input": 1}, timeout=WAIT) as response:
        # The headers came while the run waits at its first gate, before any output.
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_raw()
        received = _read_until(chunks, b"", KEEPALIVE_FRAME)
        assert received.replace(KEEPALIVE_FRAME, b"") == b""  # nothing but comments
        gates.opened[0].set()
        received = _read_until(chunks, received, b"event: data")
        # Silent again mid-stream: a comment after the first output, before the next.
        received = _read_until(chunks, received, KEEPALIVE_FRAME, received.rfind(b"data:"))
        assert b'"b"' not in received
        gates.opened[1].set()
        received = _read_until(chunks, received, b"event: end")
        received += b"".join(chunks)
    assert received.index(KEEPALIVE_FRAME) < received.index(b"event:")
    assert _outputs(endpoint, received) == ["a", "b"]
    assert parse_events(received.decode())[-1] == ("end", None)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_failure_within_header_wait_is_a_real_500_and_after_it_an_error_event(
    url: str, endpoint: str
) -> None:
    at_once = httpx.post(f"{url}/fails_at_once/{endpoint}", json={"input": 1}, timeout=WAIT)
    assert at_once.status_code == 500
    assert at_once.headers["content-type"] == "application/json"

    path = f"{url}/fails_late/{endpoint}"
    with httpx.stream("POST", path, json={"input": 1}, timeout=WAIT) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        received = _read_until(chunks, b"", KEEPALIVE_FRAME)
        gates.opened[0].set()  # now the run fails, after the headers went out
        received = _read_until(chunks, received, b"event: error")
        received += b"".join(chunks)
    events = parse_events(received.decode())
    assert events == [("error", {"status_code": 500, "message": "Internal Server Error"})]
    assert b"boom" not in received


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_timeout_after_the_headers_is_the_504_error_event(url: str, endpoint: str) -> None:
    # The gate is never opened: the run is silent until run_timeout cancels it.
    path = f"{url}/times_out/{endpoint}"
    with httpx.stream("POST", path, json={"input": 1}, timeout=WAIT) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        received = _read_until(chunks, b"", b"event: error")
        received += b"".join(chunks)
    events = parse_events(received.decode())
    assert events[-1] == ("error", {"status_code": 504, "message": "Gateway Timeout"})
    assert [name for name, _ in events] == ["error"]
    assert gates.cancelled.wait(WAIT)


def test_a_client_leaving_a_silent_stream_cancels_the_run_and_frees_the_slot(url: str) -> None:
    with raw_post(url, "/gated_one/stream", {"input": 1}, timeout=WAIT) as sock:
        head = read_until(sock, KEEPALIVE_FRAME)
        assert head.startswith(b"HTTP/1.1 200")
        busy = httpx.post(f"{url}/gated_one/invoke", json={"input": 1}, timeout=WAIT)
        assert busy.status_code == 503  # the silent stream holds the route's one slot
    assert gates.cancelled.wait(WAIT)
    for gate in gates.opened:
        gate.set()  # later runs of this route go straight through
    deadline = time.monotonic() + WAIT  # a bound on noticing the hang-up, not a speed check
    while (
        status := httpx.post(f"{url}/gated_one/invoke", json={"input": 1}, timeout=WAIT)
    ).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status.status_code == 200
    assert status.json()["output"] == "ab"


# None: as before ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_none_keeps_headers_until_the_first_output_and_sends_no_comments(
    url: str, endpoint: str
) -> None:
    ok = httpx.post(f"{url}/off/{endpoint}", json={"input": 1}, timeout=WAIT)
    assert ok.status_code == 200
    assert not [line for line in ok.text.splitlines() if line.startswith(":")]
    assert _outputs(endpoint, ok.content) == ["a", "b"]
    # Silent for longer than the other routes' header_wait, yet a real status.
    failed = httpx.post(f"{url}/off_fails/{endpoint}", json={"input": 1}, timeout=WAIT)
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/json"


def test_the_defaults_and_bad_values() -> None:
    assert Limits().header_wait == 5.0
    assert Limits().keepalive_interval == 15.0
    Limits(header_wait=None, keepalive_interval=None)  # None is allowed
    for name in ("header_wait", "keepalive_interval"):
        for value in (0, -1, -0.5, math.nan):
            with pytest.raises(ValueError, match=name):
                Limits(**{name: value})


# Clients -----------------------------------------------------------------------------


def test_chainserve_client_streams_through_keepalives(url: str, wire: Wire) -> None:
    before = wire.keepalives
    with RemoteRunnable(f"{url}/paced/", timeout=WAIT) as remote:
        assert list(remote.stream(1)) == ["a", "b"]
    assert wire.keepalives - before >= 2  # the run paced its chunks on the comments


async def test_chainserve_client_streams_events_through_keepalives(url: str, wire: Wire) -> None:
    before = wire.keepalives
    remote = RemoteRunnable(f"{url}/paced/", timeout=WAIT)
    try:
        events = [event async for event in remote.astream_events(1, version="v2")]
    finally:
        await remote.aclose()
    assert [e["event"] for e in events] == [
        "on_chain_start",
        "on_chain_stream",
        "on_chain_stream",
        "on_chain_end",
    ]
    assert [e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream"] == ["a", "b"]
    assert wire.keepalives - before >= 2


def test_langserve_client_streams_through_keepalives(url: str, wire: Wire) -> None:
    before = wire.keepalives
    remote = LangServeRemoteRunnable(f"{url}/paced/", timeout=WAIT)
    try:
        assert list(remote.stream(1)) == ["a", "b"]
    finally:
        remote.sync_client.close()
    assert wire.keepalives - before >= 2


async def test_langserve_client_streams_events_through_keepalives(url: str, wire: Wire) -> None:
    before = wire.keepalives
    remote = LangServeRemoteRunnable(f"{url}/paced/", timeout=WAIT)
    try:
        events = [event async for event in remote.astream_events(1, version="v2")]
    finally:
        remote.sync_client.close()
        await remote.async_client.aclose()
    assert [e["event"] for e in events] == [
        "on_chain_start",
        "on_chain_stream",
        "on_chain_stream",
        "on_chain_end",
    ]
    assert [e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream"] == ["a", "b"]
    assert wire.keepalives - before >= 2
