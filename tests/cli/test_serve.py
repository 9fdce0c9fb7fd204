"""`chainserve serve`: targets, workers, reload, signals and errors, through the real command."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from running import RUNNABLES, SCRIPT, UVICORN_STARTED, run, serving
from servers import free_port


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "chains.py").write_text(RUNNABLES)
    return tmp_path


def _invoke(url: str, value: object) -> object:
    response = httpx.post(url, json={"input": value}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["output"]


def test_a_bare_runnable_is_served_at_path_and_stops_on_sigterm(project: Path) -> None:
    args = ["serve", "chains:double", "--path", "double", "--root-path", "/api"]
    with serving(args, cwd=project) as server:
        assert _invoke(f"{server.base_url}/double/invoke", 21) == 42
        spec = httpx.get(f"{server.base_url}/openapi.json").json()
        assert spec["servers"] == [{"url": "/api"}]
        assert server.stop(signal.SIGTERM) == 0
    assert f"{server.base_url}/double/playground/" in server.output()
    assert "Finished server process" in server.output()


def test_workers_are_real_processes(project: Path) -> None:
    # The installed console script, with an app TARGET.
    with serving(["serve", "chains:app", "--workers", "2"], cwd=project, command=SCRIPT) as server:
        started = server.wait_for_pids(UVICORN_STARTED, 2)
        assert len(started) == 2
        assert started == _child_workers(server.process.pid)
        assert server.process.pid not in started
        for _ in range(4):
            assert _invoke(f"{server.base_url}/pid/invoke", 0) in started
        assert server.stop(signal.SIGINT) == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in started)
    assert server.output().count("Finished server process") == 2


def _child_workers(parent: int) -> set[int]:
    """The spawned worker processes of ``parent`` (not multiprocessing's resource tracker)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            children.add(int(stat.parent.name))
    return children


def test_reload_serves_the_edited_code(project: Path) -> None:
    with serving(["serve", "chains:double", "--reload"], cwd=project) as server:
        assert _invoke(f"{server.base_url}/invoke", 2) == 4
        chains = project / "chains.py"
        chains.write_text(chains.read_text().replace("2 * x", "3 * x"))
        deadline = time.monotonic() + 60
        while _output_or_none(f"{server.base_url}/invoke", 2) != 6:
            if time.monotonic() > deadline:  # a bound on waiting, not a speed check
                pytest.fail(server.output())
            time.sleep(0.2)
        assert server.stop(signal.SIGINT) == 0


def _output_or_none(url: str, value: object) -> object:
    try:
        return httpx.post(url, json={"input": value}, timeout=10).json()["output"]
    except (httpx.TransportError, ValueError, KeyError):
        return None  # restarting


BAD_MODULE = "raise RuntimeError('no config file')\n"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module:app", "cannot import 'no_such_module'"),
        ("chains:missing", "'chains' has no attribute 'missing'"),
        ("chains:_double", "neither a FastAPI app nor a LangChain Runnable"),
        ("chains", "TARGET must look like module:attribute"),
        ("broken:app", "importing 'broken' failed: RuntimeError: no config file"),
    ],
)
def test_a_bad_target_gives_a_one_line_error(project: Path, target: str, message: str) -> None:
    (project / "broken.py").write_text(BAD_MODULE)
    result = run(["serve", target], cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("chainserve: error: ")
    assert message in result.stderr


def test_a_port_in_use_gives_a_one_line_error(project: Path) -> None:
    import socket

    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        result = run(["serve", "chains:double", "--port", str(port)], cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"chainserve: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_help_on_every_command_and_version(tmp_path: Path) -> None:
    from chainserve import __version__

    for args in (["--help"], ["serve", "--help"], ["new", "--help"]):
        result = run(args, cwd=tmp_path)
        assert result.returncode == 0 and "usage: chainserve" in result.stdout, args
    version = run(["--version"], cwd=tmp_path, command=SCRIPT)
    assert version.stdout.strip() == f"chainserve {__version__}"


def test_argument_mistakes_are_usage_errors(tmp_path: Path) -> None:
    for args in (["serve", "--workers", "0"], ["serve", "--reload", "--workers", "2"], ["new"]):
        result = run(args, cwd=tmp_path)
        assert result.returncode == 2 and "usage: chainserve" in result.stderr, args


STREAMS = """
import asyncio
from langchain_core.runnables import RunnableLambda

async def _short(x):  # five chunks over about a second
    for i in range(5):
        await asyncio.sleep(0.2)
        yield i

async def _endless(x):
    while True:
        await asyncio.sleep(0.1)
        yield 0

short = RunnableLambda(_short)
endless = RunnableLambda(_endless)
"""


def _stream_in_background(url: str, events: list[str]) -> threading.Thread:
    def read() -> None:
        try:
            with httpx.stream("POST", url, json={"input": 1}, timeout=60) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        events.append(line[len("event: ") :])
        except httpx.HTTPError:
            events.append("cut")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("target", "grace", "ending"),
    [("chains:short", "30", "end"), ("chains:endless", "1", "cut")],
    ids=["finishes_within_grace", "closed_at_grace"],
)
def test_sigterm_lets_open_streams_finish_up_to_the_grace_period(
    tmp_path: Path, target: str, grace: str, ending: str
) -> None:
    (tmp_path / "chains.py").write_text(STREAMS)
    with serving(["serve", target, "--graceful-timeout", grace], cwd=tmp_path) as server:
        events: list[str] = []
        reader = _stream_in_background(f"{server.base_url}/stream", events)
        deadline = time.monotonic() + 30
        while "data" not in events:
            if time.monotonic() > deadline:
                pytest.fail("the stream never started")
            time.sleep(0.05)
        assert server.stop(signal.SIGTERM) == 0
        reader.join(timeout=60)
    assert events[-1] == ending, events
