"""Benchmark chainserve against LangServe 0.3.3 and a bare Starlette endpoint.

Starts the three servers of ``bench/servers.py`` (uvicorn, 1 worker, uvloop +
httptools, loopback), each pinned to core 0, and drives them from core 1 with wrk
(JSON routes) or ``bench/client.py`` (SSE routes). Every repeat runs every scenario
against every server, in a rotating order, so that noise from other work on the
machine spreads over all of them; the tables give the median of the repeats.

Server CPU time (utime + stime of the server's processes, from /proc/<pid>/stat) per
1,000 requests is reported next to throughput: it is steadier on a shared machine.

    python -m bench.run                 # full run: 3 repeats of 5 s per scenario
    python -m bench.run --quick         # 1 repeat of 1.5 s, to check the setup
    python -m bench.run --repeats 5 --duration 5 --output bench/latest.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

from bench.procs import cpu_seconds, descendants, free_port, rss_mib, stop, taskset
from bench.servers import SERVERS
from bench.stats import fmt, median

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPUS = "0"
LOAD_CPUS = "1"
HOLD_STREAMS = 256
X = "\N{MULTIPLICATION SIGN}"

# metric name -> (value per server per repeat)
Results = dict[str, dict[str, dict[str, list[float]]]]


@dataclass
class Server:
    name: str
    workers: int = 1
    cpus: str | None = SERVER_CPUS
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    cli: bool = False  # started by `chainserve serve` rather than bench.servers
    freeze: bool = False  # bench.servers --freeze

    def command(self) -> list[str]:
        port, workers = ["--port", str(self.port)], ["--workers", str(self.workers)]
        if self.cli:
            target = "bench.chainserve_app:app"
            return ["-m", "chainserve", "serve", target, *port, *workers, "--log-level", "warning"]
        freeze = ["--freeze"] if self.freeze else []
        return ["-m", "bench.servers", "--server", self.name, *port, *workers, *freeze]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        cmd = [*taskset(self.cpus), sys.executable, *self.command()]
        quiet = subprocess.DEVNULL  # LangServe prints a banner at startup
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=quiet, stderr=quiet)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                answered = httpx.get(f"{self.url}/_stats", timeout=1).status_code == 200
                # With several workers, wait until every one of them is up.
                workers_up = len(descendants(self.proc.pid)) > self.workers
                if answered and (self.workers == 1 or workers_up):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start in {timeout} s")

    def stop(self) -> None:
        stop(self.proc, 10)

    def pids(self) -> list[int]:
        assert self.proc is not None
        pids = descendants(self.proc.pid)
        # ``taskset`` execs the server, so the tree's root is the server itself; with
        # several workers the root only supervises and does not count.
        return pids[1:] if self.workers > 1 else pids

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def rss_mib(self) -> float:
        return rss_mib(self.pids())


# Load generators ------------------------------------------------------------------

_LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {{"requests":%d,"us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(
    url: str,
    body: str,
    connections: int,
    duration: float,
    threads: int = 1,
    cpus: str | None = LOAD_CPUS,
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA.format(body=body))
    try:
        cmd = [
            *taskset(cpus),
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            url,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[7:])
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    result["rps"] = result["requests"] / (result["us"] / 1e6)
    return result


def client(
    mode: str, server: Server, path: str, *args: str, timeout: float = 120
) -> dict[str, Any]:
    cmd = [
        *taskset(LOAD_CPUS),
        sys.executable,
        "-m",
        "bench.client",
        mode,
        "--port",
        str(server.port),
        "--path",
        path,
        *args,
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# Scenarios ------------------------------------------------------------------------

Metrics = dict[str, float]


@dataclass
class Scenario:
    name: str
    title: str
    run: Callable[[Server, float], Metrics]
    # metric -> higher is better?
    metrics: dict[str, bool]
    note: str = ""


def _with_cpu(
    server: Server, load: Callable[[], dict[str, Any]], count_key: str
) -> tuple[dict[str, Any], float]:
    before = server.cpu_seconds()
    result = load()
    cpu = server.cpu_seconds() - before
    count = result[count_key]
    return result, (cpu / count * 1000 if count else float("nan"))


def _errors(server: Server, scenario: str, result: dict[str, Any]) -> None:
    if result.get("errors"):
        print(f"  ! {server.name} {scenario}: {result['errors']} errors {result}", file=sys.stderr)


def _wrk_scenario(
    name: str, path: str, body: str, connections: int, per_request: float = 1.0
) -> Callable[[Server, float], Metrics]:
    def run(server: Server, duration: float) -> Metrics:
        result, cpu = _with_cpu(
            server,
            lambda: wrk(server.url + path, body, connections, duration),
            "requests",
        )
        _errors(server, name, result)
        metrics = {
            "req/s": result["rps"],
            "p50 ms": result["p50_us"] / 1e3,
            "p99 ms": result["p99_us"] / 1e3,
            "CPU s / 1k req": cpu,
        }
        if per_request != 1.0:
            metrics["inputs/s"] = result["rps"] * per_request
        return metrics

    return run


def _stream_scenario(
    name: str, path: str, body: str, concurrency: int, expect: int, unit: str
) -> Callable[[Server, float], Metrics]:
    def run(server: Server, duration: float) -> Metrics:
        args = ["--body", body, "--concurrency", str(concurrency), "--duration", str(duration)]
        if expect:
            args += ["--expect", str(expect)]
        result, cpu = _with_cpu(
            server, lambda: client("throughput", server, path, *args), "streams"
        )
        _errors(server, name, result)
        return {
            f"{unit}/s": result["events"] / result["seconds"],
            "streams/s": result["streams"] / result["seconds"],
            "CPU s / 1k streams": cpu,
        }

    return run


def _ttfc(server: Server, duration: float) -> Metrics:
    result = client(
        "ttfc", server, "/chunks/stream", "--body", '{"input": null}', "--duration", str(duration)
    )
    _errors(server, "ttfc", result)
    return {"TTFC median ms": result["ttfc_ms_median"], "TTFC p90 ms": result["ttfc_ms_p90"]}


def _memory(server: Server, duration: float) -> Metrics:
    """RSS of a fresh server of the same kind (the long-running one's heap has been
    grown by the other scenarios), warmed up by a few streams, then with open streams."""
    fresh = Server(server.name, cpus=server.cpus, freeze=server.freeze)
    with running([fresh]):
        client(
            "throughput",
            fresh,
            "/paced/stream",
            "--body",
            '{"input": {"n": 2, "delay": 0}}',
            "--concurrency",
            "8",
            "--duration",
            "0.5",
        )
        return _hold(fresh)


def _hold(server: Server) -> Metrics:
    time.sleep(0.5)
    idle = server.rss_mib()
    cmd = [
        *taskset(LOAD_CPUS),
        sys.executable,
        "-m",
        "bench.client",
        "hold",
        "--port",
        str(server.port),
        "--path",
        "/paced/stream",
        "--body",
        '{"input": {"n": 60, "delay": 0.5}}',
        "--concurrency",
        str(HOLD_STREAMS),
        "--duration",
        "30",
        "--timeout",
        "20",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    ready = proc.stdout.readline().split()
    time.sleep(0.5)
    loaded = server.rss_mib()
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.communicate(timeout=60)
    time.sleep(1.0)  # let the server cancel the runs it was serving
    opened = int(ready[1]) if len(ready) == 2 else 0
    if opened != HOLD_STREAMS:
        print(f"  ! {server.name} memory: only {opened} streams opened", file=sys.stderr)
    return {
        "RSS idle MiB": idle,
        f"RSS {HOLD_STREAMS} streams MiB": loaded,
        "KiB per open stream": (loaded - idle) * 1024 / max(opened, 1),
    }


BATCH_BODY = json.dumps({"inputs": [f"item {i}" for i in range(100)]})
INVOKE_BODY = '{"input": "hello"}'

SCENARIOS: list[Scenario] = [
    Scenario(
        "invoke_c1",
        "invoke, identity lambda, concurrency 1 (wrk)",
        _wrk_scenario("invoke_c1", "/identity/invoke", INVOKE_BODY, 1),
        {"req/s": True, "p50 ms": False, "CPU s / 1k req": False},
    ),
    Scenario(
        "invoke_c64",
        "invoke, identity lambda, concurrency 64 (wrk)",
        _wrk_scenario("invoke_c64", "/identity/invoke", INVOKE_BODY, 64),
        {"req/s": True, "p99 ms": False, "CPU s / 1k req": False},
    ),
    Scenario(
        "batch100",
        "batch of 100 inputs, identity lambda, concurrency 4 (wrk)",
        _wrk_scenario("batch100", "/identity/batch", BATCH_BODY, 4, per_request=100),
        {"req/s": True, "inputs/s": True, "CPU s / 1k req": False},
    ),
    Scenario(
        "stream200",
        "stream, 200 small chunks per run, concurrency 8 (asyncio client)",
        _stream_scenario("stream200", "/chunks/stream", '{"input": null}', 8, 200, "chunks"),
        {"chunks/s": True, "streams/s": True, "CPU s / 1k streams": False},
    ),
    Scenario(
        "ttfc",
        "stream, 200 small chunks, concurrency 1: time to first chunk",
        _ttfc,
        {"TTFC median ms": False, "TTFC p90 ms": False},
    ),
    Scenario(
        "stream_events",
        "stream_events of prompt | fake chat model | parser, concurrency 8",
        _stream_scenario(
            "stream_events", "/joke/stream_events", '{"input": {"topic": "cats"}}', 8, 0, "events"
        ),
        {"events/s": True, "streams/s": True, "CPU s / 1k streams": False},
    ),
    Scenario(
        "sleep_c256",
        "invoke, runnable sleeping 50 ms, concurrency 256 (wrk; ideal 5,120 req/s)",
        _wrk_scenario("sleep_c256", "/sleep/invoke", INVOKE_BODY, 256),
        {"req/s": True, "p99 ms": False, "CPU s / 1k req": False},
    ),
    Scenario(
        "memory",
        f"RSS at idle and with {HOLD_STREAMS} open streams",
        _memory,
        {
            "RSS idle MiB": False,
            f"RSS {HOLD_STREAMS} streams MiB": False,
            "KiB per open stream": False,
        },
        "a fresh server per measurement, warmed up by a few streams; idle is just before "
        "the streams open",
    ),
]


def _workers_run(one: Server, two: Server, duration: float) -> dict[str, Metrics]:
    """chainserve invoke c64: 1 worker (core 0, wrk on core 1) vs 2 workers (both cores,
    sharing them with wrk)."""
    out: dict[str, Metrics] = {}
    for label, server, cpus, threads in (
        ("1 worker", one, LOAD_CPUS, 1),
        ("2 workers", two, None, 2),
    ):
        result, cpu = _with_cpu(
            server,
            lambda s=server, c=cpus, t=threads: wrk(  # type: ignore[misc]
                s.url + "/identity/invoke", INVOKE_BODY, 64, duration, threads=t, cpus=c
            ),
            "requests",
        )
        _errors(server, label, result)
        out[label] = {"req/s": result["rps"], "CPU s / 1k req": cpu}
    return out


# Reporting ------------------------------------------------------------------------


def render(results: Results, repeats: int, workers: dict[str, list[Metrics]] | None) -> str:
    lines: list[str] = []
    for scenario in SCENARIOS:
        if scenario.name not in results:
            continue
        lines += [f"**{scenario.title}**", ""]
        lines += [
            "| metric | chainserve | LangServe | bare | chainserve/LangServe | chainserve/bare |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for metric, higher in scenario.metrics.items():
            values = {s: median(results[scenario.name][metric][s]) for s in SERVERS}
            cs, ls, bare = values["chainserve"], values["langserve"], values["bare"]
            arrow = "↑" if higher else "↓"
            lines.append(
                f"| {metric} {arrow} | {fmt(cs)} | {fmt(ls)} | {fmt(bare)} "
                f"| {cs / ls:.2f}{X} | {cs / bare:.2f}{X} |"
            )
        if scenario.note:
            lines += ["", f"({scenario.note})"]
        lines.append("")
    if workers:
        lines += ["**`chainserve`, invoke c64: 2 uvicorn workers vs 1**", ""]
        lines += ["| metric | 1 worker | 2 workers | 2 / 1 |", "|---|---:|---:|---:|"]
        for metric in ("req/s", "CPU s / 1k req"):
            one = median([m[metric] for m in workers["1 worker"]])
            two = median([m[metric] for m in workers["2 workers"]])
            lines.append(f"| {metric} | {fmt(one)} | {fmt(two)} | {two / one:.2f}{X} |")
        lines += [
            "",
            "(1 worker pinned to core 0 with wrk on core 1; 2 workers started by "
            "`chainserve serve --workers 2`, unpinned, sharing both cores with wrk)",
            "",
        ]
    lines.append(f"↑ higher is better, ↓ lower is better; medians of {repeats} repeats.")
    return "\n".join(lines)


def header(args: argparse.Namespace) -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{p} {version(p)}"
        for p in ("langchain-core", "langserve", "fastapi", "starlette", "uvicorn")
    )
    return (
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} {X} {cpu}, "
        f"Python {platform.python_version()}, {versions}; "
        f"`python -m bench.run {' '.join(sys.argv[1:])}`".rstrip()
    )


# Main -----------------------------------------------------------------------------


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[None]:
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in servers:
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--quick", action="store_true", help="1 repeat of 1.5 s: a smoke run")
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--no-workers", action="store_true", help="skip the 2-worker scenario")
    parser.add_argument(
        "--freeze-bare",
        action="store_true",
        help="freeze the bare and LangServe servers' heaps after startup too (gc.freeze, "
        "as chainserve does), to see what the rest of chainserve's lead is made of",
    )
    parser.add_argument("--output", type=Path, help="also write the tables to this file")
    parser.add_argument("--json", type=Path, help="write every raw figure to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 1, 1.5
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]
    do_workers = not args.no_workers and (not args.only or "workers" in args.only)

    servers = {name: Server(name, freeze=args.freeze_bare) for name in SERVERS}
    extra = [Server("chainserve", workers=2, cpus=None, cli=True)] if do_workers else []
    results: Results = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    workers: dict[str, list[Metrics]] = defaultdict(list)
    started = time.monotonic()
    with running([*servers.values(), *extra]):
        print("warming up", file=sys.stderr)
        for scenario in scenarios:
            if scenario.name not in ("memory", "ttfc"):
                for server in servers.values():
                    scenario.run(server, 1.0)
        for server in extra:
            wrk(server.url + "/identity/invoke", INVOKE_BODY, 64, 1.0, threads=2, cpus=None)
        for repeat in range(args.repeats):
            order = list(SERVERS[repeat % 3 :] + SERVERS[: repeat % 3])
            for scenario in scenarios:
                print(f"repeat {repeat + 1}/{args.repeats}: {scenario.name}", file=sys.stderr)
                for name in order:
                    for metric, value in scenario.run(servers[name], args.duration).items():
                        results[scenario.name][metric][name].append(value)
            if do_workers:
                for label, metrics in _workers_run(
                    servers["chainserve"], extra[0], args.duration
                ).items():
                    workers[label].append(metrics)
    table = render(results, args.repeats, workers if do_workers else None)
    text = f"{header(args)}\n\n{table}\n"
    print(text)
    print(f"(took {time.monotonic() - started:.0f} s)", file=sys.stderr)
    if args.output:
        args.output.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "workers": workers}, indent=1))


if __name__ == "__main__":
    main()
