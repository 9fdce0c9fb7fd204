"""Per-request cost in-process: the three benchmark apps called as ASGI apps, no sockets.

``python -m bench.inprocess`` prints microseconds per request for each app and route;
``--profile chainserve`` adds a cProfile of that app. Without network, event-loop and
HTTP-parser noise, this shows what the framework itself costs on top of langchain-core,
which is what ``bench/run.py``'s ratios are made of.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from bench.servers import APPS

Call = Callable[[], Awaitable[None]]

ROUTES = {
    "invoke": ("/identity/invoke", b'{"input": {"a": 1}}'),
    "batch": ("/identity/batch", b'{"inputs": [' + b",".join([b'{"a": 1}'] * 100) + b"]}"),
    "stream": ("/chunks/stream", b'{"input": {"a": 1}}'),
    "sleep": ("/sleep/invoke", b'{"input": {"a": 1}}'),
}


def asgi_call(app: Any, path: str, body: bytes) -> Call:
    """One POST to ``app``, the way uvicorn would make it; checks for a 200."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"user-agent", b"bench"),
        ],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }

    async def call() -> None:
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await gone
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(dict(scope), receive, send)
        if not gone.done():
            gone.set_result(None)
        if status != [200]:
            raise RuntimeError(f"{path} answered {status}")

    return call


async def per_request_us(call: Call, count: int, concurrency: int = 1) -> float:
    """Wall time per request with ``concurrency`` callers; on one event loop, that is
    the CPU time a request costs (runs that sleep excepted)."""

    async def caller(n: int) -> None:
        for _ in range(n):
            await call()

    await asyncio.gather(*(caller(count // 10 // concurrency + 1) for _ in range(concurrency)))
    start = time.perf_counter()
    await asyncio.gather(*(caller(count // concurrency) for _ in range(concurrency)))
    return (time.perf_counter() - start) / count * 1e6


async def measure(routes: list[str], count: int, repeats: int, concurrency: int) -> None:
    apps = {name: factory() for name, factory in APPS.items()}
    for route in routes:
        path, body = ROUTES[route]
        n = count if route in ("invoke", "sleep") else count // 20
        results: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(repeats):
            for name, app in apps.items():
                call = asgi_call(app, path, body)
                results[name].append(await per_request_us(call, n, concurrency))
        best = {name: min(values) for name, values in results.items()}
        cells = ", ".join(f"{name} {us:.1f} µs" for name, us in best.items())
        print(f"{route}: {cells}; chainserve/bare {best['bare'] / best['chainserve']:.2f}x")


def profile(server: str, route: str, count: int, concurrency: int) -> None:
    path, body = ROUTES[route]
    call = asgi_call(APPS[server](), path, body)

    async def run() -> None:
        await per_request_us(call, count, concurrency)

    uvloop.run(run())
    profiler = cProfile.Profile()
    profiler.enable()
    uvloop.run(run())
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(40)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", nargs="+", choices=sorted(ROUTES), default=list(ROUTES))
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--profile", choices=sorted(APPS))
    args = parser.parse_args(argv)
    if args.profile:
        for route in args.routes:
            profile(args.profile, route, args.count, args.concurrency)
        return
    uvloop.run(measure(args.routes, args.count, args.repeats, args.concurrency))


if __name__ == "__main__":
    main()
