"""Load and fault script: many concurrent streams against one server, then SIGTERM.

Not a timed test: run it by hand, e.g. ``python -m bench.load --duration 60``.

1. Starts ``bench/servers.py`` (``--server``, default chainserve; pinned to core 0,
   this client to core 1) with a graceful-shutdown period of ``--grace`` s.
2. ``--streams`` clients (default 1,000) stream ``/paced/stream`` back to back for
   ``--duration`` s: each run sends ``{"i": 0}`` ... ``{"i": n-1}``, one every
   ``--delay`` s. Every ``--disconnect-every``-th run is dropped by its client after
   a random number of chunks (at most half of them) by aborting the connection.
   Checks, for every run a client kept: status 200, ``metadata`` first, every chunk
   present and in order, ``end`` last, nothing else (no ``error`` events). The
   server's counters must show one run ended early per dropped run (the server
   cancelled it) and every other run finished. RSS is sampled every 5 s; the figure
   that matters is end vs. the end of warm-up (``--warmup`` s).
3. Graceful shutdown: opens short streams (finishing within the grace period) and
   long ones (not), sends SIGTERM once each has its first chunk, and checks that the
   short ones finish completely, the long ones are closed at about the grace period,
   new connections are refused, the server exits, and its counters at exit show
   the long runs cancelled.

Exit status 0 when every check passes, 1 otherwise. Loops are bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from bench.httpclient import Connection

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


@dataclass
class StreamCheck:
    """Checks one run's events as they arrive: metadata, data 0..n-1 in order, end."""

    chunks: int
    cut_after: int | None = None  # drop the connection after this many chunks
    events: int = 0
    next_index: int = 0
    ended: bool = False
    problems: list[str] = field(default_factory=list)
    first_chunk: asyncio.Event = field(default_factory=asyncio.Event)
    conn: Connection | None = None

    def __call__(self, name: bytes, data: bytes) -> None:
        if self.cut_after is not None and self.next_index >= self.cut_after:
            return  # already dropped
        self.events += 1
        if self.events == 1:
            if name != b"metadata":
                self.problems.append(f"first event is {name!r}, not metadata")
            return
        if name == b"data":
            try:
                index = json.loads(data)["i"]
            except (ValueError, KeyError, TypeError):
                self.problems.append(f"bad data {data[:80]!r}")
                return
            if index != self.next_index:
                self.problems.append(f"chunk {index} where {self.next_index} was due")
            self.next_index = index + 1
            self.first_chunk.set()
            if self.cut_after is not None and self.next_index >= self.cut_after and self.conn:
                self.conn.abort()
        elif name == b"end":
            if self.next_index != self.chunks:
                self.problems.append(f"end after {self.next_index} of {self.chunks} chunks")
            self.ended = True
        else:
            self.problems.append(f"unexpected event {name!r}: {data[:120]!r}")


@dataclass
class Tally:
    completed: int = 0
    dropped: int = 0
    failed: int = 0
    chunks: int = 0
    problems: Counter[str] = field(default_factory=Counter)

    def fail(self, problem: str) -> None:
        self.failed += 1
        self.problems[problem] += 1


async def run_load(args: argparse.Namespace, pid: int) -> dict[str, Any]:
    rng = random.Random(42)
    tally = Tally()
    body = json.dumps({"input": {"n": args.chunks, "delay": args.delay}}).encode()
    start = time.monotonic()
    deadline = start + args.duration
    rss: list[tuple[float, float]] = []
    runs = 0

    async def client() -> None:
        nonlocal runs
        conn = Connection(args.host, args.port)
        while time.monotonic() < deadline:
            runs += 1
            cut = rng.randint(1, args.chunks // 2) if runs % args.disconnect_every == 0 else None
            check = StreamCheck(args.chunks, cut, conn=conn)
            try:
                response = await asyncio.wait_for(
                    conn.stream_events("/paced/stream", body, check), args.chunks * args.delay + 30
                )
            except asyncio.TimeoutError:
                conn.close()
                tally.fail("timeout")
                continue
            except OSError as exc:
                conn.close()
                if cut is None or check.next_index < cut:
                    tally.fail(f"connection error: {exc}")
                    continue
            tally.chunks += check.next_index
            if cut is not None and check.next_index >= cut:
                tally.dropped += 1
                continue
            if response.status != 200:
                tally.fail(f"status {response.status}")
            elif check.problems:
                tally.fail(check.problems[0])
            elif not check.ended:
                tally.fail("no end event")
            else:
                tally.completed += 1
        conn.close()

    async def sample_rss() -> None:
        while time.monotonic() < deadline + 5:
            rss.append((time.monotonic() - start, rss_mib(pid)))
            await asyncio.sleep(5)

    # Open the clients gradually (1 s) rather than in one burst of SYNs.
    sampler = asyncio.ensure_future(sample_rss())
    clients = []
    for index in range(args.streams):
        clients.append(asyncio.ensure_future(client()))
        if index % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.gather(*clients)
    elapsed = time.monotonic() - start
    sampler.cancel()
    await asyncio.sleep(2)  # let the server finish cancelling dropped runs
    stats = await get_stats(args)
    after_warmup = next((mib for t, mib in rss if t >= args.warmup), rss[-1][1])
    return {
        "seconds": elapsed,
        "runs_completed": tally.completed,
        "runs_dropped_by_client": tally.dropped,
        "runs_failed": tally.failed,
        "problems": dict(tally.problems.most_common(10)),
        "chunks_received": tally.chunks,
        "server": stats,
        "rss_mib_after_warmup": after_warmup,
        "rss_mib_end": rss[-1][1],
        "rss_mib_samples": [(round(t), round(m, 1)) for t, m in rss],
    }


async def get_stats(args: argparse.Namespace) -> dict[str, Any]:
    response = await Connection(args.host, args.port).request("GET", "/_stats")
    return dict(json.loads(response.body))


async def run_shutdown(args: argparse.Namespace, server: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGTERM with short and long streams open."""
    short = json.dumps({"input": {"n": 10, "delay": args.grace / 20}}).encode()  # grace / 2
    long = json.dumps({"input": {"n": 100, "delay": args.grace / 10}}).encode()  # grace * 10
    results: dict[str, list[Any]] = {"short": [], "long": []}

    async def one(kind: str, body: bytes, chunks: int) -> None:
        check = StreamCheck(chunks)
        conn = Connection(args.host, args.port)
        task = asyncio.ensure_future(conn.stream_events("/paced/stream", body, check))
        await asyncio.wait_for(check.first_chunk.wait(), 10)
        await signalled.wait()
        try:
            response = await asyncio.wait_for(task, args.grace + 30)
            outcome: Any = (response.status, check.ended, check.problems)
        except OSError as exc:
            outcome = type(exc).__name__
        results[kind].append((outcome, check.next_index, time.monotonic() - sent_at[0]))
        conn.close()

    signalled = asyncio.Event()
    sent_at = [0.0]
    tasks = [asyncio.ensure_future(one("short", short, 10)) for _ in range(args.shutdown_streams)]
    tasks += [asyncio.ensure_future(one("long", long, 100)) for _ in range(args.shutdown_streams)]
    await asyncio.sleep(1.0)  # every stream has its first chunk by now (checked below)
    server.send_signal(signal.SIGTERM)
    sent_at[0] = time.monotonic()
    signalled.set()
    await asyncio.sleep(0.5)
    refused = False
    try:
        await Connection(args.host, args.port).request("GET", "/_stats")
    except OSError:
        refused = True
    await asyncio.gather(*tasks)
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, server.wait, args.grace + 30)
    exited_after = time.monotonic() - sent_at[0]
    out = await loop.run_in_executor(None, server.stdout.read) if server.stdout else ""  # type: ignore[arg-type]
    stats = next(
        (json.loads(line[6:]) for line in out.splitlines() if line.startswith("STATS ")), None
    )
    short_ok = sum(1 for o, n, _ in results["short"] if o == (200, True, []) and n == 10)
    long_cut = [t for o, n, t in results["long"] if n < 100]
    return {
        "grace_s": args.grace,
        "short_streams_complete": f"{short_ok}/{len(results['short'])}",
        "long_streams_closed": f"{len(long_cut)}/{len(results['long'])}",
        "long_closed_after_s": [round(min(long_cut), 2), round(max(long_cut), 2)]
        if long_cut
        else None,
        "new_connections_refused": refused,
        "server_exit_code": code,
        "server_exited_after_s": round(exited_after, 2),
        "server_stats_at_exit": stats,
    }


def start_server(args: argparse.Namespace) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench.servers", "--server", args.server, "--port", str(args.port)]
    cmd += ["--graceful-timeout", str(args.grace)]
    if (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
        os.sched_setaffinity(0, {1})
    env = {**os.environ, "BENCH_STATS_ON_EXIT": "1"}
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((args.host, args.port), 0.5):
            return server
        if server.poll() is not None:
            sys.exit(f"server exited with {server.returncode}")
        time.sleep(0.2)
    server.kill()
    sys.exit("server did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", choices=("chainserve", "langserve", "bare"), default="chainserve"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--disconnect-every", type=int, default=10)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--shutdown-streams", type=int, default=20)
    args = parser.parse_args(argv)
    args.port = args.port or _free_port()

    server = start_server(args)
    try:
        load = uvloop.run(run_load(args, server.pid))
        print(json.dumps({"load": load}, indent=1), flush=True)
        shutdown = uvloop.run(run_shutdown(args, server))
        print(json.dumps({"shutdown": shutdown}, indent=1), flush=True)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    server_stats = load["server"]
    checks = {
        "no failed run among those kept": load["runs_failed"] == 0,
        "every dropped run cancelled": server_stats["ended_early"]
        == load["runs_dropped_by_client"],
        "every kept run finished": server_stats["finished"] == load["runs_completed"],
        "RSS flat (end <= after warm-up + 10%)": load["rss_mib_end"]
        <= load["rss_mib_after_warmup"] * 1.1,
        "short streams finish after SIGTERM": shutdown["short_streams_complete"].split("/")[0]
        == shutdown["short_streams_complete"].split("/")[1],
        "long streams closed at the grace period": shutdown["long_streams_closed"].split("/")[0]
        == shutdown["long_streams_closed"].split("/")[1]
        and shutdown["long_closed_after_s"] is not None
        and args.grace - 0.5 <= shutdown["long_closed_after_s"][0]
        and shutdown["long_closed_after_s"][1] <= args.grace + 3,
        "new connections refused after SIGTERM": shutdown["new_connections_refused"],
        "server exits after SIGTERM": shutdown["server_exit_code"] is not None
        and shutdown["server_exited_after_s"] <= args.grace + 5,
        "runs cut at the grace period cancelled": (shutdown["server_stats_at_exit"] or {}).get(
            "ended_early", 0
        )
        - server_stats["ended_early"]
        == args.shutdown_streams,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
