"""How stream frames reach the socket: fast runs coalesce writes, slow ones don't wait.

The app is called as an ASGI app so that each ``http.response.body`` message, one
socket write under uvicorn, can be counted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from sse import parse_events

from chainserve import add_routes
from chainserve.server.sse import FrameQueue

CHUNKS = 200
PACE = 0.1  # seconds between chunks of the slow run: fifty windows


async def _fast(_: Any):  # type: ignore[no-untyped-def]
    for index in range(CHUNKS):
        yield f"t{index} "


async def _slow(_: Any):  # type: ignore[no-untyped-def]
    for index in range(4):
        if index:
            await asyncio.sleep(PACE)
        yield f"s{index}"


async def _fails_late(_: Any):  # type: ignore[no-untyped-def]
    for index in range(50):
        yield f"f{index}"
    raise RuntimeError("boom")


def make_app() -> FastAPI:
    app = FastAPI()
    add_routes(app, RunnableLambda(_fast), path="/fast")
    add_routes(app, RunnableLambda(_slow), path="/slow")
    add_routes(app, RunnableLambda(_fails_late), path="/fails_late")
    return app


async def writes(app: FastAPI, path: str) -> list[bytes]:
    """The body of each write the app makes for a POST to ``path``."""
    bodies: list[bytes] = []
    sent = [{"type": "http.request", "body": b'{"input": null}', "more_body": False}]
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if sent:
            return sent.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message["body"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
    }
    await make_app()(scope, receive, send)
    gone.set()
    return bodies


def _data(bodies: list[bytes]) -> list[Any]:
    events = parse_events(b"".join(bodies).decode())
    return [data for event, data in events if event == "data"]


async def test_a_fast_run_is_written_in_few_writes() -> None:
    bodies = await writes(make_app(), "/fast/stream")
    assert _data(bodies) == [f"t{index} " for index in range(CHUNKS)]
    assert b"".join(bodies).endswith(b"event: end\r\n\r\n")
    # Header frames plus at most one write per window; in-process, a few windows.
    assert len(bodies) < CHUNKS // 10, len(bodies)


async def test_a_slow_run_gets_one_write_per_chunk() -> None:
    bodies = await writes(make_app(), "/slow/stream")
    chunks = [_data([body]) for body in bodies]
    # metadata and the first chunk go together; each later chunk, then end, alone.
    assert [c for c in chunks if c] == [["s0"], ["s1"], ["s2"], ["s3"]]
    assert bodies[-1] == b"event: end\r\n\r\n"


async def test_an_error_ends_a_coalesced_stream_in_order() -> None:
    bodies = await writes(make_app(), "/fails_late/stream")
    assert _data(bodies) == [f"f{index}" for index in range(50)]
    assert parse_events(b"".join(bodies).decode())[-1][0] == "error"


async def _gated(release: asyncio.Event, after: list[bytes]):  # type: ignore[no-untyped-def]
    yield b"first"
    await asyncio.sleep(0)  # the writer takes "first" alone
    yield b"second"  # comes right after that write: the writer starts filling
    await release.wait()
    for item in after:
        yield item


@pytest.mark.parametrize("after", [[], [b"x"], [b"x"] * 5])
async def test_the_end_of_the_run_wakes_a_filling_writer(after: list[bytes]) -> None:
    release = asyncio.Event()
    queue = FrameQueue(_gated(release, after), window=3600)
    assert await queue.next_batch() == (b"first", False)
    batch = asyncio.ensure_future(queue.next_batch())
    await asyncio.sleep(0.01)
    assert not batch.done()  # filling, for up to an hour
    release.set()
    assert await asyncio.wait_for(batch, 10) == (b"second" + b"".join(after), True)


async def test_a_full_queue_wakes_a_filling_writer() -> None:
    release = asyncio.Event()
    queue = FrameQueue(_gated(release, [b"x"] * 10), window=3600, maxsize=4)
    assert await queue.next_batch() == (b"first", False)
    batch = asyncio.ensure_future(queue.next_batch())
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.wait_for(batch, 10) == (b"second" + b"x" * 3, False)
    await queue.close()


async def test_the_window_bounds_the_wait() -> None:
    release = asyncio.Event()
    queue = FrameQueue(_gated(release, []), window=0.05)
    assert await queue.next_batch() == (b"first", False)
    # The run stays stuck; the frame already there goes out when the window closes.
    assert await asyncio.wait_for(queue.next_batch(), 10) == (b"second", False)
    await queue.close()


async def _counted(made: list[int], count: int):  # type: ignore[no-untyped-def]
    for index in range(count):
        made.append(index)
        yield b"x"
        await asyncio.sleep(0)


async def test_a_bounded_queue_holds_the_run_back_and_an_unbounded_one_does_not() -> None:
    held: list[int] = []
    bounded = FrameQueue(_counted(held, 1_000), maxsize=8)
    free: list[int] = []
    unbounded = FrameQueue(_counted(free, 1_000), maxsize=None)
    await asyncio.sleep(0.1)  # nobody reads
    assert len(held) <= 9  # eight queued, one waiting for room
    assert len(free) == 1_000
    await bounded.close()
    await unbounded.close()


async def test_the_slot_is_freed_once_the_run_and_the_writer_are_both_done() -> None:
    freed: list[str] = []
    queue = FrameQueue(_counted([], 3), maxsize=None, on_done=lambda: freed.append("freed"))
    await asyncio.sleep(0.05)
    assert freed == []  # the run is over, but its frames are still queued
    assert await queue.next_batch() == (b"xxx", True)
    assert freed == ["freed"]
    await queue.close()  # the response always closes its queue: no second call
    assert freed == ["freed"]

    closed: list[str] = []
    gated = FrameQueue(_gated(asyncio.Event(), []), on_done=lambda: closed.append("freed"))
    assert await gated.next_batch() == (b"first", False)
    await gated.close()  # the client left mid-run: the run is cancelled, the slot freed
    assert closed == ["freed"]
