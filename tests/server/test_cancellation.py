"""A client that disconnects cancels its run: proven over a real socket."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from servers import raw_post, read_until, serve

from chainserve import add_routes
from chainserve.server.cancellation import (
    TICK,
    WATCH_AFTER,
    _loops,
    _runs_of,
    run_until_disconnect,
)

WAIT = 15.0  # an upper bound for the server to notice, not a speed target


class Probe:
    """What the served runnable went through, seen from the test thread."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.produced = 0

    async def hang(self) -> None:
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


probe = Probe()


async def _slow(x: Any) -> Any:
    await probe.hang()
    return x


async def _slow_after_first_chunk(x: Any):
    yield 1
    await probe.hang()
    yield 2


CHUNK = {"x": "x" * 10_000}  # a dict: LangChain keeps the last chunk, not their sum


def _send_buffer_max() -> int:
    """The most a socket's send buffer grows to here (Linux's tcp_wmem maximum)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 16 * 2**20


# Chunks past what the server's send buffer, the client's small receive buffer and the
# frame queue (64 frames) can hold, with room to spare.
MORE_THAN_BUFFERS = 2 * (_send_buffer_max() + 2**20) // 10_000
# "endless" ends on its own ~5 s (5,000 chunks, 1 ms apart) after the test has left,
# without setting ``cancelled``: a watcher that misses the disconnect fails the test.
ENDLESS = MORE_THAN_BUFFERS + 5_000


async def _endless(x: Any):
    seen = probe  # this test's probe, even if the run outlives the test
    seen.started.set()
    try:
        for _ in range(ENDLESS):
            yield CHUNK
            seen.produced += 1
            await asyncio.sleep(0.001)
    except (asyncio.CancelledError, GeneratorExit):  # cancelled, or closed by a cancel
        seen.cancelled.set()
        raise


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app = FastAPI()
    add_routes(app, RunnableLambda(_slow), path="/slow")
    add_routes(app, RunnableLambda(_slow_after_first_chunk), path="/slow_stream")
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    add_routes(app, RunnableLambda(_endless), path="/endless")
    with serve(app) as base:
        yield base


@pytest.fixture(autouse=True)
def fresh_probe() -> None:
    global probe
    probe = Probe()


def send_and_leave(
    base: str,
    path: str,
    body: dict[str, Any],
    read_first: bytes = b"",
    before_leaving: Callable[[], None] = lambda: None,
) -> None:
    """POST ``body``, optionally read until ``read_first`` arrives, then hang up."""
    with raw_post(base, path, body, timeout=WAIT) as sock:
        assert probe.started.wait(WAIT), "the run never started"
        read_until(sock, read_first)
        before_leaving()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/slow/invoke", {"input": 1}),
        ("/slow/batch", {"inputs": [1, 2]}),
        ("/slow/stream", {"input": 1}),
        ("/slow/stream_log", {"input": 1}),
        ("/slow/stream_events", {"input": 1}),
    ],
)
def test_disconnect_before_any_output_cancels_the_run(url: str, path: str, body: dict) -> None:
    send_and_leave(url, path, body)
    assert probe.cancelled.wait(WAIT), f"{path}: the run was not cancelled"


@pytest.mark.parametrize("endpoint", ["stream", "stream_log", "stream_events"])
def test_disconnect_mid_stream_cancels_the_run(url: str, endpoint: str) -> None:
    send_and_leave(url, f"/slow_stream/{endpoint}", {"input": 1}, read_first=b"event: data")
    assert probe.cancelled.wait(WAIT), f"{endpoint}: the run was not cancelled"


@pytest.mark.parametrize("endpoint", ["stream", "stream_log", "stream_events"])
def test_slow_reader_that_leaves_ends_the_run(url: str, endpoint: str) -> None:
    # The client stops reading until the server can no longer write; hanging up then
    # must end the run, not leave it producing into a connection that drops every write.
    send_and_leave(
        url,
        f"/endless/{endpoint}",
        {"input": 1},
        read_first=b"event: data",
        before_leaving=lambda: wait_until_the_writer_is_stuck(endpoint),
    )
    assert probe.cancelled.wait(WAIT), f"{endpoint}: the run went on after the client left"


def wait_until_the_writer_is_stuck(endpoint: str) -> None:
    """Wait until more was produced than the buffers hold, or the run waits for room.

    ``stream`` runs wait for room in the frame queue. ``stream_log`` and
    ``stream_events`` runs do not: langchain-core runs them in a task of its own
    that feeds an unbounded stream, so only the writer waits.
    """
    deadline = time.monotonic() + WAIT
    while probe.produced < MORE_THAN_BUFFERS and time.monotonic() < deadline:
        before = probe.produced
        time.sleep(0.3)
        if endpoint == "stream" and probe.produced == before:
            break
    assert not probe.cancelled.is_set(), "the run ended while the client was there"
    if endpoint == "stream":
        assert 0 < probe.produced < MORE_THAN_BUFFERS, "the run never waited for the reader"
    else:
        assert probe.produced >= MORE_THAN_BUFFERS, f"only {probe.produced} chunks made"


def test_server_keeps_serving_after_disconnects(url: str) -> None:
    send_and_leave(url, "/slow_stream/stream", {"input": 1}, read_first=b"event: data")
    assert probe.cancelled.wait(WAIT)
    response = httpx.post(f"{url}/echo/invoke", json={"input": "still here"}, timeout=WAIT)
    assert response.json()["output"] == "still here"


async def _never_disconnects() -> dict[str, Any]:
    await asyncio.sleep(3600)
    return {"type": "http.disconnect"}


async def test_short_runs_get_no_watcher_and_the_tick_stops_when_idle() -> None:
    before = len(asyncio.all_tasks())
    inside: list[int] = []

    async def run() -> str:
        await asyncio.sleep(0)
        inside.append(len(asyncio.all_tasks()))
        return "done"

    assert await run_until_disconnect(_never_disconnects, run()) == "done"
    assert inside == [before]  # no watcher task for a run this short
    runs = _runs_of(asyncio.get_running_loop())
    await asyncio.sleep(TICK * 2)
    assert not runs._armed


async def test_a_long_run_gets_a_watcher_once_past_watch_after() -> None:
    counts: list[int] = []

    async def run() -> None:
        counts.append(len(asyncio.all_tasks()))
        await asyncio.sleep(WATCH_AFTER + TICK * 2)
        counts.append(len(asyncio.all_tasks()))

    await run_until_disconnect(_never_disconnects, run())
    assert counts[1] == counts[0] + 1


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


async def test_watchers_run_in_their_own_requests_context() -> None:
    seen: dict[str, str] = {}

    async def request(name: str) -> None:
        REQUEST_ID.set(name)

        async def receive() -> dict[str, Any]:
            seen[name] = REQUEST_ID.get("none")
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        await run_until_disconnect(receive, asyncio.sleep(WATCH_AFTER + TICK * 2))

    await asyncio.gather(request("a"), request("b"))
    assert seen == {"a": "a", "b": "b"}


def test_closed_event_loops_are_not_kept() -> None:
    async def one_run() -> None:
        await run_until_disconnect(_never_disconnects, asyncio.sleep(0))

    gc.collect()
    before = len(_loops)
    for _ in range(5):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(one_run())
        loop.close()
    del loop
    gc.collect()
    assert len(_loops) == before
