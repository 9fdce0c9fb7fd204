"""The Agent Protocol's runs over a loopback server, through the official client
``langgraph_sdk`` and LangGraph's ``RemoteGraph`` (WIRE.md §5, §6 and §7)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import APIStatusError
from protocol_apps import Slow, refusal, runs_app, serve_with_lifespan, stream_events

from chainserve.agents import _execution, _processes, _runs, _storage
from chainserve.agents._storage import SqliteStorage


@pytest.fixture
def url(runs_url: str) -> str:
    return runs_url


async def test_wait_on_a_thread_updates_run_and_thread(url: str) -> None:
    client = get_client(url=url)
    thread = await client.threads.create(metadata={"purpose": "t"})
    tid = thread["thread_id"]
    assert await client.runs.wait(tid, "inc", input={"count": 1}) == {"count": 2}
    assert await client.runs.wait(tid, "inc", input={"count": 10}) == {"count": 11}
    got = await client.threads.get(tid)
    assert got["status"] == "idle"
    assert got["values"] == {"count": 11}
    assert got["metadata"]["graph_id"] == "inc"
    assert got["metadata"]["purpose"] == "t"
    runs = await client.runs.list(tid)
    assert [run["status"] for run in runs] == ["success", "success"]
    selected = await client.runs.list(tid, select=["run_id", "status"], limit=1)
    assert selected == [{"run_id": runs[0]["run_id"], "status": "success"}]
    assert runs[0]["metadata"]["graph_id"] == "inc"
    assert runs[0]["kwargs"]["input"] == {"count": 10}


async def test_stateless_wait_and_failure(url: str) -> None:
    client = get_client(url=url)
    assert await client.runs.wait(None, "inc", input={"count": 4}) == {"count": 5}
    failed = await client.runs.wait(None, "inc", input={"count": -1}, raise_error=False)
    assert failed == {"__error__": {"error": "ValueError", "message": "negative count"}}
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "inc", input={"count": -1}, raise_error=False)
    assert (await client.threads.get(thread["thread_id"]))["status"] == "error"
    assert await client.threads.search() == [await client.threads.get(thread["thread_id"])]


async def test_interrupt_then_resume(url: str) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.wait(tid, "ask", input={"question": "q"})
    assert first["question"] == "q"
    assert first["__interrupt__"][0]["value"] == {"question": "ok?"}
    thread = await client.threads.get(tid)
    assert thread["status"] == "interrupted"
    assert (await client.runs.list(tid))[0]["status"] == "interrupted"
    second = await client.runs.wait(tid, "ask", command={"resume": {"ok": True}})
    assert second == {"question": "q", "answer": {"ok": True}}
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_interrupt_before(url: str) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    result = await client.runs.wait(tid, "inc", input={"count": 1}, interrupt_before=["inc"])
    assert result == {"count": 1}
    assert (await client.threads.get(tid))["status"] == "interrupted"
    assert await client.runs.wait(tid, "inc", input=None) == {"count": 2}


async def test_errors(url: str, slow: Slow) -> None:
    client = get_client(url=url)
    missing = "00000000-0000-0000-0000-000000000000"
    assert await refusal(client.runs.wait(missing, "inc", input={})) == (
        404,
        "Thread or assistant not found.",
    )
    tid = (await client.threads.create())["thread_id"]
    assert (await refusal(client.runs.wait(tid, missing, input={})))[0] == 404
    status, detail = await refusal(client.runs.wait(tid, "nope", input={}))
    assert status == 422
    assert detail.startswith("Invalid assistant: 'nope'")
    bad = client.runs.stream(tid, "inc", input={}, stream_mode="bogus")  # type: ignore[arg-type]
    with pytest.raises((APIStatusError, httpx.HTTPStatusError)) as caught:
        async for _ in bad:
            pass
    assert caught.value.response.status_code == 422
    await client.runs.create(tid, "slow", input={"count": 0})
    rejected = client.runs.create(tid, "slow", input={}, multitask_strategy="reject")
    assert (await refusal(rejected))[0] == 409
    slow.release.set()


async def test_if_not_exists_creates_the_thread(url: str) -> None:
    client = get_client(url=url)
    tid = "5b9a1f4e-8f0e-4c59-9d0e-7d6a2f6b1c3a"
    result = await client.runs.wait(tid, "inc", input={"count": 0}, if_not_exists="create")
    assert result == {"count": 1}
    assert (await client.threads.get(tid))["values"] == {"count": 1}


async def test_stream_values_updates_custom(url: str) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    modes = ["values", "updates", "custom"]
    events = await stream_events(client, tid, "inc", input={"count": 1}, stream_mode=modes)
    assert events[0][0] == "metadata"
    assert set(events[0][1]) == {"run_id", "attempt"}
    assert events[1:] == [
        ("values", {"count": 1}),
        ("custom", {"progress": "start", "count": 1}),
        ("updates", {"inc": {"count": 2}}),
        ("values", {"count": 2}),
    ]
    stateless = await stream_events(client, None, "inc", input={"count": 5})
    assert [event for event, _ in stateless] == ["metadata", "values", "values"]


async def test_stream_other_modes(url: str) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    modes = ["tasks", "checkpoints", "debug", "messages-tuple"]
    events = await stream_events(
        client, tid, "counter", input={"messages": "hi"}, stream_mode=modes
    )
    names = [event for event, _ in events]
    assert names.count("checkpoints") == 3
    assert names.count("tasks") == 2
    assert "debug" in names
    tuples = [data for event, data in events if event == "messages"]
    assert tuples[0][0]["content"] == "reply 1 to hi"
    partial = await stream_events(
        client, tid, "counter", input={"messages": "x"}, stream_mode="messages"
    )
    assert [event for event, _ in partial] == [
        "metadata",
        "messages/metadata",
        "messages/complete",
    ]
    assert partial[2][1][0]["content"] == "reply 2 to x"


async def test_stream_subgraphs_and_interrupt(url: str) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    events = await stream_events(
        client, tid, "parent", input={"messages": "a"}, stream_mode="updates", stream_subgraphs=True
    )
    names = [event for event, _ in events]
    assert names[:2] == ["metadata", "updates"]
    assert names[2].startswith("updates|child:")
    assert names[3] == "updates"
    tid = (await client.threads.create())["thread_id"]
    asked = await stream_events(client, tid, "ask", input={"question": "q"}, stream_mode="values")
    assert asked[-1][1]["__interrupt__"][0]["value"] == {"question": "ok?"}
    failing = await stream_events(client, None, "inc", input={"count": -3})
    assert failing[-1] == ("error", {"error": "ValueError", "message": "negative count"})


async def test_background_create_join_and_resumable_stream(url: str, slow: Slow) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"count": 3}, stream_resumable=True)
    assert run["status"] == "pending"
    assert (await client.threads.get(tid))["status"] == "busy"
    slow.release.set()
    assert await client.runs.join(tid, run["run_id"]) == {"count": 4}
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    replay = [
        part.event async for part in client.runs.join_stream(tid, run["run_id"], last_event_id="-1")
    ]
    assert replay == ["metadata", "values", "values"]


async def test_cancel_reaches_the_node(url: str, slow: Slow) -> None:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"count": 1})
    await slow.until_started()
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert slow.cancelled.is_set()
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get(tid))["status"] == "interrupted"
    missing = client.runs.cancel(tid, run["run_id"])
    assert (await refusal(missing))[0] == 404


def test_sync_client_and_remote_graph(url: str) -> None:
    client = get_sync_client(url=url)
    tid = client.threads.create()["thread_id"]
    assert client.runs.wait(tid, "inc", input={"count": 7}) == {"count": 8}
    remote = RemoteGraph("ask", url=url)
    config = {"configurable": {"thread_id": tid}}
    remote.invoke({"question": "q"}, config)
    assert remote.get_state(config).next == ("ask",)
    chunks = list(remote.stream(Command(resume="yes"), config))
    assert {"ask": {"answer": "yes"}} in chunks
    assert remote.get_state(config).values == {"question": "q", "answer": "yes"}


def test_restart_marks_a_running_run_as_error(tmp_path: Path, slow: Slow) -> None:
    with serve_with_lifespan(runs_app(tmp_path, slow)) as base:
        client = get_sync_client(url=base)
        tid = client.threads.create()["thread_id"]
        run = client.runs.create(tid, "slow", input={"count": 1})
        assert slow.started.wait(10)
    with serve_with_lifespan(runs_app(tmp_path, slow)) as base:
        client = get_sync_client(url=base)
        assert client.runs.get(tid, run["run_id"])["status"] == "error"
        assert client.threads.get(tid)["status"] == "error"


def test_startup_fails_the_runs_a_dead_process_left_running(tmp_path: Path, slow: Slow) -> None:
    """Runs left ``running`` by a process that is gone fail at startup; those of another
    worker process that still runs are left to it."""
    stamp = "2026-01-01T00:00:00+00:00"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    owners = {
        "none": None,
        "dead": str(dead.pid),
        "alive": str(alive.pid),
        "reused": f"{alive.pid}:1",  # its pid, but a process that started long before
        "started": _processes._process(alive.pid),  # as an older release recorded it
        "here": f"{_processes.host()}/{_processes._process(alive.pid)}",  # as runs record it
        "gone_here": f"{_processes.host()}/{dead.pid}",
        # On another host (a replica sharing a Postgres): only its lease tells.
        "elsewhere": "otherhost-1234abcd/123:456",
        "elsewhere_expired": "otherhost-1234abcd/124:456",
    }
    leases = {"elsewhere": "2999-01-01T00:00:00+00:00", "elsewhere_expired": stamp}
    ids = {name: (str(uuid.uuid4()), str(uuid.uuid4())) for name in owners}

    async def leave_running() -> None:  # what killed (or living) servers leave behind
        storage = SqliteStorage(str(tmp_path / "db.sqlite"))
        for name, (tid, rid) in ids.items():
            thread = {"thread_id": tid, "created_at": stamp, "updated_at": stamp}
            thread.update(state_updated_at=stamp, metadata={}, status="busy", config={})
            await storage.put_thread(thread)
            run = {"run_id": rid, "thread_id": tid, "assistant_id": "a", "metadata": {}}
            run.update(status="running", kwargs={}, multitask_strategy="enqueue", error=None)
            run.update(created_at=stamp, updated_at=stamp, owner=owners[name])
            run["lease_until"] = leases.get(name)
            await storage.put_run(run)
        await storage.close()

    try:
        asyncio.run(leave_running())
        with serve_with_lifespan(runs_app(tmp_path, slow)) as base:
            client = get_sync_client(url=base)
            statuses = {
                name: (client.runs.get(tid, rid)["status"], client.threads.get(tid)["status"])
                for name, (tid, rid) in ids.items()
            }
    finally:
        alive.kill()
        alive.wait()
    assert statuses == {
        "none": ("error", "error"),
        "dead": ("error", "error"),
        "alive": ("running", "busy"),
        "reused": ("error", "error"),
        "started": ("running", "busy"),
        "here": ("running", "busy"),
        "gone_here": ("error", "error"),
        "elsewhere": ("running", "busy"),
        "elsewhere_expired": ("error", "error"),
    }


def test_leases_are_renewed_and_a_silent_owner_s_runs_fail(
    tmp_path: Path, slow: Slow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the server runs, its runs' leases are renewed; a run of another host whose
    owner stops renewing (a replica killed) fails once its lease has expired."""
    monkeypatch.setattr(_execution, "LEASE_SECONDS", 0.6)
    monkeypatch.setattr(_runs, "LEASE_SECONDS", 0.6)
    database = tmp_path / "db.sqlite"

    def lease_and_status(run_id: str) -> tuple[str, str]:
        with contextlib.closing(sqlite3.connect(database)) as db:
            row = db.execute("SELECT lease_until, status FROM runs WHERE run_id = ?", [run_id])
            return row.fetchone()

    with serve_with_lifespan(runs_app(tmp_path, slow)) as base:
        client = get_sync_client(url=base)
        mine = client.runs.create(None, "slow", input={"count": 1}, on_completion="keep")
        tid = client.threads.create()["thread_id"]
        theirs = str(uuid.uuid4())
        with contextlib.closing(sqlite3.connect(database)) as db, db:  # a replica's run
            db.execute(
                "INSERT INTO runs (run_id, thread_id, assistant_id, metadata, status, kwargs,"
                " multitask_strategy, created_at, updated_at, owner, lease_until)"
                " VALUES (?, ?, 'a', '{}', 'running', '{}', 'enqueue', ?, ?, ?, ?)",
                [theirs, tid, *[_storage.now()] * 2, "otherhost-1234abcd/1:2", _storage.now(1)],
            )
        first = lease_and_status(mine["run_id"])[0]
        deadline = time.monotonic() + 20  # a bound on waiting, not a speed check
        while lease_and_status(theirs)[1] != "error":
            assert time.monotonic() < deadline, "the silent owner's run never failed"
            time.sleep(0.05)
        thread = client.threads.get(tid)
        assert thread["status"] == "error", thread
        while lease_and_status(mine["run_id"])[0] == first:  # renewed, not failed
            assert time.monotonic() < deadline, "the live run's lease was never renewed"
            time.sleep(0.05)
        assert lease_and_status(mine["run_id"])[1] == "running"
        client.runs.cancel(mine["thread_id"], mine["run_id"])


def test_a_database_of_the_first_release_gets_the_new_columns(tmp_path: Path, slow: Slow) -> None:
    """Threads had no ``error`` column and runs no ``owner``: both are added at startup,
    and what the file held is kept."""
    tid, rid, stamp = str(uuid.uuid4()), str(uuid.uuid4()), "2026-01-01T00:00:00+00:00"
    with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite")) as db, db:
        db.execute(
            "CREATE TABLE threads (thread_id TEXT PRIMARY KEY, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, state_updated_at TEXT NOT NULL, metadata TEXT NOT NULL,"
            " status TEXT NOT NULL, config TEXT NOT NULL)"
        )
        db.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL,"
            " assistant_id TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL,"
            " kwargs TEXT NOT NULL, multitask_strategy TEXT NOT NULL, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, error TEXT)"
        )
        db.execute(
            "INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, ?)",
            [tid, stamp, stamp, stamp, '{"graph_id": "inc"}', "idle", "{}"],
        )
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [rid, tid, "a", "{}", "success", "{}", "enqueue", stamp, stamp, None],
        )
    with serve_with_lifespan(runs_app(tmp_path, slow)) as base:
        client = get_sync_client(url=base)
        assert client.threads.get(tid)["metadata"] == {"graph_id": "inc"}
        assert [run["run_id"] for run in client.runs.list(tid)] == [rid]
        assert client.runs.wait(tid, "inc", input={"count": 1}) == {"count": 2}
        assert len(client.runs.list(tid)) == 2 and "owner" not in client.runs.list(tid)[0]
