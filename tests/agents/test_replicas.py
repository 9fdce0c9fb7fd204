"""Replicas: several real ``chainserve serve`` processes on one Postgres database, each
answering any request about any run (issue 15), through the official SDK."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))  # tests/cli's helpers
from langgraph_sdk import get_client
from langgraph_sdk.errors import ConflictError
from running import START_TIMEOUT, Server, serving

# ``relay`` appends "<label>:1" then "<label>:2" to the thread's ``done``, a node each;
# ``stuck`` stalls until cancelled, noting "<what> <pid>" in stalls.log.
GRAPHS = """
import asyncio
import operator
import os
from pathlib import Path
from typing import Annotated

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    label: str
    done: Annotated[list[str], operator.add]


def step(number):
    async def node(state: State) -> dict:
        await asyncio.sleep(0.02)
        return {"done": [f"{state['label']}:{number}"]}

    return node


relaying = StateGraph(State)
relaying.add_node("first", step(1))
relaying.add_node("second", step(2))
relaying.add_edge(START, "first")
relaying.add_edge("first", "second")
relay = relaying.compile()


def note(what):
    with Path(__file__).with_name("stalls.log").open("a") as log:
        log.write(f"{what} {os.getpid()}\\n")


async def stall(state: State) -> dict:
    note("start")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        note("cancelled")
        raise
    return {}


stalling = StateGraph(State)
stalling.add_node("stall", stall)
stalling.add_edge(START, "stall")
stuck = stalling.compile()
"""
LANGGRAPH_JSON = {"graphs": {"relay": "./graphs.py:relay", "stuck": "./graphs.py:stuck"}}
A_RUN = ["metadata", "values", "values", "values"]  # relay's events: its input, two nodes


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "graphs.py").write_text(GRAPHS)
    (tmp_path / "langgraph.json").write_text(json.dumps(LANGGRAPH_JSON))
    return tmp_path


@contextlib.contextmanager
def replicas(project: Path, database: str, count: int, *options: str) -> Iterator[list[Server]]:
    """``count`` servers of ``project`` on ``database``."""
    args = ["serve", "langgraph.json", "--database", database, *options]
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(serving(args, cwd=project)) for _ in range(count)]


def stalls(project: Path) -> list[tuple[str, int]]:
    log = project / "stalls.log"
    lines = log.read_text().split("\n") if log.exists() else []
    return [(what, int(pid)) for what, pid in (line.split() for line in lines if line)]


async def until(check: Callable[[], Any], server: Server) -> None:
    """Wait until ``check()`` (awaited, if it is a coroutine function) is true."""
    deadline = time.monotonic() + START_TIMEOUT  # a bound on waiting, not a speed check
    while not (await check() if inspect.iscoroutinefunction(check) else check()):
        assert time.monotonic() < deadline, server.output()
        await asyncio.sleep(0.05)


async def _joined(
    client: Any, thread: str, run_id: str, room: asyncio.Semaphore | None = None
) -> list[Any]:
    """The run's events from its first, joined through ``client`` (when ``room`` has
    room: a client's connections are bounded)."""
    async with room or contextlib.nullcontext():
        stream = client.runs.join_stream(thread, run_id, last_event_id="-1")
        return [part async for part in stream]


THREADS = 6
RUNS_PER_THREAD = 40  # 240 runs, half of them created while all three replicas run


async def test_replicas_share_runs_and_a_killed_one_loses_none(
    project: Path, postgres_server: Any
) -> None:
    database = postgres_server.database()
    with replicas(project, database, 3, "--lost-runs", "retry") as servers:
        clients = [get_client(url=server.base_url) for server in servers]
        threads = [(await clients[0].threads.create())["thread_id"] for _ in range(THREADS)]
        made: dict[str, tuple[str, int, str]] = {}  # run id: thread, creator, label
        joins: dict[str, asyncio.Task[list[Any]]] = {}
        room = asyncio.Semaphore(32)

        async def submit(t: int, runs: range, alive: int) -> None:
            for k in runs:  # one at a time per thread: their order is the thread's
                creator = (t + k) % alive
                label = f"{t}-{k}"
                run = await clients[creator].runs.create(
                    threads[t], "relay", input={"label": label}, stream_resumable=True
                )
                made[run["run_id"]] = (threads[t], creator, label)
                joiner = 1 if creator == 0 else 0  # another replica, never the one killed
                joins[run["run_id"]] = asyncio.create_task(
                    _joined(clients[joiner], threads[t], run["run_id"], room)
                )

        half = RUNS_PER_THREAD // 2
        await asyncio.gather(*(submit(t, range(half), 3) for t in range(THREADS)))
        on_c = {rid for rid, (_, creator, _) in made.items() if creator == 2}

        async def c_runs_one() -> bool:
            running = await clients[0].runs.list(threads[0], status="running")
            for thread in threads[1:]:
                running += await clients[0].runs.list(thread, status="running")
            return any(run["run_id"] in on_c for run in running)

        await until(c_runs_one, servers[2])
        servers[2].stop(signal.SIGKILL)  # with runs pending and one running
        await asyncio.gather(*(submit(t, range(half, RUNS_PER_THREAD), 2) for t in range(THREADS)))
        done, _ = await asyncio.wait(joins.values(), timeout=120)
        assert len(done) == len(joins), servers[0].output() + servers[1].output()

        for t, thread in enumerate(threads):  # every run's effect once, in order
            state = await clients[1].threads.get_state(thread)
            labels = [f"{t}-{k}:{n}" for k in range(RUNS_PER_THREAD) for n in (1, 2)]
            assert state["values"]["done"] == labels
            runs = await clients[1].runs.list(thread, limit=RUNS_PER_THREAD + 1)
            assert {run["status"] for run in runs} == {"success"}
            assert len(runs) == RUNS_PER_THREAD

        retried = 0
        for run_id, (_, creator, label) in made.items():
            parts = joins[run_id].result()
            ids = [part.id for part in parts]
            assert len(set(ids)) == len(ids) and None not in ids  # none twice
            events = [part.event for part in parts]
            starts = [i for i, event in enumerate(events) if event == "metadata"]
            attempts = [parts[i].data["attempt"] for i in starts]
            # Increasing; the killed replica's last events (a whole attempt, maybe) may
            # have died with it, unwritten: then nobody saw them.
            assert attempts == sorted(set(attempts)) and attempts[0] >= 1
            assert events[starts[-1] :] == A_RUN  # the attempt that ended, whole
            assert parts[-1].data["done"][-2:] == [f"{label}:1", f"{label}:2"]
            if creator != 2:
                assert events == A_RUN  # executed once, joined from another replica
            retried += attempts[-1] > 1
        assert retried >= 1  # the run C was executing started again elsewhere


async def test_a_cancel_through_one_replica_stops_the_node_on_another(
    project: Path, postgres_server: Any
) -> None:
    with replicas(project, postgres_server.database(), 2) as (a, b):
        on_a, on_b = get_client(url=a.base_url), get_client(url=b.base_url)
        thread = (await on_a.threads.create())["thread_id"]
        run = await on_a.runs.create(thread, "stuck", input={"label": "x"})
        await until(lambda: stalls(project), a)
        assert stalls(project) == [("start", a.process.pid)]
        await on_b.runs.cancel(thread, run["run_id"], wait=True)
        assert stalls(project)[-1] == ("cancelled", a.process.pid)
        assert (await on_b.runs.get(thread, run["run_id"]))["status"] == "interrupted"
        assert (await on_b.threads.get(thread))["status"] == "interrupted"


async def test_last_event_id_resumes_a_run_of_another_replica(
    project: Path, postgres_server: Any
) -> None:
    with replicas(project, postgres_server.database(), 2) as (a, b):
        on_a, on_b = get_client(url=a.base_url), get_client(url=b.base_url)
        thread = (await on_a.threads.create())["thread_id"]
        run = await on_a.runs.create(thread, "relay", input={"label": "x"}, stream_resumable=True)
        first = [part async for part in on_a.runs.join_stream(thread, run["run_id"])]
        if not first:  # it ended before the join: its events are kept
            first = await _joined(on_a, thread, run["run_id"])
        whole = await _joined(on_b, thread, run["run_id"])
        assert [part.event for part in whole] == A_RUN
        assert first == whole[-len(first) :]  # A's live join: the same events, ids
        after = on_b.runs.join_stream(thread, run["run_id"], last_event_id=whole[1].id)
        assert [part async for part in after] == whole[2:]
        assert (await on_b.runs.join(thread, run["run_id"]))["done"] == ["x:1", "x:2"]


async def test_sigterm_hands_back_runs_to_another_replica(
    project: Path, postgres_server: Any
) -> None:
    database = postgres_server.database()
    options = ["--lost-runs", "retry", "--max-concurrent-runs", "1"]
    with replicas(project, database, 2, *options) as (a, b):
        on_a, on_b = get_client(url=a.base_url), get_client(url=b.base_url)
        stuck_thread, waiting_thread = [(await on_a.threads.create())["thread_id"] for _ in "12"]
        stuck = await on_a.runs.create(stuck_thread, "stuck", input={"label": "s"})
        await until(lambda: stalls(project), a)
        waiting = await on_a.runs.create(waiting_thread, "relay", input={"label": "w"})
        assert (await on_a.runs.get(waiting_thread, waiting["run_id"]))["status"] == "pending"
        a.process.send_signal(signal.SIGTERM)
        # The run not started goes to B at once; the stuck one after the drain.
        assert (await on_b.runs.join(waiting_thread, waiting["run_id"]))["done"] == ["w:1", "w:2"]
        assert a.process.wait(timeout=60) == 0
        await until(lambda: len(stalls(project)) == 3, b)
        assert stalls(project) == [
            ("start", a.process.pid),
            ("cancelled", a.process.pid),
            ("start", b.process.pid),
        ]
        record = await on_b.runs.get(stuck_thread, stuck["run_id"])
        assert record["status"] == "running"
        await on_b.runs.cancel(stuck_thread, stuck["run_id"], wait=True)
        assert stalls(project)[-1] == ("cancelled", b.process.pid)
        assert (await on_b.runs.get(stuck_thread, stuck["run_id"]))["status"] == "interrupted"


async def test_multitask_strategies_hold_across_replicas(
    project: Path, postgres_server: Any
) -> None:
    with replicas(project, postgres_server.database(), 2) as (a, b):
        on_a, on_b = get_client(url=a.base_url), get_client(url=b.base_url)
        thread = (await on_a.threads.create())["thread_id"]
        stuck = await on_a.runs.create(thread, "stuck", input={"label": "s"})
        await until(lambda: stalls(project), a)
        with pytest.raises(ConflictError):
            await on_b.runs.create(
                thread, "relay", input={"label": "r"}, multitask_strategy="reject"
            )
        assert (await on_b.runs.get(thread, stuck["run_id"]))["status"] == "running"
        run = await on_b.runs.create(
            thread, "relay", input={"label": "i"}, multitask_strategy="interrupt"
        )
        assert (await on_b.runs.join(thread, run["run_id"]))["done"] == ["i:1", "i:2"]
        assert stalls(project) == [("start", a.process.pid), ("cancelled", a.process.pid)]
        assert (await on_a.runs.get(thread, stuck["run_id"]))["status"] == "interrupted"
        assert len(await on_a.runs.list(thread)) == 2  # the rejected one was never made


async def test_a_rollback_through_one_replica_undoes_the_run_on_another(
    project: Path, postgres_server: Any
) -> None:
    with replicas(project, postgres_server.database(), 2) as (a, b):
        on_a, on_b = get_client(url=a.base_url), get_client(url=b.base_url)
        thread = (await on_a.threads.create())["thread_id"]
        await on_a.runs.wait(thread, "relay", input={"label": "kept"})
        stuck = await on_a.runs.create(thread, "stuck", input={"label": "gone"})
        await until(lambda: stalls(project), a)
        run = await on_b.runs.create(
            thread, "relay", input={"label": "r"}, multitask_strategy="rollback"
        )
        assert (await on_b.runs.join(thread, run["run_id"]))["done"] == [
            "kept:1",
            "kept:2",
            "r:1",
            "r:2",
        ]
        assert stalls(project) == [("start", a.process.pid), ("cancelled", a.process.pid)]
        ids = [r["run_id"] for r in await on_a.runs.list(thread)]
        assert len(ids) == 2 and ids[0] == run["run_id"]  # the rolled back run: deleted
        assert stuck["run_id"] not in ids
