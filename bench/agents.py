"""Benchmark chainserve's LangGraph server against ``langgraph dev`` on the same graphs.

Writes a small LangGraph project to a temporary folder (``langgraph.json`` and
``graphs.py``: ``one``, a one-node ``StateGraph`` whose node adds 1 to ``count``, and
``events``, one node writing 100 custom stream events), then serves it twice:

* ``python -m chainserve serve <project>/langgraph.json`` (main interpreter, SQLite
  database in the project folder, or under ``--chainserve-db-dir``), and
* ``bench/.venv-langgraph-dev/bin/langgraph dev --no-browser --no-reload`` (langgraph-api's
  in-memory server, from a venv of its own: made here when missing, relinked if broken).

Both are pinned to core 0 with ``taskset``; this client (langgraph_sdk, asyncio) runs on
core 1. Every repeat measures every scenario on both servers, alternating which goes
first; the table gives medians of the repeats and the ratio chainserve / langgraph dev.
A server that stops making runs after a scenario with errors is restarted (and the
table's notes say so). The memory scenario runs once per server, on a fresh one: RSS
(``VmRSS`` of the process tree) before and after ``--threads`` threads, each with a run.

    python -m bench.agents               # 3 repeats, 2,000 threads (~6 min)
    python -m bench.agents --quick       # 1 repeat, small counts (~1 min)
    python -m bench.agents --output /tmp/agents.md --json /tmp/agents.json
    python -m bench.agents --chainserve-db-dir /dev/shm --no-memory   # without fsyncs
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
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from bench import procs
from bench.procs import (
    chainserve_commit,
    cpu_model,
    cpu_seconds,
    descendants,
    die_with_parent,
    free_port,
    rss_mib,
    stop,
    taskset,
)
from bench.stats import fmt, median, p90

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-langgraph-dev"
# What the venv gets when it has to be made: the versions this benchmark was written
# against (langgraph and langchain-core as in the main interpreter, so that both servers
# run the graphs with the same library).
LANGGRAPH_DEV_PINS = (
    "langgraph-cli[inmem]==0.4.40",
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
    "langgraph==1.2.24",
    "langgraph-checkpoint==4.3.2",
    "langgraph-sdk==0.4.14",
    "langchain-core==1.8.3",
)
VENV_PACKAGES = ("langgraph-cli", "langgraph-api", "langgraph-runtime-inmem", "langgraph")
CHAINSERVE, LANGGRAPH = "chainserve", "langgraph dev"
SERVERS = (CHAINSERVE, LANGGRAPH)
SERVER_CPUS = "0"
CLIENT_CPU = 1
X = "\N{MULTIPLICATION SIGN}"
EVENTS = 100
INPUT = {"count": 1}
OUTPUT = {"count": 2}
TIMEOUT = 60.0  # seconds for any one request or stream
# Both servers get this environment, without the LangSmith keys (procs.server_env): no
# tracing, no telemetry, no version check, and langgraph-api's own loggers at WARNING (at
# INFO it logs ~4 lines per run; chainserve runs at --log-level warning).
QUIET_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # langgraph-cli posts each command to a web endpoint
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # langgraph-api asks PyPI for its latest version
    "LOG_LEVEL": "WARNING",
}
GRAPHS_PY = f'''"""The graphs bench/agents.py serves with both servers."""

from typing import TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

EVENTS = {EVENTS}


class State(TypedDict):
    count: int


async def add(state: State) -> dict:
    return {{"count": state["count"] + 1}}


async def emit(state: State) -> dict:
    write = get_stream_writer()
    for index in range(EVENTS):
        write({{"i": index}})
    return {{"count": state["count"] + 1}}


def _graph(node):
    builder = StateGraph(State)
    builder.add_node(node.__name__, node)
    builder.add_edge(START, node.__name__)
    builder.add_edge(node.__name__, END)
    return builder.compile()


one = _graph(add)
events = _graph(emit)
'''
LANGGRAPH_JSON = {
    "dependencies": ["."],
    "graphs": {"one": "./graphs.py:one", "events": "./graphs.py:events"},
}

Metrics = dict[str, float]
T = TypeVar("T")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The langgraph dev venv -----------------------------------------------------------

# Run in the venv: it can start langgraph dev.
VENV_CHECK = (
    "import os, sys, langgraph_api.cli, langgraph_cli.cli; "
    "assert os.path.exists(os.path.join(os.path.dirname(sys.executable), 'langgraph'))"
)


def ensure_venv() -> None:
    """Make ``bench/.venv-langgraph-dev`` usable: as it is, relinked, or made anew."""
    procs.ensure_venv(VENV, LANGGRAPH_DEV_PINS, VENV_CHECK, log=log)


def venv_versions() -> dict[str, str]:
    return procs.venv_versions(VENV, VENV_PACKAGES)


# Processes ------------------------------------------------------------------------


def write_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "graphs.py").write_text(GRAPHS_PY)
    (folder / "langgraph.json").write_text(json.dumps(LANGGRAPH_JSON, indent=2) + "\n")
    return folder


def _server_env() -> dict[str, str]:
    return procs.server_env(QUIET_ENV)


@dataclass
class Server:
    name: str
    project: Path
    jobs: int | None  # langgraph dev's --n-jobs-per-worker; None: its default
    db_dir: Path | None = None  # where chainserve's database goes; None: the project's
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    startup_s: float = float("nan")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        folder = self.db_dir / self.project.name if self.db_dir else self.project / ".chainserve"
        return folder / "bench.sqlite"

    def command(self) -> list[str]:
        config, port = str(self.project / "langgraph.json"), ["--port", str(self.port)]
        if self.name == CHAINSERVE:
            database = f"sqlite:///{self.database}"  # an absolute path: sqlite:////tmp/...
            serve = [sys.executable, "-m", "chainserve", "serve", config, *port]
            return [*serve, "--database", database, "--log-level", "warning"]
        dev = [str(VENV / "bin" / "langgraph"), "dev", "--no-browser", "--no-reload"]
        jobs = ["--n-jobs-per-worker", str(self.jobs)] if self.jobs is not None else []
        return [*dev, "--config", config, *port, *jobs, "--server-log-level", "WARNING"]

    @property
    def logpath(self) -> Path:
        return self.project / f"{self.name.replace(' ', '-')}-{self.port}.log"

    def start(self, timeout: float = 120.0) -> None:
        logfile = self.logpath.open("ab")  # a restart adds to it
        started = time.monotonic()
        # langgraph dev finds the graphs' files, and keeps its .langgraph_api/ folder,
        # relative to the current folder: start both servers in the project's.
        self.proc = subprocess.Popen(
            [*taskset(SERVER_CPUS), *self.command()],
            cwd=self.project,
            env=_server_env(),
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
            if self._answers():
                self.startup_s = time.monotonic() - started
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer on {self.url} in {timeout} s" + self.tail())

    def _answers(self) -> bool:
        try:
            found = httpx.post(f"{self.url}/assistants/search", json={"graph_id": "one"}, timeout=2)
        except httpx.HTTPError:
            return False
        return found.status_code == 200 and bool(found.json())

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n" + "\n".join(self.logpath.read_text(errors="replace").splitlines()[-20:])
        return ""

    def restart(self) -> None:
        self.stop()
        startup = self.startup_s
        self.start()
        self.startup_s = startup  # the figure reported is the first start's

    def stop(self) -> None:
        stop(self.proc, 15)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)  # taskset execs: the root is the server

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def rss_mib(self) -> float:
        return rss_mib(self.pids())


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[None]:
    try:
        for server in servers:
            log(f"starting {server.name} on port {server.port}")
            server.start()
            log(f"  {server.name} answered after {server.startup_s:.1f} s")
        yield
    finally:
        for server in servers:
            server.stop()


# Measurements ---------------------------------------------------------------------


class Errors:
    """Failed requests per server and scenario, reported on stderr as they happen."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.totals: dict[str, int] = defaultdict(int)

    def add(self, server: Server, scenario: str, detail: object) -> None:
        key = f"{server.name} / {scenario}"
        self.counts[key] += 1
        self.totals[server.name] += 1
        if self.counts[key] <= 3:
            text = f"{type(detail).__name__}: {detail}" if isinstance(detail, Exception) else detail
            log(f"  ! {key}: {str(text)[:300]!r}")


ERRORS = Errors()


async def _bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, TIMEOUT)


async def _sampled(
    server: Server, scenario: str, sample: Callable[[], Awaitable[None]], samples: int
) -> None:
    """Run ``sample`` ``samples`` times, each bounded; a failure is counted, not fatal."""
    for _ in range(samples):
        try:
            await _bounded(sample())
        except Exception as exc:
            ERRORS.add(server, scenario, exc)


def _ms(seconds: float) -> float:
    return seconds * 1000


async def measure_stream(server: Server, client: LangGraphClient, samples: int) -> Metrics:
    """POST /threads/{id}/runs/stream, stream_mode values: time to its first event (the
    run's metadata), to its first values event, and to its end."""
    thread_id = (await client.threads.create())["thread_id"]
    first: list[float] = []
    values: list[float] = []
    ends: list[float] = []

    async def sample() -> None:
        start = time.perf_counter()
        seen: dict[str, float] = {}
        last: Any = None
        stream = client.runs.stream(thread_id, "one", input=INPUT, stream_mode="values")
        async for part in stream:
            now = time.perf_counter()
            seen.setdefault("first", now)
            if part.event == "values":
                seen.setdefault("values", now)
                last = part.data
            elif part.event == "error":
                raise RuntimeError(part.data)
        if last != OUTPUT or "values" not in seen:
            raise RuntimeError(f"last values {last!r}")
        first.append(_ms(seen["first"] - start))
        values.append(_ms(seen["values"] - start))
        ends.append(_ms(time.perf_counter() - start))

    await _sampled(server, "stream", sample, samples)
    return {
        "stream first event ms": median(first),
        "stream first values ms": median(values),
        "stream end ms": median(ends),
    }


async def measure_join(server: Server, client: LangGraphClient, samples: int) -> Metrics:
    """runs.create, then runs.join_stream: time to create's answer and to the first data
    (non-metadata) event. Created resumable and joined from the start (Last-Event-ID -1),
    so a run that ends before the join is replayed rather than missed."""
    thread_id = (await client.threads.create())["thread_id"]
    created: list[float] = []
    data: list[float] = []

    async def sample() -> None:
        start = time.perf_counter()
        run = await client.runs.create(
            thread_id, "one", input=INPUT, stream_mode=["values"], stream_resumable=True
        )
        answered = time.perf_counter()
        first = float("nan")
        joined = client.runs.join_stream(
            thread_id, run["run_id"], stream_mode=["values"], last_event_id="-1"
        )
        async for part in joined:
            if part.event == "error":
                raise RuntimeError(part.data)
            if part.event != "metadata" and first != first:
                first = time.perf_counter()
        if first != first:
            raise RuntimeError("no data event")
        created.append(_ms(answered - start))
        data.append(_ms(first - start))

    await _sampled(server, "join", sample, samples)
    return {"create answered ms": median(created), "create to first data ms": median(data)}


async def measure_events(server: Server, client: LangGraphClient, samples: int) -> Metrics:
    """runs.stream of the ``events`` graph, stream_mode custom: time to the first of its
    100 custom events, and from the first to the last."""
    thread_id = (await client.threads.create())["thread_id"]
    first: list[float] = []
    spread: list[float] = []

    async def sample() -> None:
        start = time.perf_counter()
        stamps: list[float] = []
        stream = client.runs.stream(thread_id, "events", input=INPUT, stream_mode="custom")
        async for part in stream:
            if part.event == "custom":
                stamps.append(time.perf_counter())
            elif part.event == "error":
                raise RuntimeError(part.data)
        if len(stamps) != EVENTS:
            raise RuntimeError(f"{len(stamps)} custom events")
        first.append(_ms(stamps[0] - start))
        spread.append(_ms(stamps[-1] - stamps[0]))

    await _sampled(server, "events", sample, samples)
    return {"events first ms": median(first), "events first to last ms": median(spread)}


async def measure_wait(server: Server, client: LangGraphClient, samples: int) -> Metrics:
    """runs.wait on one thread, one after another: latency and server CPU per run."""
    thread_id = (await client.threads.create())["thread_id"]
    latencies: list[float] = []
    cpu = server.cpu_seconds()
    for _ in range(samples):
        start = time.perf_counter()
        try:
            output = await _bounded(client.runs.wait(thread_id, "one", input=INPUT))
        except Exception as exc:
            ERRORS.add(server, "wait", exc)
            continue
        if output != OUTPUT:
            ERRORS.add(server, "wait", output)
            continue
        latencies.append(_ms(time.perf_counter() - start))
    cpu = server.cpu_seconds() - cpu
    return {
        "wait median ms": median(latencies),
        "wait p90 ms": p90(latencies),
        "wait CPU ms / run": _ms(cpu) / len(latencies) if latencies else float("nan"),
    }


async def measure_stateless(
    server: Server, client: LangGraphClient, concurrency: int, duration: float
) -> Metrics:
    """POST /runs/wait without a thread from ``concurrency`` workers for ``duration`` s
    (each finishes the run it is in when time is up)."""
    scenario = f"stateless c{concurrency}"
    deadline = time.perf_counter() + duration
    latencies: list[float] = []
    failed = 0

    async def worker() -> None:
        nonlocal failed
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                output = await _bounded(client.runs.wait(None, "one", input=INPUT))
            except Exception as exc:
                ERRORS.add(server, scenario, exc)
                failed += 1
                continue
            if output != OUTPUT:
                ERRORS.add(server, scenario, output)
                failed += 1
                continue
            latencies.append(_ms(time.perf_counter() - start))

    cpu = server.cpu_seconds()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu
    key = "stateless" if concurrency > 1 else "stateless1"
    return {
        f"{key} runs/s": len(latencies) / elapsed,
        f"{key} p50 ms": median(latencies),
        f"{key} CPU ms / run": _ms(cpu) / len(latencies) if latencies else float("nan"),
        f"{key} failed %": failed / max(failed + len(latencies), 1) * 100,
    }


async def fill_threads(
    server: Server, client: LangGraphClient, count: int, concurrency: int, seconds: float
) -> int:
    """Create up to ``count`` threads, each with one finished run; stop claiming new ones
    after ``seconds``. Returns how many were made."""
    deadline = time.monotonic() + seconds
    claimed = made = 0

    async def worker() -> None:
        nonlocal claimed, made
        while claimed < count and time.monotonic() < deadline:
            claimed += 1
            try:
                thread_id = (await _bounded(client.threads.create()))["thread_id"]
                output = await _bounded(client.runs.wait(thread_id, "one", input=INPUT))
            except Exception as exc:
                ERRORS.add(server, "memory", exc)
                continue
            if output == OUTPUT:
                made += 1
            else:
                ERRORS.add(server, "memory", output)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if made < count:
        log(f"  ! {server.name} memory: {made:,} of {count:,} threads made")
    return made


async def _idle_cpu_percent(server: Server, seconds: float) -> float:
    cpu = server.cpu_seconds()
    await asyncio.sleep(seconds)
    return (server.cpu_seconds() - cpu) / seconds * 100


def _disk_kib(server: Server) -> float:
    """What a server keeps on disk: chainserve its SQLite files, langgraph dev the
    pickles of its .langgraph_api/ folder (written every 10 s)."""
    if server.name == CHAINSERVE:
        folder = server.database.parent
    else:
        folder = server.project / ".langgraph_api"
    files = [path for path in folder.glob("*") if path.is_file()] if folder.exists() else []
    return sum(path.stat().st_size for path in files) / 1024


async def measure_memory(
    server: Server, threads: int, concurrency: int, seconds: float, idle: float
) -> Metrics:
    """RSS and idle CPU of a fresh server, warmed up, before and after ``threads``
    threads with one run each; idle CPU over ``idle`` s (langgraph dev pickles all its
    state every 10 s: a window of 10 s or more takes one of those in)."""
    async with get_client(url=server.url, timeout=TIMEOUT) as client:
        # The first runs import and allocate what every later run reuses.
        await fill_threads(server, client, 8, min(concurrency, 8), seconds)
        for _ in range(4):
            await _bounded(client.runs.wait(None, "one", input=INPUT))
        await asyncio.sleep(1.0)
        idle_cpu = await _idle_cpu_percent(server, idle)
        before, disk_before = server.rss_mib(), _disk_kib(server)
        started = time.perf_counter()
        made = await fill_threads(server, client, threads, concurrency, seconds)
        fill_s = time.perf_counter() - started
        await asyncio.sleep(1.0)
        loaded_cpu = await _idle_cpu_percent(server, idle)
        after, disk_after = server.rss_mib(), _disk_kib(server)
    return {
        "RSS idle MiB": before,
        "RSS with threads MiB": after,
        "KiB per idle thread": (after - before) * 1024 / max(made, 1),
        "idle CPU %": idle_cpu,
        "idle CPU with threads %": loaded_cpu,
        "fill threads/s": made / fill_s,
        "threads made": made,
        "fill concurrency": concurrency,
        "disk KiB per thread": (disk_after - disk_before) / max(made, 1),
    }


async def _healthy(client: LangGraphClient) -> bool:
    """Whether the server still makes a thread and runs on it."""
    try:
        thread_id = (await _bounded(client.threads.create()))["thread_id"]
        return bool(await _bounded(client.runs.wait(thread_id, "one", input=INPUT)) == OUTPUT)
    except Exception:
        return False


# The run --------------------------------------------------------------------------

# (metric key, label, higher is better); {c}: --concurrency, {t}: --threads
ROWS: list[tuple[str, str, bool]] = [
    ("startup s", "start to first answer, s", False),
    ("stream first event ms", "runs.stream: first event (metadata), ms", False),
    ("stream first values ms", "runs.stream: first values event, ms", False),
    ("stream end ms", "runs.stream: end of stream, ms", False),
    ("create answered ms", "runs.create: answered, ms", False),
    ("create to first data ms", "runs.create + join_stream: first data event, ms", False),
    ("events first ms", f"stream of {EVENTS} custom events: first, ms", False),
    ("events first to last ms", f"stream of {EVENTS} custom events: first to last, ms", False),
    ("wait median ms", "runs.wait on a thread: median, ms", False),
    ("wait p90 ms", "runs.wait on a thread: p90, ms", False),
    ("wait CPU ms / run", "runs.wait on a thread: server CPU ms / run", False),
    ("stateless1 runs/s", "stateless /runs/wait, c1: runs/s", True),
    ("stateless1 CPU ms / run", "stateless /runs/wait, c1: server CPU ms / run", False),
    ("stateless runs/s", "stateless /runs/wait, c{c}: runs/s (answered 200)", True),
    ("stateless p50 ms", "stateless /runs/wait, c{c}: p50, ms", False),
    ("stateless CPU ms / run", "stateless /runs/wait, c{c}: server CPU ms / run", False),
    ("stateless failed %", "stateless /runs/wait, c{c}: failed requests, %", False),
    ("RSS idle MiB", "RSS idle (warmed up), MiB", False),
    ("RSS with threads MiB", "RSS with {t} threads, MiB", False),
    ("KiB per idle thread", "RSS per idle thread, KiB", False),
    ("idle CPU %", "idle server CPU, % of a core", False),
    ("idle CPU with threads %", "idle server CPU with {t} threads, % of a core", False),
]

Results = dict[str, dict[str, list[float]]]  # metric -> server -> one value per repeat
Measure = Callable[[Server, LangGraphClient], Coroutine[Any, Any, Metrics]]


async def run_repeats(
    servers: dict[str, Server], args: argparse.Namespace, results: Results, restarts: list[str]
) -> None:
    clients = {name: get_client(url=s.url, timeout=TIMEOUT) for name, s in servers.items()}
    scenarios: list[tuple[str, Measure]] = [
        ("stream", lambda s, c: measure_stream(s, c, args.samples)),
        ("join", lambda s, c: measure_join(s, c, args.samples)),
        ("events", lambda s, c: measure_events(s, c, args.samples)),
        ("wait", lambda s, c: measure_wait(s, c, args.wait_samples)),
        ("stateless c1", lambda s, c: measure_stateless(s, c, 1, args.duration)),
        (
            f"stateless c{args.concurrency}",
            lambda s, c: measure_stateless(s, c, args.concurrency, args.duration),
        ),
    ]

    async def measure(name: str, scenario: str, run: Measure) -> Metrics:
        server = servers[name]
        errors = ERRORS.totals[name]
        metrics = await run(server, clients[name])
        if ERRORS.totals[name] > errors and not await _healthy(clients[name]):
            # Left broken (it does not make threads or runs any more): start it again so
            # that the next scenarios measure a working server, and say so.
            log(f"  ! {name} no longer runs after {scenario}: restarting it")
            restarts.append(f"{name} after {scenario}")
            await clients[name].aclose()
            server.restart()
            clients[name] = get_client(url=server.url, timeout=TIMEOUT)
        return metrics

    try:
        log("warming up")
        for name in SERVERS:
            await measure(name, "warm-up", lambda s, c: measure_stream(s, c, 1))
            await measure(name, "warm-up", lambda s, c: measure_wait(s, c, 1))
            await measure(name, "warm-up", lambda s, c: measure_stateless(s, c, 1, 1.0))
        for repeat in range(args.repeats):
            order = list(SERVERS) if repeat % 2 == 0 else list(reversed(SERVERS))
            for scenario, run in scenarios:
                log(f"repeat {repeat + 1}/{args.repeats}: {scenario} ({', '.join(order)})")
                for name in order:
                    for metric, value in (await measure(name, scenario, run)).items():
                        results[metric][name].append(value)
    finally:
        for client in clients.values():
            await client.aclose()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _ratio(cs: float, lg: float) -> str:
    if cs != cs or lg != lg or lg == 0:
        return "n/a"
    ratio = cs / lg
    return f"{ratio:.3f}{X}" if ratio < 0.01 else f"{ratio:.3g}{X}"


def render(results: Results, args: argparse.Namespace, notes: list[str]) -> str:
    lines = [
        "| metric | chainserve | langgraph dev | chainserve / langgraph dev |",
        "|---|---:|---:|---:|",
    ]
    for key, label, higher in ROWS:
        if key not in results:
            continue
        cs, lg = median(results[key][CHAINSERVE]), median(results[key][LANGGRAPH])
        text = label.format(c=args.concurrency, t=f"{args.threads:,}")
        lines.append(
            f"| {text} {'↑' if higher else '↓'} | {fmt(cs)} | {fmt(lg)} | {_ratio(cs, lg)} |"
        )
    lines += [
        "",
        f"↑ higher is better, ↓ lower is better; medians of {args.repeats} repeats "
        "(startup: of the main and the memory server; memory and idle CPU: one fresh server "
        "each).",
    ]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines)


def header(venv: dict[str, str]) -> str:
    cpu = cpu_model()
    main = ", ".join(f"{p} {version(p)}" for p in ("chainserve", "langgraph", "langgraph-sdk"))
    main = main.replace(
        f"chainserve {version('chainserve')}",
        f"chainserve {version('chainserve')} {chainserve_commit()}",
        1,
    )
    dev = ", ".join(f"{p} {v}" for p, v in venv.items())
    return (
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} {X} {cpu}, "
        f"Python {platform.python_version()}; main: {main}; langgraph dev venv: {dev}; "
        f"`{' '.join(['python -m bench.agents', *sys.argv[1:]])}`"
    )


def _terminate(signum: int, _: Any) -> None:
    raise SystemExit(128 + signum)  # so that the finally blocks stop the servers


def run_memory(
    tmp: Path, db_dir: Path | None, args: argparse.Namespace, results: Results, notes: list[str]
) -> None:
    concurrency = args.fill_concurrency
    for index, name in enumerate(SERVERS):
        log(f"memory: fresh {name}, {args.threads:,} threads at concurrency {concurrency}")
        # A folder of its own: langgraph dev would load the threads of the earlier one
        # from its .langgraph_api/ pickles.
        server = Server(name, write_project(tmp / f"memory-{index}"), args.lg_jobs, db_dir)
        with running([server]):
            results["startup s"][name].append(server.startup_s)
            memory = _run(
                measure_memory(server, args.threads, concurrency, args.fill_seconds, args.idle)
            )
        for metric, value in memory.items():
            results[metric][name].append(value)
        where = "SQLite" if name == CHAINSERVE else ".langgraph_api/ pickles"
        notes.append(
            f"{name}: {int(memory['threads made']):,} threads made at concurrency "
            f"{concurrency}, {memory['fill threads/s']:.1f} threads/s (threads.create + "
            f"runs.wait); on disk {memory['disk KiB per thread']:.2f} KiB per thread ({where})"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat, small counts (~1 min)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10, help="runs per stream scenario")
    parser.add_argument("--wait-samples", type=int, default=20, help="runs.wait calls")
    parser.add_argument("--concurrency", type=int, default=16, help="stateless workers")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per stateless run")
    parser.add_argument("--threads", type=int, default=2000, help="threads for memory")
    parser.add_argument("--fill-concurrency", type=int, default=64, help="workers making them")
    parser.add_argument(
        "--fill-seconds", type=float, default=240.0, help="stop making threads after this"
    )
    parser.add_argument(
        "--lg-jobs",
        type=int,
        default=None,
        help="langgraph dev --n-jobs-per-worker (default: not given; langgraph dev then runs "
        "1 run at a time, back to back while runs are pending; with more, each batch of runs "
        "waits for its queue's next 0.5 s poll, which is slower for these short runs)",
    )
    parser.add_argument("--idle", type=float, default=10.5, help="seconds of idle CPU measure")
    parser.add_argument(
        "--chainserve-db-dir",
        type=Path,
        help="put chainserve's SQLite database in a temporary folder here (e.g. /dev/shm, to "
        "see what its fsyncs cost) rather than in the project folder",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory scenario")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    parser.add_argument("--json", type=Path, help="write every raw figure to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.samples, args.wait_samples = 1, 3, 5
        args.duration, args.threads, args.fill_seconds, args.idle = 2.0, 200, 60.0, 3.0
    signal.signal(signal.SIGTERM, _terminate)
    ensure_venv()
    venv = venv_versions()
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CPU})  # the servers are on core 0
    results: Results = defaultdict(lambda: defaultdict(list))
    notes: list[str] = []
    restarts: list[str] = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-agents-")))
        db_dir = None
        if args.chainserve_db_dir:
            where = args.chainserve_db_dir
            db_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=where)))
        project = write_project(tmp / "project")  # both serve it, from its folder
        servers = {name: Server(name, project, args.lg_jobs, db_dir) for name in SERVERS}
        with running(list(servers.values())):
            for name, server in servers.items():
                results["startup s"][name].append(server.startup_s)
            _run(run_repeats(servers, args, results, restarts))
        if not args.no_memory:
            run_memory(tmp, db_dir, args, results, notes)
    if restarts:
        notes.append(f"restarted, no longer answering runs: {'; '.join(restarts)}")
    notes += [f"errors: {key}: {count:,}" for key, count in ERRORS.counts.items()]
    jobs = f" --n-jobs-per-worker {args.lg_jobs}" if args.lg_jobs is not None else ""
    notes.append(
        f"langgraph dev: --no-reload{jobs}, LOG_LEVEL=WARNING, "
        "no analytics, no version check, no tracing; chainserve: --log-level warning, SQLite "
        f"database in {args.chainserve_db_dir or 'the project folder'}. Both pinned to core 0, "
        "the client on core 1."
    )
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
