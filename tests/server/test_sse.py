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
from starlette.requests import ClientDisconnect

from chainserve import add_routes
from chainserve.server.sse import ERROR_FRAME, KEEPALIVE_FRAME, TIMEOUT_FRAME, FrameQueue

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


# Silent runs: a bounded wait for the first frame, keep-alive comments ---------------


async def _silent_then(release: asyncio.Event, items: list[bytes]):  # type: ignore[no-untyped-def]
    await release.wait()
    for item in items:
        yield item


async def _silent_then_fails(release: asyncio.Event):  # type: ignore[no-untyped-def]
    await release.wait()
    raise RuntimeError("boom")
    yield b"never"


async def _stays() -> dict[str, Any]:
    await asyncio.Event().wait()  # the client never leaves
    raise AssertionError("unreachable")


async def _leaves() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def _batches(queue: FrameQueue, idle: float) -> list[tuple[bytes, bool]]:
    """Every batch the writer gets, up to and including the last."""
    batches = [await queue.next_batch(idle)]
    while not batches[-1][1]:
        batches.append(await queue.next_batch(idle))
    return batches


async def test_first_returns_once_its_wait_passes_and_the_run_goes_on() -> None:
    release = asyncio.Event()
    queue = FrameQueue(_silent_then(release, [b"late"]))
    assert await asyncio.wait_for(queue.first(_stays, wait=0.01), 10) is None
    release.set()  # the run was not cancelled: its frames still come
    assert await asyncio.wait_for(queue.next_batch(), 10) == (b"late", True)
    await queue.close()


async def test_a_failure_after_the_wait_is_an_error_frame() -> None:
    release = asyncio.Event()
    queue = FrameQueue(_silent_then_fails(release))
    assert await asyncio.wait_for(queue.first(_stays, wait=0.01), 10) is None
    release.set()
    batches = await asyncio.wait_for(_batches(queue, idle=0.01), 10)
    assert batches[-1] == (ERROR_FRAME, True)
    assert {body for body, _ in batches[:-1]} <= {KEEPALIVE_FRAME}
    await queue.close()


async def test_first_still_reports_a_disconnect_within_its_wait() -> None:
    release = asyncio.Event()
    freed: list[str] = []
    queue = FrameQueue(_silent_then(release, [b"x"]), on_done=lambda: freed.append("freed"))
    with pytest.raises(ClientDisconnect):
        await asyncio.wait_for(queue.first(_leaves, wait=3600), 10)
    assert freed == ["freed"]  # the run was cancelled and the writer is done


async def test_an_idle_writer_gets_keepalives_then_the_frames() -> None:
    release = asyncio.Event()
    queue = FrameQueue(_silent_then(release, [b"x"] * 5))
    assert await asyncio.wait_for(queue.next_batch(idle=0.01), 10) == (KEEPALIVE_FRAME, False)
    assert await asyncio.wait_for(queue.next_batch(idle=0.01), 10) == (KEEPALIVE_FRAME, False)
    release.set()
    batches = await asyncio.wait_for(_batches(queue, idle=0.01), 10)
    # The five frames come at once and are still written together, keep-alives aside.
    assert [body for body, _ in batches if body != KEEPALIVE_FRAME] == [b"x" * 5]
    await queue.close()


async def test_frames_already_queued_get_no_keepalive() -> None:
    queue = FrameQueue(_counted([], 3), maxsize=None)
    await asyncio.sleep(0.05)  # the run is over; its frames are queued
    # A tiny idle bound changes nothing when there is something to write.
    assert await asyncio.wait_for(queue.next_batch(idle=1e-9), 10) == (b"xxx", True)
    assert queue._keepalive is None  # no timer was armed
    await queue.close()


async def _paced(count: int):  # type: ignore[no-untyped-def]
    for _ in range(count):
        await asyncio.sleep(0.001)
        yield b"x"


async def test_one_keepalive_timer_serves_a_whole_streaming_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__name__", "") == "_keepalive_due":
            armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting)
    queue = FrameQueue(_paced(50), window=0)  # window 0: each frame its own wait
    batches = await asyncio.wait_for(_batches(queue, idle=3600), 10)
    assert b"".join(body for body, _ in batches) == b"x" * 50
    assert len(batches) > 10  # the writer waited for many of the frames
    assert len(armed) == 1  # but armed one timer, not one per wait
    await queue.close()


async def test_a_run_timeout_after_keepalives_ends_with_the_timeout_frame() -> None:
    freed: list[str] = []
    queue = FrameQueue(
        _silent_then(asyncio.Event(), [b"x"]),
        timeout=0.5,
        on_done=lambda: freed.append("freed"),
    )
    # The keep-alive timer is due long before the run's: comments, then the timeout.
    batches = await asyncio.wait_for(_batches(queue, idle=0.02), 10)
    assert batches[-1] == (TIMEOUT_FRAME, True)
    assert batches[:-1] and {body for body, _ in batches[:-1]} == {KEEPALIVE_FRAME}
    assert freed == ["freed"]
    await queue.close()
    assert freed == ["freed"]


async def test_abort_wakes_a_writer_waiting_for_a_keepalive() -> None:
    freed: list[str] = []
    queue = FrameQueue(_silent_then(asyncio.Event(), [b"x"]), on_done=lambda: freed.append("f"))
    batch = asyncio.ensure_future(queue.next_batch(idle=3600))
    await asyncio.sleep(0.01)
    assert not batch.done()
    await queue.abort()  # the client left
    assert await asyncio.wait_for(batch, 10) == (b"", True)
    assert queue._keepalive is None  # its timer was cancelled with the run
    assert freed == ["f"]
