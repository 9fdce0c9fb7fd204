"""The three servers of the benchmark, serving the same runnables.

* ``chainserve``: ``chainserve.add_routes`` on a FastAPI app.
* ``langserve``: ``langserve.add_routes`` (0.3.3, from PyPI) on a FastAPI app.
* ``bare``: a Starlette app whose endpoints only parse ``{"input": ...}``, await
  ``ainvoke`` / iterate ``astream`` and write JSON or SSE by hand: the practical
  limit for any framework on top of langchain-core.

Every app also answers ``GET /_stats`` with the counters of the ``/paced`` runnable
(streams started, finished, ended early), which ``bench/load.py`` checks.

Run one with ``python -m bench.servers --server chainserve --port 8001``. It binds its
own TCP socket (``IPPROTO_TCP``: asyncio sets ``TCP_NODELAY`` only on such sockets;
without it every keep-alive response can stall ~40 ms) and, with ``--workers N``,
forks N uvicorn workers sharing that socket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SERVERS = ("chainserve", "langserve", "bare")
CHUNKS = 200
JOKE = "Why did the chicken cross the road? To get to the other side, of course!"

# Counters of the /paced runnable, for bench/load.py's checks.
STATS: dict[str, int] = {"started": 0, "finished": 0, "ended_early": 0}


async def _identity(x: Any) -> Any:
    return x


# The generators carry no return annotation: LangServe builds a JSON schema of the
# runnable's output type at add_routes time and fails on ``AsyncIterator[...]``.
async def _chunks(x: Any):  # type: ignore[no-untyped-def]
    """200 small chunks, as fast as they can go."""
    for index in range(CHUNKS):
        yield f"t{index} "


async def _sleep(x: Any) -> Any:
    await asyncio.sleep(0.05)
    return x


async def _paced(spec: Any):  # type: ignore[no-untyped-def]
    """``{"n": N, "delay": s}`` -> ``{"i": 0}`` ... ``{"i": N-1}``, one every ``delay`` s."""
    count = int(spec.get("n", 10)) if isinstance(spec, dict) else 10
    delay = float(spec.get("delay", 0.1)) if isinstance(spec, dict) else 0.1
    STATS["started"] += 1
    done = False
    try:
        for index in range(count):
            yield {"i": index}
            await asyncio.sleep(delay)
        done = True
    finally:
        STATS["finished" if done else "ended_early"] += 1


def _joke_chain() -> Runnable:
    prompt = ChatPromptTemplate.from_template("tell me a joke about {topic}")
    return prompt | FakeListChatModel(responses=[JOKE]) | StrOutputParser()


RUNNABLES: dict[str, Callable[[], Runnable]] = {
    "identity": lambda: RunnableLambda(_identity),
    "chunks": lambda: RunnableLambda(_chunks),
    "joke": _joke_chain,
    "sleep": lambda: RunnableLambda(_sleep),
    "paced": lambda: RunnableLambda(_paced),
}


def _stats(request: Request) -> Response:
    return JSONResponse({**STATS, "pid": os.getpid()})


def _fastapi_app(add_routes: Callable[..., Any]) -> FastAPI:
    app = FastAPI()
    for name, factory in RUNNABLES.items():
        add_routes(app, factory(), path=f"/{name}")
    app.add_route("/_stats", _stats, methods=["GET"])
    return app


def chainserve_app() -> FastAPI:
    from chainserve import add_routes

    return _fastapi_app(add_routes)


def langserve_app() -> FastAPI:
    from langserve import add_routes

    return _fastapi_app(add_routes)


# The bare app ---------------------------------------------------------------------


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default)


def _frame(event: bytes, data: bytes) -> bytes:
    return b"event: " + event + b"\r\ndata: " + data + b"\r\n\r\n"


def _bare_routes(name: str, runnable: Runnable) -> list[Route]:
    async def invoke(request: Request) -> Response:
        body = orjson.loads(await request.body())
        run_id = uuid.uuid4()
        output = await runnable.ainvoke(body["input"], {"run_id": run_id})
        metadata = {"run_id": str(run_id), "feedback_tokens": []}
        return Response(
            _dumps({"output": output, "metadata": metadata}), media_type="application/json"
        )

    async def batch(request: Request) -> Response:
        body = orjson.loads(await request.body())
        run_ids = [uuid.uuid4() for _ in body["inputs"]]
        outputs = await runnable.abatch(body["inputs"], [{"run_id": r} for r in run_ids])
        responses = [{"run_id": str(r), "feedback_tokens": []} for r in run_ids]
        metadata = {"responses": responses, "run_ids": [r["run_id"] for r in responses]}
        return Response(
            _dumps({"output": outputs, "metadata": metadata}), media_type="application/json"
        )

    async def stream(request: Request) -> Response:
        body = orjson.loads(await request.body())
        run_id = uuid.uuid4()

        async def frames() -> AsyncIterator[bytes]:
            yield _frame(b"metadata", _dumps({"run_id": str(run_id)}))
            async for chunk in runnable.astream(body["input"], {"run_id": run_id}):
                yield _frame(b"data", _dumps(chunk))
            yield b"event: end\r\n\r\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def stream_events(request: Request) -> Response:
        body = orjson.loads(await request.body())

        async def frames() -> AsyncIterator[bytes]:
            async for event in runnable.astream_events(body["input"], version="v2"):
                yield _frame(b"data", _dumps(event))
            yield b"event: end\r\n\r\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    endpoints = {"invoke": invoke, "batch": batch, "stream": stream, "stream_events": stream_events}
    return [Route(f"/{name}/{ep}", fn, methods=["POST"]) for ep, fn in endpoints.items()]


def bare_app() -> Starlette:
    routes = [route for name, f in RUNNABLES.items() for route in _bare_routes(name, f())]
    routes.append(Route("/_stats", _stats, methods=["GET"]))
    return Starlette(routes=routes)


APPS: dict[str, Callable[[], Any]] = {
    "chainserve": chainserve_app,
    "langserve": langserve_app,
    "bare": bare_app,
}


# Running ----------------------------------------------------------------------------


def tcp_socket(host: str, port: int) -> socket.socket:
    """A listening socket made with ``IPPROTO_TCP``, so that accepted connections get
    ``TCP_NODELAY`` (asyncio checks ``sock.proto``; uvicorn's own bind uses proto 0)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve(app: Any, sock: socket.socket, graceful: float | None) -> None:
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",  # as uvicorn runs apps by default ("auto")
        access_log=False,
        log_level="warning",
        backlog=2048,
        timeout_graceful_shutdown=graceful,  # type: ignore[arg-type]  # a float works
    )
    _Server(config).run(sockets=[sock])


class _Server(uvicorn.Server):
    """uvicorn's server; with ``BENCH_STATS_ON_EXIT`` set, prints the /paced counters
    once shutdown is over (uvicorn then re-raises SIGTERM, so it must be done here)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if os.environ.get("BENCH_STATS_ON_EXIT"):
            await asyncio.sleep(0.2)  # let cancelled runs unwind
            print("STATS " + json.dumps({**STATS, "pid": os.getpid()}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one benchmark server.")
    parser.add_argument("--server", choices=SERVERS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=None,
        help="seconds open responses may take to finish after SIGTERM (uvicorn's "
        "timeout_graceful_shutdown); default: wait for them",
    )
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="collect and freeze the heap once the app is built, as chainserve does after "
        "startup (for comparison; chainserve's own server does it either way)",
    )
    args = parser.parse_args(argv)
    app = APPS[args.server]()
    if args.freeze:
        from chainserve.server.heap import freeze_startup_heap

        freeze_startup_heap()
    sock = tcp_socket(args.host, args.port)
    if args.workers == 1:
        _serve(app, sock, args.graceful_timeout)
        return
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_serve, args=(app, sock, args.graceful_timeout))
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, _: Any) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    sys.exit(max(worker.exitcode or 0 for worker in workers))


if __name__ == "__main__":
    main()
