"""Run options over a loopback server through ``langgraph_sdk``: a dropped stream taken
up with ``Last-Event-ID``, ``on_disconnect``, the ``enqueue`` order, ``Command``'s
``goto`` and ``update``, ``interrupt_after``, and a run from an earlier checkpoint."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import get_client
from protocol_apps import Slow


async def test_a_dropped_stream_is_taken_up_with_last_event_id(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    seen: list[Any] = []
    stream = client.runs.stream(
        tid, "slow", input={"count": 1}, stream_mode=["custom", "values"], stream_resumable=True
    )
    async for part in stream:  # the client goes away after a few events
        seen.append(part)
        if len(seen) == 4:
            break
    await stream.aclose()
    run_id = seen[0].data["run_id"]
    slow.release.set()
    rest = [part async for part in client.runs.join_stream(tid, run_id, last_event_id=seen[-1].id)]
    whole = [part async for part in client.runs.join_stream(tid, run_id, last_event_id="-1")]
    assert [part.id for part in seen + rest] == [part.id for part in whole]  # none lost, none twice
    assert (whole[-1].event, whole[-1].data) == ("values", {"count": 2})
    assert (await client.runs.get(tid, run_id))["status"] == "success"  # it went on alone


async def test_on_disconnect_cancel_cancels_the_run(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    stream = client.runs.stream(
        tid, "slow", input={"count": 1}, stream_mode="custom", on_disconnect="cancel"
    )
    async for part in stream:
        if part.event == "custom":
            break  # the node runs; the client leaves
    await stream.aclose()
    run_id = (await client.runs.list(tid))[0]["run_id"]
    await client.runs.join(tid, run_id)
    assert slow.cancelled.is_set()
    assert (await client.runs.get(tid, run_id))["status"] == "interrupted"
    assert (await client.threads.get(tid))["error"] == {
        "error": "UserInterrupt",
        "message": "client disconnected from the run stream (on_disconnect=cancel)",
    }


async def test_enqueued_runs_run_in_the_order_they_came(runs_url: str, slow: Slow) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input={"count": 1})
    await slow.until_started()
    queued = [
        await client.runs.create(tid, "inc", input={}, multitask_strategy="enqueue")
        for _ in range(3)
    ]
    assert [r["status"] for r in await client.runs.list(tid)] == ["pending"] * 3 + ["running"]
    slow.release.set()
    results = [await client.runs.join(tid, run["run_id"]) for run in [first, *queued]]
    assert results == [{"count": 2}, {"count": 3}, {"count": 4}, {"count": 5}]


async def test_command_goto_and_update(runs_url: str) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "inc", input={"count": 1})
    result = await client.runs.wait(tid, "inc", command={"update": {"count": 10}, "goto": "inc"})
    assert result == {"count": 11}


async def test_interrupt_after_and_a_run_from_an_earlier_checkpoint(runs_url: str) -> None:
    client = get_client(url=runs_url)
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "parent", input={"messages": "hi"}, interrupt_after=["prep"])
    state = await client.threads.get_state(tid)
    assert state["next"] == ["child"] and state["values"]["seen"] == ["prep"]
    assert (await client.threads.get(tid))["status"] == "interrupted"
    done = await client.runs.wait(tid, "parent", input=None)  # on from the interrupt
    assert done["count"] == 1 and done["messages"][-1]["content"] == "reply 1 to hi"
    # From the checkpoint at the interrupt: the run forks the thread's history there.
    again = await client.runs.wait(tid, "parent", input=None, checkpoint_id=state["checkpoint_id"])
    assert (again["count"], again["seen"]) == (done["count"], done["seen"])
    assert again["messages"][-1]["id"] != done["messages"][-1]["id"]  # a new reply
    history = await client.threads.get_history(tid)
    after = [s for s in history if s["parent_checkpoint_id"] == state["checkpoint_id"]]
    assert sorted(s["metadata"]["source"] for s in after) == ["fork", "loop"]
