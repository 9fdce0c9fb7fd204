"""The Agent Protocol's ``/threads`` (records, state, history) over a loopback server,
through the official client ``langgraph_sdk`` (as WIRE.md §1, 3 and 4 describe
``langgraph dev``'s answers). State is written here with ``update_state`` and
``supersteps``, or by a LangServe run of the graph on the thread; runs have their own
modules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from protocol_apps import NEW_THREAD_KEYS, protocol_app, refusal, serve_with_lifespan

from chainserve import RemoteRunnable

EMPTY_STATE = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


@pytest.fixture
def url(tmp_path: Path, database: str) -> Iterator[str]:
    with serve_with_lifespan(protocol_app(tmp_path, database)) as base:
        yield base


async def test_create_get_and_if_exists(url: str) -> None:
    client = get_client(url=url)
    thread = await client.threads.create(metadata={"user": "alice", "n": 1})
    assert set(thread) == NEW_THREAD_KEYS
    assert (thread["metadata"], thread["status"], thread["config"]) == (
        {"user": "alice", "n": 1},
        "idle",
        {},
    )
    assert thread["values"] is None
    assert await client.threads.get(thread["thread_id"]) == thread
    chosen = str(uuid.uuid4())
    mine = await client.threads.create(thread_id=chosen, metadata={"v": 1})
    assert mine["thread_id"] == chosen
    again = client.threads.create(thread_id=chosen)
    assert await refusal(again) == (409, f"Thread with ID {chosen} already exists")
    kept = await client.threads.create(thread_id=chosen, metadata={"v": 2}, if_exists="do_nothing")
    assert kept == mine
    assert (await client.threads.create(graph_id="counter"))["metadata"] == {"graph_id": "counter"}
    bad = client.threads.create(thread_id="not-a-uuid")
    assert await refusal(bad) == (422, "Invalid thread ID: must be a UUID")
    unknown = str(uuid.uuid4())
    assert await refusal(client.threads.get(unknown)) == (
        404,
        f"Thread with ID {unknown} not found",
    )
    assert await refusal(client.threads.get("nope")) == (422, "Invalid thread ID: must be a UUID")


async def test_search_and_count(url: str) -> None:
    client = get_client(url=url)
    a = await client.threads.create(metadata={"user": "alice", "tags": ["x", "y"]})
    b = await client.threads.create(
        graph_id="counter",
        supersteps=[{"updates": [{"values": {"count": 2}, "as_node": "reply"}]}],
    )
    c = await client.threads.create(metadata={"user": "bob"})
    ids = [t["thread_id"] for t in (a, b, c)]
    assert [t["thread_id"] for t in await client.threads.search()] == ids[::-1]
    ascending = await client.threads.search(sort_by="created_at", sort_order="asc")
    assert [t["thread_id"] for t in ascending] == ids
    alice = await client.threads.search(metadata={"user": "alice"})
    assert [t["thread_id"] for t in alice] == [a["thread_id"]]
    assert len(await client.threads.search(metadata={"tags": ["y"]})) == 1
    assert len(await client.threads.search(status="idle")) == 3
    assert await client.threads.search(status="busy") == []
    picked = await client.threads.search(ids=[a["thread_id"], c["thread_id"]])
    assert {t["thread_id"] for t in picked} == {a["thread_id"], c["thread_id"]}
    # Threads without values are skipped, not a 500.
    by_values = await client.threads.search(values={"count": 2})
    assert [t["thread_id"] for t in by_values] == [b["thread_id"]]
    assert by_values[0]["values"]["count"] == 2
    selected = await client.threads.search(
        ids=[b["thread_id"]], select=["thread_id", "status"], extract={"cnt": "values.count"}
    )
    assert selected == [{"thread_id": b["thread_id"], "status": "idle", "extracted": {"cnt": 2}}]
    async with httpx.AsyncClient(base_url=url) as raw:
        response = await raw.post("/threads/search", json={"limit": 1, "offset": 1})
        assert len(response.json()) == 1
        assert response.headers["x-pagination-total"] == "3"
        assert response.headers["x-pagination-next"] == "2"
        for bad in ({"status": "bogus"}, {"sort_by": "nope"}, {"ids": ["x"]}, {"select": ["x"]}):
            response = await raw.post("/threads/search", json=bad)
            assert response.status_code == 422, bad
            assert isinstance(response.json()["detail"], str)
        response = await raw.post(
            "/threads/search", content=b"[", headers={"content-type": "application/json"}
        )
        assert response.json() == {"detail": "Invalid JSON in request body"}
    assert await client.threads.count() == 3
    assert await client.threads.count(metadata={"user": "bob"}) == 1
    assert await client.threads.count(values={"count": 2}) == 1
    assert await client.threads.count(status="error") == 0


async def test_update_delete_and_copy(url: str) -> None:
    client = get_client(url=url)
    thread = await client.threads.create(metadata={"user": "alice", "n": 1, "graph_id": "counter"})
    tid = thread["thread_id"]
    updated = await client.threads.update(tid, metadata={"n": 2, "extra": None})
    assert updated["metadata"] == {"user": "alice", "n": 2, "extra": None, "graph_id": "counter"}
    assert updated["updated_at"] > thread["updated_at"]
    unknown = str(uuid.uuid4())
    assert await refusal(client.threads.update(unknown, metadata={})) == (404, "Not Found")

    await client.threads.update_state(tid, {"count": 1}, as_node="reply")
    await client.threads.update_state(tid, {"count": 2}, as_node="reply")
    copied = await client.threads.copy(tid)
    assert copied["thread_id"] != tid and copied["metadata"] == updated["metadata"]
    copy_history = await client.threads.get_history(copied["thread_id"])
    assert [s["values"]["count"] for s in copy_history] == [2, 1]
    assert copy_history[0]["parent_checkpoint_id"] == copy_history[1]["checkpoint_id"]
    assert (await client.threads.get(copied["thread_id"]))["values"]["count"] == 2
    assert (await refusal(client.threads.copy(unknown)))[0] == 404

    assert await client.threads.delete(tid) is None
    assert (await refusal(client.threads.get(tid)))[0] == 404
    assert await refusal(client.threads.delete(tid)) == (404, f"Thread with ID {tid} not found")
    # Its checkpoints went with it: the same id starts empty; the copy kept its own.
    await client.threads.create(thread_id=tid, graph_id="counter")
    assert await client.threads.get_state(tid) == EMPTY_STATE
    assert (await client.threads.get(copied["thread_id"]))["values"]["count"] == 2


async def test_state_update_and_read(url: str) -> None:
    client = get_client(url=url)
    thread = await client.threads.create(graph_id="counter")
    tid = thread["thread_id"]
    assert await client.threads.get_state(tid) == EMPTY_STATE
    assert await client.threads.get_history(tid) == []
    written = await client.threads.update_state(
        tid, {"count": 5, "messages": [{"role": "user", "content": "hi"}]}, as_node="reply"
    )
    reference = {"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": written["checkpoint_id"]}
    assert written == {
        "checkpoint": reference,
        "configurable": reference,
        "checkpoint_id": reference["checkpoint_id"],
    }
    state = await client.threads.get_state(tid)
    assert state["values"]["count"] == 5
    (message,) = state["values"]["messages"]
    assert (message["type"], message["content"]) == ("human", "hi")  # as model_dump() has it
    assert {"additional_kwargs", "response_metadata", "id", "name"} <= set(message)
    assert state["next"] == [] and state["tasks"] == [] and state["interrupts"] == []
    assert state["metadata"] == {
        "graph_id": "counter",
        "source": "update",
        "step": 0,
        "parents": {},
    }
    assert state["checkpoint"] == {
        "checkpoint_id": written["checkpoint_id"],
        "thread_id": tid,
        "checkpoint_ns": "",
    }
    assert state["checkpoint_id"] == written["checkpoint_id"] and state["created_at"]
    fresh = await client.threads.get(tid)
    assert fresh["values"] == state["values"] and fresh["interrupts"] == {}
    assert fresh["error"] is None and fresh["state_updated_at"] > thread["state_updated_at"]
    assert fresh["config"] == {"configurable": {}}

    second = await client.threads.update_state(tid, {"count": 6}, as_node="reply")
    at_first = await client.threads.get_state(tid, checkpoint_id=written["checkpoint_id"])
    assert at_first["values"]["count"] == 5
    by_checkpoint = await client.threads.get_state(tid, checkpoint=reference)
    assert by_checkpoint == at_first
    latest = await client.threads.get_state(tid, subgraphs=True)
    assert latest["values"]["count"] == 6
    assert latest["parent_checkpoint_id"] == written["checkpoint_id"]
    async with httpx.AsyncClient(base_url=url) as raw:  # as RemoteGraph asks
        body = {"checkpoint": {"thread_id": tid}, "subgraphs": False}
        response = await raw.post(f"/threads/{tid}/state/checkpoint", json=body)
        assert response.json()["checkpoint_id"] == second["checkpoint_id"]
    unknown_checkpoint = await client.threads.get_state(tid, checkpoint_id=str(uuid.uuid4()))
    assert unknown_checkpoint == EMPTY_STATE
    # From an older checkpoint: a new branch.
    branched = await client.threads.update_state(
        tid, {"count": 50}, as_node="reply", checkpoint_id=written["checkpoint_id"]
    )
    assert (await client.threads.get_state(tid))["checkpoint_id"] == branched["checkpoint_id"]

    nope = client.threads.update_state(tid, {"count": 1}, as_node="nope")
    assert await refusal(nope) == (400, "Node nope does not exist")
    unknown = str(uuid.uuid4())
    assert (await refusal(client.threads.get_state(unknown)))[0] == 404
    assert (await refusal(client.threads.update_state(unknown, {"count": 1})))[0] == 404
    no_graph = await client.threads.create()
    assert await client.threads.get_state(no_graph["thread_id"]) == EMPTY_STATE
    assert (await refusal(client.threads.update_state(no_graph["thread_id"], {"a": 1})))[0] == 400


async def test_supersteps_and_history(url: str) -> None:
    client = get_client(url=url)
    thread = await client.threads.create(
        graph_id="counter",
        supersteps=[
            {"updates": [{"values": {"count": 5}, "as_node": "__input__"}]},
            {"updates": [{"values": {"count": 6}, "as_node": "reply"}]},
        ],
    )
    tid = thread["thread_id"]
    assert thread["values"]["count"] == 6 and thread["interrupts"] == {}
    await client.threads.update_state(tid, {"count": 7}, as_node="reply")
    history = await client.threads.get_history(tid)
    assert [s["values"].get("count") for s in history] == [7, 6, None]  # newest first
    assert [s["metadata"]["source"] for s in history] == ["update", "update", "input"]
    # The input is not in the state yet: it is the pending __start__ task's.
    assert "count" not in history[2]["values"] and history[2]["next"] == ["__start__"]
    assert history[2]["tasks"][0]["name"] == "__start__"
    assert len(await client.threads.get_history(tid, limit=2)) == 2
    older = await client.threads.get_history(
        tid, before={"configurable": {"checkpoint_id": history[0]["checkpoint_id"]}}
    )
    assert [s["values"].get("count") for s in older] == [6, None]
    # What SDK 0.4.14 sends for before=checkpoint: a checkpoint dict, not a 500.
    older = await client.threads.get_history(
        tid, before={"checkpoint_id": history[1]["checkpoint_id"], "thread_id": tid}
    )
    assert [s["checkpoint_id"] for s in older] == [history[2]["checkpoint_id"]]
    inputs = await client.threads.get_history(tid, metadata={"source": "input"})
    assert [s["checkpoint_id"] for s in inputs] == [history[2]["checkpoint_id"]]
    async with httpx.AsyncClient(base_url=url) as raw:
        response = await raw.get(f"/threads/{tid}/history", params={"limit": 1})
        assert [s["values"]["count"] for s in response.json()] == [7]
        for path, query in (
            ("history", {"limit": "0"}),
            ("history", {"limit": "x"}),
            ("state", {"subgraphs": "maybe"}),
        ):
            response = await raw.get(f"/threads/{tid}/{path}", params=query)
            assert response.status_code == 422 and isinstance(response.json()["detail"], str)
    bad = client.threads.create(
        graph_id="counter", supersteps=[{"updates": [{"values": {}, "as_node": "nope"}]}]
    )
    assert (await refusal(bad))[0] == 400
    assert await client.threads.count() == 1  # the refused thread was not kept


async def test_interrupts_in_thread_and_state(url: str) -> None:
    client = get_client(url=url)
    thread = await client.threads.create(graph_id="ask")
    tid = thread["thread_id"]
    # Runs are not served on the Agent Protocol yet: LangServe's route runs it on the thread.
    remote = RemoteRunnable(f"{url}/ask")
    await remote.ainvoke({"question": "q"}, config={"configurable": {"thread_id": tid}})
    state = await client.threads.get_state(tid)
    assert state["values"] == {"question": "q"} and state["next"] == ["ask"]
    (task,) = state["tasks"]
    assert (task["name"], task["path"], task["error"], task["result"]) == (
        "ask",
        ["__pregel_pull", "ask"],
        None,
        None,
    )
    (interrupted,) = task["interrupts"]
    assert interrupted["value"] == {"question": "ok?"} and interrupted["id"]
    assert state["interrupts"] == [interrupted]
    fresh = await client.threads.get(tid)
    assert fresh["interrupts"] == {task["id"]: [interrupted]}


def test_the_sync_client(url: str) -> None:
    client = get_sync_client(url=url)
    thread = client.threads.create(graph_id="counter", metadata={"k": "v"})
    client.threads.update_state(thread["thread_id"], {"count": 3}, as_node="reply")
    assert client.threads.get_state(thread["thread_id"])["values"]["count"] == 3
    assert client.threads.search(metadata={"k": "v"})[0]["thread_id"] == thread["thread_id"]
    assert client.threads.count() == 1
    client.threads.delete(thread["thread_id"])
    assert client.threads.count() == 0


def test_threads_and_their_state_survive_a_restart(tmp_path: Path) -> None:
    with serve_with_lifespan(protocol_app(tmp_path)) as url:
        client = get_sync_client(url=url)
        thread = client.threads.create(graph_id="counter", metadata={"kept": True})
        client.threads.update_state(thread["thread_id"], {"count": 9}, as_node="reply")
    with serve_with_lifespan(protocol_app(tmp_path)) as url:
        client = get_sync_client(url=url)
        found = client.threads.get(thread["thread_id"])
        assert found["metadata"] == {"graph_id": "counter", "kept": True}
        assert found["values"]["count"] == 9
        assert len(client.threads.get_history(thread["thread_id"])) == 1
