"""Run the real ``chainserve`` command in a subprocess, and wait for its server."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from servers import free_port

# `python -m chainserve` and the installed console script are the same command.
MODULE = (sys.executable, "-m", "chainserve")
SCRIPT = (str(Path(sys.executable).with_name("chainserve")),)
UVICORN_STARTED = r"Started server process \[(\d+)\]"  # one line per uvicorn worker
START_TIMEOUT = 60.0
# A module of runnables for `chainserve serve chains:...`: ``double``, and ``app``
# serving the pid of the worker that answers at /pid.
RUNNABLES = """
import os
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from chainserve import add_routes

def _double(x: int) -> int:
    return 2 * x

def _pid(x: int) -> int:
    return os.getpid()

double = RunnableLambda(_double)
app = FastAPI()
add_routes(app, RunnableLambda(_pid), path="/pid")
"""


def environment(**extra: str) -> dict[str, str]:
    """This environment without model keys (so nothing reaches a network)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run(
    args: Sequence[str],
    cwd: Path,
    command: Sequence[str] = MODULE,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a command that ends by itself (bad targets, help, new); ``env`` as ``serving``'s."""
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=environment(**(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def wait_for_pids(self, pattern: str, count: int) -> set[int]:
        """Wait until the log names ``count`` pids through ``pattern``'s group; those pids."""
        deadline = time.monotonic() + START_TIMEOUT  # a bound on waiting, not a speed check
        while len(pids := {int(pid) for pid in re.findall(pattern, self.output())}) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} pids never appeared:\n{self.output()}")
            time.sleep(0.1)
        return pids

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Send ``sig``; return the exit status once the command has ended."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


def port_option(port: int) -> list[str]:
    return ["--port", str(port)]


@contextlib.contextmanager
def serving(
    args: Sequence[str],
    cwd: Path,
    command: Sequence[str] = MODULE,
    bind: Callable[[int], list[str]] = port_option,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``command ARGS --port P`` in ``cwd``; yield once it answers HTTP.

    ``bind`` gives the options that make another server command listen on port P;
    ``env``, variables the command gets besides ``environment()``'s.
    """
    port = free_port()
    log = cwd / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, *args, *bind(port)],
            cwd=cwd,
            env=environment(**(env or {})),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            httpx.get(f"{server.base_url}/openapi.json", timeout=5)
            return
        except httpx.TransportError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{server.output()}") from None
            time.sleep(0.1)
