"""Controlling runs over a loopback server through ``langgraph_sdk``: rollback, delayed
and stateless background runs, batches, cancelling many, the thread's stream, the
``events`` mode, webhooks, and what a run leaves on its thread (WIRE.md §5, §6, §8)."""

from __future__ import annotations

import asyncio
import time
import typing
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from protocol_apps import Count, Slow, inc, one_node_graph, refusal, serve_with_lifespan
from servers import serve

from chainserve.agents import _execution, add_graphs


async def _thread_with_one_run(client: LangGraphClient) -> tuple[str, dict[str, Any]]:
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "inc", input={"count": 1})
    return tid, await client.threads.get_state(tid)


async def test_cancel_with_rollback_undoes_the_run(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid, before = await _thread_with_one_run(client)
    history = await client.threads.get_history(tid)
    run = await client.runs.create(tid, "slow", input={"count": 5})
    await slow.until_started()
    await client.runs.cancel(tid, run["run_id"], wait=True, action="rollback")
    assert slow.cancelled.is_set()
    assert (await refusal(client.runs.get(tid, run["run_id"])))[0] == 404
    thread = await client.threads.get(tid)
    assert thread["status"] == "idle"
    assert thread["error"]["error"] == "UserRollback"  # as the reference says it
    assert thread["values"] == {"count": 2} == before["values"]
    assert await client.threads.get_history(tid) == history
    assert [r["status"] for r in await client.runs.list(tid)] == ["success"]
    # The thread goes on from where it was before the rolled back run.
    assert await client.runs.wait(tid, "inc", input={}) == {"count": 3}


async def test_multitask_rollback_and_interrupt(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input={"count": 1})
    await slow.until_started()
    second = await client.runs.create(
        tid, "inc", input={"count": 10}, multitask_strategy="rollback"
    )
    assert await client.runs.join(tid, second["run_id"]) == {"count": 11}
    assert [r["run_id"] for r in await client.runs.list(tid)] == [second["run_id"]]
    assert (await refusal(client.runs.get(tid, first["run_id"])))[0] == 404
    slow.started.clear()
    third = await client.runs.create(tid, "slow", input={"count": 1})
    await slow.until_started()
    fourth = await client.runs.create(
        tid, "inc", input={"count": 20}, multitask_strategy="interrupt"
    )
    assert await client.runs.join(tid, fourth["run_id"]) == {"count": 21}
    statuses = {r["run_id"]: r["status"] for r in await client.runs.list(tid)}
    assert statuses == {
        second["run_id"]: "success",
        third["run_id"]: "interrupted",
        fourth["run_id"]: "success",
    }


async def test_a_bad_cancel_action_or_strategy_is_422(runs_url: str) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "inc", input={"count": 1})
    bad = client.http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel?action=undo", json=None)
    assert await refusal(bad) == (422, "Invalid cancel action 'undo': 'interrupt' or 'rollback'")
    wrong = client.runs.create(tid, "inc", input={}, multitask_strategy="undo")  # type: ignore[arg-type]
    assert (await refusal(wrong))[0] == 422
    await client.runs.join(tid, run["run_id"])


async def test_after_seconds_delays_the_run(runs_url: str) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    asked = datetime.now(timezone.utc)
    later = await client.runs.create(tid, "inc", input={"count": 1}, after_seconds=600)
    due = datetime.fromisoformat(later["created_at"])
    assert (due - asked).total_seconds() >= 599
    other = (await client.threads.create())["thread_id"]
    assert await client.runs.wait(other, "inc", input={"count": 5}) == {"count": 6}
    assert (await client.runs.get(tid, later["run_id"]))["status"] == "pending"
    assert (await client.threads.get(tid))["status"] == "busy"
    await client.runs.cancel(tid, later["run_id"], wait=True)
    assert (await client.runs.get(tid, later["run_id"]))["status"] == "interrupted"
    soon = await client.runs.create(tid, "inc", input={"count": 1}, after_seconds=1)
    assert await client.runs.join(tid, soon["run_id"]) == {"count": 2}


async def test_stateless_background_runs_and_batches(runs_url: str) -> None:
    client = get_client(url=runs_url)
    kept = await client.runs.create(None, "inc", input={"count": 1}, on_completion="keep")
    assert kept["status"] == "pending"
    assert await client.runs.join(kept["thread_id"], kept["run_id"]) == {"count": 2}
    assert (await client.threads.get(kept["thread_id"]))["values"] == {"count": 2}
    # (Joining it could come too late: its thread and it are deleted as it ends.)
    before = await client.threads.count()
    assert await client.runs.wait(None, "inc", input={"count": 1}) == {"count": 2}
    assert await client.threads.count() == before  # its thread is gone
    threads = await client.threads.count()
    payloads: list[Any] = [
        {"assistant_id": "inc", "input": {"count": n}, "on_completion": "keep"} for n in (1, 5)
    ]
    runs = await client.runs.create_batch(payloads)
    assert len({run["thread_id"] for run in runs}) == 2
    results = [await client.runs.join(run["thread_id"], run["run_id"]) for run in runs]
    assert results == [{"count": 2}, {"count": 6}]
    assert await client.threads.count() == threads + 2
    refused = client.runs.create_batch([payloads[0], {"assistant_id": "nope", "input": {}}])
    assert (await refusal(refused))[0] == 422
    assert await client.threads.count() == threads + 2  # nothing of the batch started


async def test_concurrent_requests_on_one_database(runs_url: str) -> None:
    """Background runs writing checkpoints while other requests read and write the
    records: every request answered, every run recorded, the database still writable."""
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    batch: list[Any] = [
        {"assistant_id": "inc", "input": {"count": n}, "on_completion": "keep"} for n in range(8)
    ]
    for _ in range(3):  # a few rounds: each interleaves differently
        calls: list[Any] = [client.runs.create_batch(batch)]
        for _ in range(40):
            calls += [client.threads.create(), client.threads.get(tid)]
            calls.append(client.threads.search(limit=3))
        runs = (await asyncio.gather(*calls))[0]
        results = [await client.runs.join(run["thread_id"], run["run_id"]) for run in runs]
        assert results == [{"count": n + 1} for n in range(8)]
        for run in runs:
            assert (await client.runs.get(run["thread_id"], run["run_id"]))["status"] == "success"
    assert (await client.threads.create())["status"] == "idle"


async def test_cancel_many(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    running = await client.runs.create(tid, "slow", input={"count": 1})
    queued = await client.runs.create(tid, "slow", input={"count": 1})
    await slow.until_started()
    both = client.runs.cancel_many(thread_id=tid, status="running")
    assert (await refusal(both))[0] == 422
    await client.runs.cancel_many(thread_id=tid, run_ids=[queued["run_id"]])
    await client.runs.join(tid, queued["run_id"])
    assert (await client.runs.get(tid, running["run_id"]))["status"] == "running"
    await client.runs.cancel_many(status="running")
    await client.runs.join(tid, running["run_id"])
    statuses = [r["status"] for r in await client.runs.list(tid)]
    assert statuses == ["interrupted", "interrupted"]
    assert (await refusal(client.runs.cancel_many(status="pending")))[0] == 404


async def test_the_thread_stream_follows_its_runs(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(
        tid, "slow", input={"count": 1}, stream_mode=["updates", "custom"]
    )
    await slow.until_started()
    parts: list[tuple[str, Any]] = []
    following = asyncio.Event()

    async def follow() -> None:
        async for part in await client.threads.join_stream(tid):
            if part.data == {"waiting": True}:
                following.set()  # the slow node's writes: the stream is live
                continue
            parts.append((part.event, part.data))
            if len([data for _, data in parts if data.get("status") == "run_done"]) == 2:
                return

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(following.wait(), 20)
    second = await client.runs.create(tid, "inc", input={"count": 10}, stream_mode="updates")
    slow.release.set()
    await asyncio.wait_for(follower, 20)
    assert parts == [
        ("updates", {"slow_step": {"count": 2}}),
        ("metadata", {"status": "run_done", "run_id": first["run_id"]}),
        ("metadata", {"run_id": second["run_id"], "attempt": 1}),
        ("updates", {"inc": {"count": 11}}),
        ("metadata", {"status": "run_done", "run_id": second["run_id"]}),
    ]


async def test_join_stream_keeps_the_modes_asked_for(runs_url: str) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        tid, "inc", input={"count": 1}, stream_mode=["values", "custom"], stream_resumable=True
    )
    await client.runs.join(tid, run["run_id"])
    joined = client.runs.join_stream(tid, run["run_id"], stream_mode="custom", last_event_id="-1")
    parts = [(part.event, part.data) async for part in joined]
    assert parts == [
        ("metadata", {"run_id": run["run_id"], "attempt": 1}),
        ("custom", {"progress": "start", "count": 1}),
    ]


# The bounds of one process's replays in memory; on Postgres the replicas' table of
# events serves replays (tests/agents/test_replicas.py).
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_the_newest_finished_resumable_runs_are_replayed(
    runs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_execution, "REPLAYS_KEPT", 1)
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    runs = []
    for count in (1, 2):
        run = await client.runs.create(tid, "inc", input={"count": count}, stream_resumable=True)
        await client.runs.join(tid, run["run_id"])
        runs.append(run["run_id"])
    replays = []
    for rid in runs:
        joined = client.runs.join_stream(tid, rid, last_event_id="-1")
        replays.append([part.event async for part in joined])
    assert replays == [[], ["metadata", "values", "values"]]  # the older one's events: gone


# One process's replays in memory, as above.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_the_replays_kept_are_bounded_in_bytes(
    runs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_execution, "REPLAY_BYTES", 1)  # less than any run's events
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "inc", input={"count": 1}, stream_resumable=True)
    await client.runs.join(tid, run["run_id"])
    joined = client.runs.join_stream(tid, run["run_id"], last_event_id="-1")
    assert [part.event async for part in joined] == []


async def test_events_mode_is_the_graph_s_astream_events(runs_url: str) -> None:
    client = get_client(url=runs_url)
    streamed = [
        (part.event, part.data)
        async for part in client.runs.stream(
            None, "inc", input={"count": 1}, stream_mode=["events", "values"]
        )
    ]
    local = [
        (event["event"], event["name"])
        async for event in one_node_graph(inc).astream_events(
            Count(count=1), {"run_name": "inc"}, version="v2"
        )
        if not (event["event"] == "on_chain_stream" and not event["parent_ids"])
    ]
    events = [(data["event"], data["name"]) for name, data in streamed if name == "events"]
    assert events == local
    assert events[0] == ("on_chain_start", "inc")  # the root run is named after the graph
    assert [data for name, data in streamed if name == "values"] == [{"count": 1}, {"count": 2}]
    assert streamed[0][0] == "metadata"


async def test_the_thread_keeps_why_its_last_run_failed(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid, _ = await _thread_with_one_run(client)
    assert (await client.threads.get(tid))["error"] is None
    await client.runs.wait(tid, "inc", input={"count": -1}, raise_error=False)
    thread = await client.threads.get(tid)
    assert thread["status"] == "error"
    assert thread["error"] == {"error": "ValueError", "message": "negative count"}
    assert thread["interrupts"] == {}
    await client.runs.wait(tid, "inc", input={"count": 1})
    assert (await client.threads.get(tid))["error"] is None


async def test_deleting_a_thread_stops_its_run(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"count": 1})
    await slow.until_started()
    await client.threads.delete(tid)
    assert slow.cancelled.is_set()
    assert (await refusal(client.threads.get(tid)))[0] == 404
    assert (await refusal(client.runs.get(tid, run["run_id"])))[0] == 404
    assert await client.threads.search() == []


class Listener:
    """A webhook receiver: answers ``failures`` 503s, then records what it gets."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.post("/hook")(self.hook)

    async def hook(self, request: Request) -> Response:
        if self.failures:
            self.failures -= 1
            return Response(status_code=503)
        self.received.append(await request.json())
        return Response(status_code=204)

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 20
        while len(self.received) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"the webhook got {len(self.received)} of {count} calls")
            time.sleep(0.01)
        return self.received


@pytest.fixture
def listener() -> Iterator[tuple[Listener, str]]:
    receiver = Listener(failures=1)
    with serve(receiver.app) as base:
        yield receiver, f"{base}/hook"


async def test_a_webhook_gets_the_run_when_it_ends(
    runs_url: str, listener: tuple[Listener, str]
) -> None:
    receiver, hook = listener
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "inc", input={"count": 1}, webhook=hook)
    failing = await client.runs.wait(
        tid, "inc", input={"count": -1}, webhook=hook, raise_error=False
    )
    assert failing["__error__"]["error"] == "ValueError"
    got = await asyncio.to_thread(receiver.wait_for, 2)
    by_status = {call["status"]: call for call in got}
    assert set(by_status) == {"success", "error"}  # the first answer, a 503, was retried
    assert by_status["success"]["run_id"] == run["run_id"]
    assert by_status["success"]["thread_id"] == tid
    assert by_status["success"]["values"] == {"count": 2}
    assert by_status["success"]["kwargs"]["webhook"] == hook
    assert "webhook_sent_at" in by_status["success"]
    bad = client.runs.create(tid, "inc", input={}, webhook="ftp://example.invalid/x")
    assert await refusal(bad) == (
        422,
        "webhook must be an absolute http or https URL, not 'ftp://example.invalid/x'",
    )


async def test_bad_run_options_are_422_and_start_nothing(runs_url: str) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"after_seconds": 1e12}, "after_seconds: Input should be less than or equal to"),
        ({"webhook": "http://[::1"}, "webhook must be an absolute http or https URL"),
        ({"webhook": "http://h:99999/"}, "webhook must be an absolute http or https URL"),
        ({"config": {"configurable": "x"}}, "config.configurable must be an object"),
        ({"config": {"metadata": []}}, "config.metadata must be an object"),
        ({"checkpoint": {"checkpoint_id": 5}}, "checkpoint.checkpoint_id must be a string"),
    ]
    async with httpx.AsyncClient(base_url=runs_url) as raw:
        for options, reason in bad:
            body = {"assistant_id": "inc", "input": {"count": 1}, **options}
            answer = await raw.post(f"/threads/{tid}/runs", json=body)
            assert answer.status_code == 422 and reason in answer.json()["detail"], answer.text
        threads = await client.threads.count()
        batch = [{"assistant_id": "inc", "input": {}}, {"assistant_id": "inc", "webhook": "x"}]
        answer = await raw.post("/runs/batch", json=batch)
        assert answer.status_code == 422 and answer.json()["detail"].startswith("1: webhook")
    assert await client.threads.count() == threads  # nothing of the batch started
    assert await client.runs.list(tid) == []


async def test_rollback_of_a_stateless_run(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    run = await client.runs.create(None, "slow", input={"count": 1})
    await slow.until_started()
    await client.runs.cancel(run["thread_id"], run["run_id"], action="rollback")
    await slow.until_cancelled()
    # The node has seen its cancel; the run's end (deleting its thread) comes after it.
    deadline = asyncio.get_running_loop().time() + 10  # a bound on waiting, not a speed check
    while httpx.get(f"{runs_url}/threads/{run['thread_id']}").status_code != 404:
        assert asyncio.get_running_loop().time() < deadline, "the thread outlived its rollback"
        await asyncio.sleep(0.02)


async def test_the_thread_stream_taken_up_with_last_event_id(runs_url: str, slow: Slow) -> None:
    """Taken up after an earlier run's last event, the thread's stream gives the run
    going on now from its start, not from the live point."""
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=runs_url) as raw:
        bad = await raw.get(f"/threads/{tid}/stream", headers={"Last-Event-ID": "-1"})
    assert bad.status_code == 422  # as the reference: no replay of a thread from its start
    first = await client.runs.create(tid, "inc", input={"count": 1}, stream_resumable=True)
    await client.runs.join(tid, first["run_id"])
    replay = client.runs.join_stream(tid, first["run_id"], last_event_id="-1")
    last_id = [part.id async for part in replay][-1]  # what a client saw last of the thread
    second = await client.runs.create(tid, "slow", input={"count": 5}, stream_mode="updates")
    await slow.until_started()
    seen = []

    async def follow() -> None:
        parts = await client.threads.join_stream(tid, last_event_id=last_id)
        async for part in parts:
            seen.append((part.event, part.data))
            slow.release.set()  # the stream is open: the run may end
            if part.data.get("status") == "run_done":
                break
        await parts.aclose()  # type: ignore[attr-defined]

    try:
        await asyncio.wait_for(follow(), 20)
    finally:
        slow.release.set()
    assert seen == [
        ("metadata", {"run_id": second["run_id"], "attempt": 1}),
        ("updates", {"slow_step": {"count": 6}}),
        ("metadata", {"status": "run_done", "run_id": second["run_id"]}),
    ]


class Asked(typing.TypedDict, total=False):
    answer: str
    count: int


def _ask_then(slow: Slow) -> Any:
    """``ask`` interrupts for an answer, then the slow node runs."""

    def ask(state: Asked) -> dict[str, Any]:
        return {"answer": interrupt("ok?")}

    builder = StateGraph(Asked)
    builder.add_node("ask", ask)
    builder.add_node("wait", slow)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "wait")
    return builder.compile()


async def test_rolling_back_a_resumed_run_forgets_its_resume(tmp_path: Path, slow: Slow) -> None:
    app = FastAPI()
    add_graphs(app, {"asked": _ask_then(slow)}, database=f"sqlite:///{tmp_path / 'db.sqlite'}")
    with serve_with_lifespan(app) as url:
        client = get_client(url=url)
        tid = (await client.threads.create())["thread_id"]
        await client.runs.wait(tid, "asked", input={"count": 1})
        before = await client.threads.get_state(tid)
        resumed = await client.runs.create(tid, "asked", command={"resume": "yes"})
        await slow.until_started()  # "ask" took "yes"; the next node runs
        await client.runs.cancel(tid, resumed["run_id"], wait=True, action="rollback")
        after = await client.threads.get_state(tid)
        assert (after["checkpoint_id"], after["next"]) == (before["checkpoint_id"], ["ask"])
        assert after["tasks"] == before["tasks"]  # "ask" has no result saved: it asks again
        slow.release.set()
        result = await client.runs.wait(tid, "asked", command={"resume": "no"})
        assert result == {"answer": "no", "count": 2}
