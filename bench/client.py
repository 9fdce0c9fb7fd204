"""SSE load client for ``bench/run.py``, run as its own process (pinned to a core).

Modes, each bounded in time and printing one JSON line on stdout:

* ``throughput``: ``--concurrency`` connections stream ``--path`` back to back for
  ``--duration`` s; counts streams, data events and errors (a stream that does not
  end with 200 and ``--expect`` data events is an error).
* ``ttfc``: one stream at a time for ``--duration`` s; time to first data event.
* ``hold``: open ``--concurrency`` streams, wait until each has sent its first data
  event, print ``READY``, then hold them until a line on stdin or ``--duration`` s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from typing import Any

import uvloop

from bench.httpclient import Connection


async def throughput(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.perf_counter() + args.duration
    totals = {"streams": 0, "events": 0, "errors": 0}
    body = args.body.encode()

    async def worker() -> None:
        conn = Connection(args.host, args.port)
        while time.perf_counter() < deadline:
            count = 0

            def sink(name: bytes, data: bytes) -> None:
                nonlocal count
                if name == b"data":
                    count += 1

            try:
                response = await asyncio.wait_for(
                    conn.stream_events(args.path, body, sink), args.timeout
                )
            except (OSError, asyncio.TimeoutError):
                conn.close()
                totals["errors"] += 1
                continue
            if response.status != 200 or (args.expect and count != args.expect):
                totals["errors"] += 1
            else:
                totals["streams"] += 1
                totals["events"] += count
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - start
    return {**totals, "seconds": elapsed}


async def ttfc(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.perf_counter() + args.duration
    conn = Connection(args.host, args.port)
    body = args.body.encode()
    samples: list[float] = []
    errors = 0
    while time.perf_counter() < deadline:
        first: list[float] = []
        start = time.perf_counter()

        def sink(name: bytes, data: bytes, first: list[float] = first) -> None:
            if name == b"data" and not first:
                first.append(time.perf_counter())

        try:
            response = await asyncio.wait_for(
                conn.stream_events(args.path, body, sink), args.timeout
            )
        except (OSError, asyncio.TimeoutError):
            conn.close()
            errors += 1
            continue
        if response.status != 200 or not first:
            errors += 1
        else:
            samples.append(first[0] - start)
    conn.close()
    return {
        "streams": len(samples),
        "errors": errors,
        "ttfc_ms_median": statistics.median(samples) * 1e3 if samples else None,
        "ttfc_ms_p90": statistics.quantiles(samples, n=10)[-1] * 1e3 if len(samples) > 10 else None,
    }


async def hold(args: argparse.Namespace) -> dict[str, Any]:
    body = args.body.encode()
    ready = 0
    all_ready = asyncio.Event()
    conns = [Connection(args.host, args.port) for _ in range(args.concurrency)]
    errors = 0

    async def one(conn: Connection) -> None:
        nonlocal ready, errors
        seen = False

        def sink(name: bytes, data: bytes) -> None:
            nonlocal ready, seen
            if name == b"data" and not seen:
                seen = True
                ready += 1
                if ready == args.concurrency:
                    all_ready.set()

        try:
            await conn.stream_events(args.path, body, sink)
        except OSError:
            if not seen:
                errors += 1

    tasks = [asyncio.ensure_future(one(conn)) for conn in conns]
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_ready.wait(), args.timeout)
    print("READY", ready, flush=True)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.duration)
    for conn in conns:
        conn.abort()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"open": ready, "errors": errors}


MODES = {"throughput": throughput, "ttfc": ttfc, "hold": hold}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body", default='{"input": null}')
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="per stream")
    parser.add_argument("--expect", type=int, default=0, help="data events per stream")
    args = parser.parse_args(argv)
    result = uvloop.run(MODES[args.mode](args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
