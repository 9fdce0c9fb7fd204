"""``chainserve serve`` on a LangGraph project, through the real command: threads that
outlive the process, the json path form, workers, reload, and one-line errors."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))  # tests/cli's helpers
from langgraph_sdk import get_sync_client
from running import MODULE, START_TIMEOUT, UVICORN_STARTED, Server, environment, run

from chainserve import RemoteRunnable

# A graph as users write one: a state, a node, no checkpointer; the node's reply text
# comes from a sibling module (found through "dependencies") and the project's env.
COUNTER = """
import asyncio
import os
from pathlib import Path
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableLambda
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

from replies import reply


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    count: int


def step(state: State) -> dict:
    count = state.get("count", 0) + 1
    return {"count": count, "messages": [AIMessage(reply(count))]}


builder = StateGraph(State)
builder.add_node("step", step)
builder.add_edge(START, "step")
graph = builder.compile()
echo = RunnableLambda(lambda text: text)


def note(what):  # the order the stalling nodes start and end in, for the tests
    with Path(__file__).with_name("stalls.log").open("a") as log:
        log.write(what + "\\n")


async def stall(state: State) -> dict:
    note("start")
    Path(__file__).with_name("stalled").touch()  # the test's sign that the node runs
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
REPLIES = """
import os

def reply(count):
    return f"{os.environ['REPLY_WORD']} {count} from {os.getpid()}"
"""
LANGGRAPH_JSON = {
    "dependencies": ["."],
    "graphs": {
        "counter": "./counter.py:graph",
        "echo": "./counter.py:echo",
        "stuck": "./counter.py:stuck",
    },
    "env": {"REPLY_WORD": "reply"},
}


def _write_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counter.py").write_text(COUNTER)
    (folder / "replies.py").write_text(REPLIES)
    (folder / "langgraph.json").write_text(json.dumps(LANGGRAPH_JSON))
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_project(tmp_path_factory.mktemp("project"))


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A current folder that is not the project's."""
    return tmp_path


@contextlib.contextmanager
def serving(args: Sequence[str], cwd: Path) -> Iterator[Server]:
    """Start ``chainserve serve ARGS --port 0`` in ``cwd``; yield once it answers HTTP,
    at the address its banner names."""
    log = cwd / f"server-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*MODULE, "serve", *args, "--port", "0"],
            cwd=cwd,
            env=environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_until_up(process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _wait_until_up(process: subprocess.Popen, log: Path) -> Server:
    deadline = time.monotonic() + START_TIMEOUT  # a bound on waiting, not a speed check
    while True:
        banner = re.search(r" on (http://127\.0\.0\.1:\d+) ", log.read_text())
        if banner:
            try:
                httpx.get(f"{banner[1]}/openapi.json", timeout=5)
                return Server(process, banner[1], log)
            except httpx.TransportError:
                pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.1)


def _on_thread(server: Server, thread: str) -> RemoteRunnable:
    remote = RemoteRunnable(f"{server.base_url}/counter")
    return remote.with_config(configurable={"thread_id": thread})  # type: ignore[return-value]


def _say(server: Server, thread: str) -> tuple[int, str]:
    """Say hi on ``thread``; the count the graph reached and its reply."""
    state = _on_thread(server, thread).invoke({"messages": [("user", "hi")]})
    return state["count"], state["messages"][-1].content


def test_a_thread_continues_after_the_server_restarts(project: Path) -> None:
    with serving([], cwd=project) as server:  # `chainserve serve` in the project's folder
        first, second = _say(server, "restart"), _say(server, "restart")
        assert server.stop(signal.SIGTERM) == 0
    assert (first[0], second[0]) == (1, 2)
    assert first[1].startswith("reply 1 from ")  # env and sibling module at work
    banner = server.output()
    for graph_id in ("counter", "echo"):
        assert f"{server.base_url}/{graph_id}/playground/" in banner
    database = project.resolve() / ".chainserve" / "chainserve.sqlite"
    assert f"database:    sqlite:///{database}" in banner
    assert database.is_file()
    with serving([], cwd=project) as server:
        assert _say(server, "restart")[0] == 3
        assert server.stop(signal.SIGTERM) == 0


def _stall_a_run(server: Server, project: Path) -> tuple[str, str]:
    """Start a background run of ``stuck`` on a thread that has a turn of ``counter``;
    return once its node runs."""
    client = get_sync_client(url=server.base_url)
    thread = client.threads.create()["thread_id"]
    client.runs.wait(thread, "counter", input={"messages": [("user", "hi")]})
    (project / "stalled").unlink(missing_ok=True)
    run = client.runs.create(thread, "stuck", input={"messages": [("user", "wait")]})
    _wait_for(project / "stalled", server)
    assert client.runs.get(thread, run["run_id"])["status"] == "running"
    return thread, run["run_id"]


def _wait_for(file: Path, server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT  # a bound on waiting, not a speed check
    while not file.exists():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("sig", "reason"), [(signal.SIGKILL, "ServerRestart"), (signal.SIGTERM, "ServerShutdown")]
)
def test_a_run_the_server_stopped_during_is_failed_not_left_running(
    tmp_path: Path, sig: signal.Signals, reason: str
) -> None:
    project = _write_project(tmp_path / "project")
    with serving([], cwd=project) as server:
        thread, run_id = _stall_a_run(server, project)
        server.stop(sig)
    with serving([], cwd=project) as server:
        client = get_sync_client(url=server.base_url)
        assert client.runs.get(thread, run_id)["status"] == "error"
        failure = client.runs.join(thread, run_id)["__error__"]
        assert failure == {"error": reason, "message": "the server stopped during the run"}
        record = client.threads.get(thread)
        assert (record["status"], record["error"]) == ("error", failure)
        assert record["values"]["count"] == 1  # the turn before it is kept
        state = client.runs.wait(thread, "counter", input={"messages": [("user", "again")]})
        assert state["count"] == 2 and client.threads.get(thread)["status"] == "idle"
        assert server.stop(signal.SIGTERM) == 0


def test_max_concurrent_runs_bounds_the_runs_executing_at_once(tmp_path: Path) -> None:
    project = _write_project(tmp_path / "project")
    with serving(["--max-concurrent-runs", "1"], cwd=project) as server:
        first_thread, first_run = _stall_a_run(server, project)
        client = get_sync_client(url=server.base_url)
        second_thread = client.threads.create()["thread_id"]
        (project / "stalled").unlink()
        (project / "stalls.log").unlink()
        second = client.runs.create(second_thread, "stuck", input={})
        assert client.runs.get(second_thread, second["run_id"])["status"] == "pending"
        client.runs.cancel(first_thread, first_run, wait=True)
        _wait_for(project / "stalled", server)  # the second run got the free place
        assert client.runs.get(second_thread, second["run_id"])["status"] == "running"
        assert server.stop(signal.SIGTERM) == 0
    # The second run's node started only once the first one's had ended (without the
    # bound it starts as soon as it is created: "start" would come before "cancelled").
    assert (project / "stalls.log").read_text().split() == ["cancelled", "start", "cancelled"]
    assert "runs:        at most 1 at once per process; lost runs: fail" in server.output()


def test_the_json_path_serves_the_project_from_another_folder(
    project: Path, elsewhere: Path
) -> None:
    with serving([str(project / "langgraph.json")], cwd=elsewhere) as server:
        assert [_say(server, "path")[0], _say(server, "path")[0]] == [1, 2]
        echo = httpx.post(f"{server.base_url}/echo/invoke", json={"input": "hi"}, timeout=30)
        assert echo.json()["output"] == "hi"
        assert server.stop(signal.SIGTERM) == 0
    assert f"serving {project / 'langgraph.json'} on" in server.output()
    assert not (elsewhere / ".chainserve").exists()  # the threads live beside the json
    assert (project / ".chainserve" / "chainserve.sqlite").is_file()


def test_workers_share_the_threads_of_the_database_given(project: Path, elsewhere: Path) -> None:
    args = [str(project / "langgraph.json"), "--workers", "2"]
    with serving([*args, "--database", "sqlite:///elsewhere.sqlite"], cwd=elsewhere) as server:
        workers = server.wait_for_pids(UVICORN_STARTED, 2)
        counts: list[int] = []
        answered: set[int] = set()
        while answered != workers and len(counts) < 100:  # each call on a new connection
            count, text = _say(server, "workers")
            counts.append(count)
            answered.add(int(text.rsplit(" ", 1)[1]))
        assert server.stop(signal.SIGTERM) == 0
    assert answered == workers, "one worker answered every call"
    assert counts == list(range(1, len(counts) + 1))  # one thread, whichever worker ran it
    assert (elsewhere / "elsewhere.sqlite").is_file()
    assert "database:    sqlite:///elsewhere.sqlite" in server.output()


def test_reload_serves_the_edited_graph_on_the_same_thread(tmp_path: Path) -> None:
    project = _write_project(tmp_path / "project")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with serving([str(project / "langgraph.json"), "--reload"], cwd=cwd) as server:
        assert _say(server, "reload")[1].startswith("reply 1")
        replies = project / "replies.py"  # watched although it is not in the current folder
        replies.write_text(REPLIES.replace("os.environ['REPLY_WORD']", "'edited'"))
        deadline = time.monotonic() + 60  # a bound on waiting, not a speed check
        while not (said := _say_or_none(server, "reload")) or not said[1].startswith("edited"):
            if time.monotonic() > deadline:
                pytest.fail(server.output())
            time.sleep(0.2)
        assert said[0] >= 2  # the thread went on across the restart
        assert server.stop(signal.SIGINT) == 0


def _say_or_none(server: Server, thread: str) -> tuple[int, str] | None:
    try:
        return _say(server, thread)
    except httpx.HTTPError:
        return None  # restarting


def test_a_bad_langgraph_json_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "langgraph.json").write_text('{"graphs": {"threads": "./counter.py:graph"}}')
    result = run(["serve"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("chainserve: error: ")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "graph id 'threads' is reserved" in result.stderr


# The README's Agent Protocol example, on a project with the graph id it names.
AGENT = """
import itertools

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph

model = GenericFakeChatModel(messages=itertools.repeat(AIMessage("hello from the agent")))


def chat(state: MessagesState) -> dict:
    return {"messages": [model.invoke(state["messages"])]}


builder = StateGraph(MessagesState)
builder.add_node("chat", chat)
builder.add_edge(START, "chat")
graph = builder.compile()
"""


def test_the_readme_client_example_runs_against_chainserve_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S)
    (example,) = [block for block in blocks if "get_sync_client(url=" in block]
    (tmp_path / "agent.py").write_text(AGENT)
    project = {"dependencies": ["."], "graphs": {"agent": "./agent.py:graph"}}
    (tmp_path / "langgraph.json").write_text(json.dumps(project))
    with serving([], cwd=tmp_path) as server:
        code = example.replace("http://127.0.0.1:8000", server.base_url)
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
        assert server.stop(signal.SIGTERM) == 0
    printed = capsys.readouterr().out
    assert printed.count("messages ") == 7  # the tokens: hello, " ", from, ...
    assert "hello from the agent" in printed  # the state, then the background run's result


def test_on_postgres_threads_outlive_restarts_and_stopped_runs_are_failed(
    tmp_path: Path, postgres_server: Any
) -> None:
    database = postgres_server.database()
    project = _write_project(tmp_path / "project")
    args = ["--database", database]
    with serving(args, cwd=project) as server:
        assert _say(server, "pg")[0] == 1
        thread, run_id = _stall_a_run(server, project)
        server.stop(signal.SIGKILL)
    assert database.partition("@")[2] in server.output()  # the banner names it (no password)
    with serving([*args, "--workers", "2"], cwd=project) as server:
        client = get_sync_client(url=server.base_url)
        failure = client.runs.join(thread, run_id)["__error__"]
        assert failure["error"] == "ServerRestart"
        for _ in range(4):  # both workers: one database
            state = client.runs.wait(thread, "counter", input={"messages": [("user", "on")]})
        assert state["count"] == 5
        assert server.stop(signal.SIGTERM) == 0
