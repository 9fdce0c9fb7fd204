"""Benchmark chainserve's OpenAI Chat Completions adapter: against LitServe's OpenAI spec,
and against the route's own ``/stream``, on the same fake model.

Every server serves ``bench.openai_model.TokenModel``, a LangChain chat model that
answers any prompt with 200 short tokens (``"t0 "`` ... ``"t199 "``) and no sleep:

* chainserve: ``python -m chainserve serve bench.openai_apps:chat --path /chat --openai
  --log-level warning`` (1 uvicorn worker; access log off with the log level), measured
  at ``/v1/chat/completions`` (model ``chat``) and at the route's ``/chat/stream``
  (LangServe's SSE protocol, the same tokens as ``AIMessageChunk`` events);
* LitServe: ``bench/.venv-litserve/bin/python -m bench.openai_litserve`` (``OpenAISpec``,
  one API server, one inference worker; see that module), at ``/v1/chat/completions``.
  The venv (``--system-site-packages``, so that it runs the same langchain-core and
  imports the same model module) is made when missing.

Both servers run at once, pinned to core 0 with ``taskset`` (LitServe's processes, its
inference worker and ``mp.Manager`` included: all of them are counted for CPU and RSS);
this client runs on core 1. Every repeat measures every scenario on every endpoint, in
a rotating order; the table gives medians of the repeats, and ratios as medians of each
repeat's ratio. Scenarios: one stream after another on one connection (time to first
token, chunks/s, server CPU per 1,000 chunks); 8 connections streaming back to back
(chunks/s, server CPU); the same one-after-another run through the official ``openai``
client (``AsyncOpenAI``, ``stream=True``). A chunk is a token: 200 per stream.

The client. The headline figures come from ``bench/httpclient.py`` (asyncio + httptools,
raw SSE): the official client parses every chunk into pydantic models over httpx, which
costs it more per chunk than the servers spend making one, so with it the client is
what gets measured (its rows show how much). Before the repeats, one stream per endpoint
is read with the official client (``/stream`` with httpx) and checked: the 200 tokens in
order, the first one in the first chunk, finish reason ``stop``.

    python -m bench.openai               # 7 repeats x 3 s per scenario (~3.5 min)
    python -m bench.openai --quick       # 1 repeat x 1 s: checks the setup (~25 s)
    python -m bench.openai --repeats 3 --output /tmp/openai.md --json /tmp/openai.json
    python -m bench.openai --litserve-async --litserve-fast-queue   # LitServe's options
    python -m bench.openai --token-yield # the model yields to the event loop after each token
    python -m bench.openai --per-route   # also the route's own /chat/openai/v1/chat/completions
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from bench import procs
from bench.httpclient import Connection
from bench.openai_model import ANSWER, PROMPT, TOKENS, token
from bench.procs import (
    ROOT,
    chainserve_commit,
    cpu_model,
    cpu_seconds,
    descendants,
    die_with_parent,
    free_port,
    identities,
    kill_leftovers,
    rss_mib,
    stop,
    taskset,
)
from bench.stats import fmt, median, p90

VENV = ROOT / "bench" / ".venv-litserve"
LITSERVE_PINS = ("litserve==0.2.19",)
VENV_CHECK = "import litserve, litserve.specs.openai, langchain_core"
VENV_PACKAGES = ("litserve", "pyzmq", "fastapi", "uvicorn", "langchain-core")
CHAINSERVE, LITSERVE = "chainserve", "LitServe"
SERVER_CPUS = "0"
CLIENT_CPU = 1
X = "\N{MULTIPLICATION SIGN}"
TIMEOUT = 30.0  # seconds for any one stream
MODEL = "chat"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]

Metrics = dict[str, float]
Results = dict[str, dict[str, list[float]]]  # metric -> endpoint -> one value per repeat


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Servers and endpoints -------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    ready_path: str  # answers 200 once the server can stream
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    logpath: Path | None = None
    startup_s: float = float("nan")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, folder: Path, timeout: float = 120.0) -> None:
        self.logpath = folder / f"{self.name}-{self.port}.log"
        logfile = self.logpath.open("ab")
        started = time.monotonic()
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self.proc = subprocess.Popen(
            [*taskset(SERVER_CPUS), *command],
            cwd=ROOT,  # both import bench.*
            env=procs.server_env(self.env),
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        logfile.close()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}" + self.tail())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    self.startup_s = time.monotonic() - started
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer on {self.url} in {timeout} s" + self.tail())

    def tail(self) -> str:
        if self.logpath is None:
            return ""
        with contextlib.suppress(OSError):
            text = self.logpath.read_text(errors="replace")
            return "\n" + "\n".join(text.splitlines()[-20:])
        return ""

    def pids(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)  # taskset execs: the root is the server

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def rss_mib(self) -> float:
        return rss_mib(self.pids())

    def stop(self) -> None:
        """SIGTERM the server; then SIGKILL whatever of its process tree is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        known = identities(self.pids())
        stop(self.proc, 20)
        leftovers = kill_leftovers(known, 5)
        if leftovers:
            log(f"  ! {self.name}: killed {leftovers} processes left after it stopped")


def _needs_src() -> bool:
    """Whether the servers need ``PYTHONPATH=src`` to import chainserve."""
    code = "import chainserve"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode != 0


@dataclass(frozen=True)
class Endpoint:
    label: str
    server: str
    path: str
    openai: bool  # OpenAI SSE (unnamed events, then [DONE]) or LangServe's (event: data)

    @property
    def body(self) -> bytes:
        if self.openai:
            return orjson.dumps({"model": MODEL, "messages": MESSAGES, "stream": True})
        return orjson.dumps({"input": [{"type": "human", "content": PROMPT}]})


CS_V1 = Endpoint("chainserve /v1", CHAINSERVE, "/v1/chat/completions", True)
LS_V1 = Endpoint("LitServe /v1", LITSERVE, "/v1/chat/completions", True)
CS_STREAM = Endpoint("chainserve /stream", CHAINSERVE, "/chat/stream", False)
CS_ROUTE = Endpoint("chainserve own /v1", CHAINSERVE, "/chat/openai/v1/chat/completions", True)


def servers(args: argparse.Namespace) -> dict[str, Server]:
    chainserve = [sys.executable, "-m", "chainserve", "serve", "bench.openai_apps:chat"]
    chainserve += ["--path", "/chat", "--openai", "--port", "{port}", "--log-level", "warning"]
    litserve = [str(VENV / "bin" / "python"), "-m", "bench.openai_litserve", "--port", "{port}"]
    litserve += ["--async"] * args.litserve_async + ["--fast-queue"] * args.litserve_fast_queue
    env = {"BENCH_TOKEN_YIELD": "1" if args.token_yield else "0"}
    if _needs_src():
        env["PYTHONPATH"] = str(ROOT / "src")
    return {
        CHAINSERVE: Server(CHAINSERVE, chainserve, "/v1/models", env),
        LITSERVE: Server(LITSERVE, litserve, "/health", env),
    }


@contextlib.contextmanager
def running(started: dict[str, Server], folder: Path) -> Iterator[None]:
    try:
        for server in started.values():
            log(f"starting {server.name} on port {server.port}")
            server.start(folder)
            log(f"  {server.name} answered after {server.startup_s:.1f} s")
        yield
    finally:
        for server in started.values():
            server.stop()


# One stream -------------------------------------------------------------------------


class StreamFailed(Exception):
    pass


async def stream_once(conn: Connection, endpoint: Endpoint, body: bytes) -> tuple[float, float]:
    """One stream on ``conn``: (seconds to its first token, seconds to its end). The
    stream must answer 200 and carry ``TOKENS`` tokens, then its end (``[DONE]`` or
    LangServe's ``end`` event)."""
    counts = [0, 0]  # token events, end events
    first: list[float] = []
    if endpoint.openai:
        # data events: TOKENS token chunks, the finish chunk, then [DONE]
        def sink(name: bytes, data: bytes) -> None:
            if data == b"[DONE]":
                counts[1] += 1
                return
            if not first:
                first.append(time.perf_counter())
            counts[0] += 1

    else:
        # event: metadata, then TOKENS data events and langchain-core's closing empty
        # chunk (chunk_position "last"), then event: end
        def sink(name: bytes, data: bytes) -> None:
            if name == b"data":
                if not first:
                    first.append(time.perf_counter())
                counts[0] += 1
            elif name == b"end":
                counts[1] += 1

    start = time.perf_counter()
    try:
        response = await asyncio.wait_for(conn.stream_events(endpoint.path, body, sink), TIMEOUT)
    except Exception as exc:  # the connection failed, timed out, or sent no HTTP
        conn.close()
        raise StreamFailed(f"{type(exc).__name__}: {exc}") from None
    end = time.perf_counter()
    tokens = counts[0] - 1  # less the finish chunk, or the closing empty chunk
    if response.status != 200 or tokens != TOKENS or counts[1] != 1 or not first:
        raise StreamFailed(f"status {response.status}, {tokens} tokens, {counts[1]} ends")
    return first[0] - start, end - start


class Errors:
    """Failed streams per endpoint and scenario, reported on stderr as they happen."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, endpoint: Endpoint, scenario: str, detail: object) -> None:
        key = f"{endpoint.label} / {scenario}"
        self.counts[key] += 1
        if self.counts[key] <= 3:
            log(f"  ! {key}: {str(detail)[:300]}")


ERRORS = Errors()


# Scenarios --------------------------------------------------------------------------


def _window(
    server: Server, run: Callable[[], Awaitable[tuple[int, float]]]
) -> Callable[[], Awaitable[tuple[int, float, float, float]]]:
    """``run`` (returning streams made and seconds) with the server's and this
    process's CPU seconds over it."""

    async def measured() -> tuple[int, float, float, float]:
        cpu, own = server.cpu_seconds(), time.process_time()
        streams, elapsed = await run()
        return streams, elapsed, server.cpu_seconds() - cpu, time.process_time() - own

    return measured


def _rates(key: str, streams: int, elapsed: float, server_cpu: float, client_cpu: float) -> Metrics:
    chunks = streams * TOKENS
    return {
        f"{key} chunks/s": chunks / elapsed if elapsed else float("nan"),
        f"{key} CPU s / 1k chunks": server_cpu / chunks * 1000 if chunks else float("nan"),
        f"{key} client CPU %": client_cpu / elapsed * 100 if elapsed else float("nan"),
    }


async def sequential(
    server: Server, endpoint: Endpoint, duration: float, limit: int, key: str = "c1"
) -> Metrics:
    """One stream after another on one keep-alive connection for ``duration`` s (at most
    ``limit`` streams): time to first token, stream time, chunks/s, server CPU."""
    conn = Connection("127.0.0.1", server.port)
    body = endpoint.body
    firsts: list[float] = []
    totals: list[float] = []

    async def run() -> tuple[int, float]:
        start = time.perf_counter()
        deadline = start + duration
        while time.perf_counter() < deadline and len(totals) < limit:
            try:
                first, total = await stream_once(conn, endpoint, body)
            except StreamFailed as exc:
                ERRORS.add(endpoint, key, exc)
                continue
            firsts.append(first * 1000)
            totals.append(total * 1000)
        return len(totals), time.perf_counter() - start

    try:
        streams, elapsed, server_cpu, client_cpu = await _window(server, run)()
    finally:
        conn.close()
    return {
        "TTFT median ms": median(firsts),
        "TTFT p90 ms": p90(firsts),
        "stream median ms": median(totals),
        **_rates(key, streams, elapsed, server_cpu, client_cpu),
    }


async def concurrent(
    server: Server, endpoint: Endpoint, concurrency: int, duration: float, limit: int
) -> Metrics:
    """``concurrency`` connections streaming back to back for ``duration`` s (together
    at most ``limit`` streams; each finishes the stream it is in)."""
    key = "cN"
    body = endpoint.body
    done = [0]

    async def worker(deadline: float) -> None:
        conn = Connection("127.0.0.1", server.port)
        try:
            while time.perf_counter() < deadline and done[0] < limit:
                try:
                    await stream_once(conn, endpoint, body)
                except StreamFailed as exc:
                    ERRORS.add(endpoint, f"c{concurrency}", exc)
                    continue
                done[0] += 1
        finally:
            conn.close()

    async def run() -> tuple[int, float]:
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + duration) for _ in range(concurrency)))
        return done[0], time.perf_counter() - start

    streams, elapsed, server_cpu, client_cpu = await _window(server, run)()
    return _rates(key, streams, elapsed, server_cpu, client_cpu)


async def official(server: Server, endpoint: Endpoint, duration: float, limit: int) -> Metrics:
    """One stream after another through the official client (``AsyncOpenAI``,
    ``stream=True``): time to the first content chunk, chunks/s."""
    firsts: list[float] = []
    async with AsyncOpenAI(
        base_url=server.url + "/v1", api_key="bench", max_retries=0, timeout=TIMEOUT
    ) as client:

        async def one() -> None:
            start = time.perf_counter()
            first = float("nan")
            count = 0
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                stream=True,
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    if count == 0:
                        first = time.perf_counter()
                    count += 1
            if count != TOKENS:
                raise StreamFailed(f"{count} content chunks")
            firsts.append((first - start) * 1000)

        async def run() -> tuple[int, float]:
            start = time.perf_counter()
            deadline = start + duration
            while time.perf_counter() < deadline and len(firsts) < limit:
                try:
                    await asyncio.wait_for(one(), TIMEOUT)
                except Exception as exc:
                    ERRORS.add(endpoint, "openai client", f"{type(exc).__name__}: {exc}")
            return len(firsts), time.perf_counter() - start

        streams, elapsed, server_cpu, client_cpu = await _window(server, run)()
    return {
        "sdk TTFT median ms": median(firsts),
        **_rates("sdk", streams, elapsed, server_cpu, client_cpu),
    }


async def verify(server: Server, endpoint: Endpoint) -> list[str]:
    """Read one stream in full, with the official client for the OpenAI endpoints: the
    tokens in order, the first one in the first chunk, finish reason ``stop``. Returns
    notes on what differs from OpenAI's own streams."""
    notes: list[str] = []
    if not endpoint.openai:
        contents: list[str] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
            answer = await client.post(endpoint.path, content=endpoint.body)
        for block in answer.text.replace("\r\n", "\n").split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if lines.get("event") == "data":
                contents.append(json.loads(lines["data"])["content"])
        if "".join(contents) != ANSWER or contents[0] != token(0):
            raise RuntimeError(f"{endpoint.label}: the stream is not the model's tokens")
        return notes
    async with AsyncOpenAI(
        base_url=server.url + "/v1", api_key="bench", max_retries=0, timeout=TIMEOUT
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    texts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    if "".join(texts) != ANSWER or texts[0] != token(0):
        raise RuntimeError(f"{endpoint.label}: the stream is not the model's tokens")
    if finish != ["stop"]:
        raise RuntimeError(f"{endpoint.label}: finish reasons {finish}")
    ids = {chunk.id for chunk in chunks}
    if len(ids) > 1:
        notes.append(
            f"{endpoint.label}: {len(ids)} different chunk ids in one stream of "
            f"{len(chunks)} chunks (OpenAI gives every chunk of a completion its id)"
        )
    roles = sum(1 for c in chunks if c.choices and c.choices[0].delta.role)
    if roles > 1:
        notes.append(f"{endpoint.label}: the role is repeated in {roles} chunks (OpenAI: first)")
    return notes


# The run --------------------------------------------------------------------------

# (metric key, label, higher is better); {c}: --concurrency
ROWS: list[tuple[str, str, bool]] = [
    ("TTFT median ms", "time to first token, c1: median, ms", False),
    ("TTFT p90 ms", "time to first token, c1: p90, ms", False),
    ("stream median ms", "whole stream of 200 tokens, c1: median, ms", False),
    ("c1 chunks/s", "chunks/s, c1", True),
    ("c1 CPU s / 1k chunks", "server CPU s / 1k chunks, c1", False),
    ("cN chunks/s", "chunks/s, c{c}", True),
    ("cN CPU s / 1k chunks", "server CPU s / 1k chunks, c{c}", False),
    ("sdk TTFT median ms", "openai client: time to first token, c1, ms", False),
    ("sdk chunks/s", "openai client: chunks/s, c1", True),
    ("RSS MiB", "server RSS after the run, MiB (all processes)", False),
    ("cN client CPU %", "this client's CPU at c{c}, % of its core", False),
]


def endpoints(args: argparse.Namespace) -> list[Endpoint]:
    return [CS_V1, LS_V1, CS_STREAM, *([CS_ROUTE] if args.per_route else [])]


async def run_repeats(
    started: dict[str, Server], args: argparse.Namespace, results: Results, notes: list[str]
) -> None:
    targets = endpoints(args)
    limit = args.max_streams
    log("warming up")
    for endpoint in targets:
        server = started[endpoint.server]
        await sequential(server, endpoint, args.warmup, limit)
        await concurrent(server, endpoint, args.concurrency, args.warmup, limit)
    for endpoint in targets:
        notes += await verify(started[endpoint.server], endpoint)
    for repeat in range(args.repeats):
        shift = repeat % len(targets)
        order = targets[shift:] + targets[:shift]
        scenarios: list[tuple[str, Callable[[Server, Endpoint], Awaitable[Metrics]]]] = [
            ("c1", lambda s, e: sequential(s, e, args.duration, limit)),
            (
                f"c{args.concurrency}",
                lambda s, e: concurrent(s, e, args.concurrency, args.duration, limit),
            ),
        ]
        if not args.no_sdk:
            scenarios.append(("openai client", lambda s, e: official(s, e, args.duration, limit)))
        for scenario, measure in scenarios:
            names = ", ".join(endpoint.label for endpoint in order)
            log(f"repeat {repeat + 1}/{args.repeats}: {scenario} ({names})")
            for endpoint in order:
                if scenario == "openai client" and not endpoint.openai:
                    continue
                metrics = await measure(started[endpoint.server], endpoint)
                for metric, value in metrics.items():
                    results[metric][endpoint.label].append(value)
    for endpoint in targets:
        results["RSS MiB"][endpoint.label].append(started[endpoint.server].rss_mib())


def _paired(results: Results, key: str, top: str, bottom: str) -> float:
    """The median of each repeat's ratio ``top / bottom``."""
    tops, bottoms = results[key].get(top, []), results[key].get(bottom, [])
    ratios = [t / b for t, b in zip(tops, bottoms, strict=False) if b == b and t == t and b != 0]
    return median(ratios)


def _ratio(ratio: float) -> str:
    return "n/a" if ratio != ratio else f"{ratio:.3g}{X}"


def _cost(ratio: float, higher: bool) -> str:
    """What the adapter adds over /stream, in percent of /stream's cost."""
    if ratio != ratio or ratio == 0:
        return "n/a"
    extra = (1 / ratio - 1) if higher else (ratio - 1)
    return f"{extra * 100:+.1f} %"


def render(results: Results, args: argparse.Namespace, notes: list[str]) -> str:
    extra = [CS_ROUTE.label] if args.per_route else []
    columns = [CS_V1.label, LS_V1.label, CS_STREAM.label, *extra]
    head = [*columns, "chainserve / LitServe (/v1)", "/v1 / /stream", "adapter cost over /stream"]
    lines = ["| metric | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for key, label, higher in ROWS:
        if key not in results or (key == "cN client CPU %" and not args.show_client):
            continue
        values = [fmt(median(results[key].get(column, []))) for column in columns]
        versus = _paired(results, key, CS_V1.label, LS_V1.label)
        adapter = _paired(results, key, CS_V1.label, CS_STREAM.label)
        if key in ("RSS MiB", "cN client CPU %"):  # one server, or not the server's figure
            adapter = float("nan")
        arrow = "↑" if higher else "↓"
        row = [*values, _ratio(versus), _ratio(adapter), _cost(adapter, higher)]
        lines.append(f"| {label.format(c=args.concurrency)} {arrow} | " + " | ".join(row) + " |")
    lines += [
        "",
        f"↑ higher is better, ↓ lower is better; medians of {args.repeats} repeats, ratios "
        "the medians of each repeat's ratio; a chunk is a token (200 per stream); "
        "adapter cost: what /v1 adds to /stream's time, CPU or time per chunk, in percent.",
    ]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines)


def header(venv: dict[str, str]) -> str:
    packages = ("langchain-core", "fastapi", "starlette", "uvicorn", "openai")
    main = ", ".join(f"{p} {version(p)}" for p in packages)
    lit = ", ".join(f"{p} {v}" for p, v in venv.items())
    return (
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} {X} {cpu_model()}, "
        f"Python {platform.python_version()}; chainserve {version('chainserve')} "
        f"{chainserve_commit()}, {main}; LitServe venv: {lit}; "
        f"`{' '.join(['python -m bench.openai', *sys.argv[1:]])}`"
    )


def _terminate(signum: int, _: Any) -> None:
    raise SystemExit(128 + signum)  # so that the finally blocks stop the servers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat x 1 s (~25 s)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-streams", type=int, default=50_000, help="per scenario")
    parser.add_argument(
        "--litserve-async", action="store_true", help="LitAPI(enable_async=True): astream"
    )
    parser.add_argument(
        "--litserve-fast-queue", action="store_true", help="LitServer(fast_queue=True): ZeroMQ"
    )
    parser.add_argument(
        "--per-route",
        action="store_true",
        help="also measure /chat/openai/v1/chat/completions, the route's own OpenAI endpoint "
        "that /v1/chat/completions hands each request to",
    )
    parser.add_argument(
        "--token-yield",
        action="store_true",
        help="the model awaits asyncio.sleep(0) after each token (BENCH_TOKEN_YIELD=1): each "
        "token in a loop turn of its own, as a real model's (async paths only)",
    )
    parser.add_argument("--no-sdk", action="store_true", help="skip the openai client rows")
    parser.add_argument("--show-client", action="store_true", help="add the client CPU row")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    parser.add_argument("--json", type=Path, help="write every raw figure to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration, args.warmup = 1, 1.0, 0.5
    signal.signal(signal.SIGTERM, _terminate)
    procs.ensure_venv(VENV, LITSERVE_PINS, VENV_CHECK, system_site_packages=True, log=log)
    venv = procs.venv_versions(VENV, VENV_PACKAGES)
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CPU})  # the servers are on core 0
    results: Results = defaultdict(lambda: defaultdict(list))
    notes: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp:
        peers = servers(args)
        with running(peers, Path(tmp)):
            for name, server in peers.items():
                count = len(server.pids())
                notes.append(
                    f"{name}: {count} process{'es' * (count > 1)}, answered "
                    f"{server.startup_s:.1f} s after its start"
                )
            uvloop.run(run_repeats(peers, args, results, notes))
    lit = [f"enable_async={args.litserve_async}", f"fast_queue={args.litserve_fast_queue}"]
    pause = "awaits asyncio.sleep(0) after each token" if args.token_yield else "never yields"
    notes.append(
        f"the model's astream {pause}; "
        f"LitServe: {', '.join(lit)}, num_api_servers=1, workers_per_device=1, "
        "log_level warning; chainserve: 1 worker, --log-level warning. Both pinned to core 0, "
        "the client (bench/httpclient.py; openai client rows: AsyncOpenAI) on core 1."
    )
    notes += [f"errors: {key}: {count:,}" for key, count in ERRORS.counts.items()]
    text = f"{header(venv)}\n\n{render(results, args, notes)}\n"
    print(text)
    log(f"(took {time.monotonic() - started:.0f} s)")
    if args.output:
        args.output.write_text(text)
    if args.json:
        raw = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
