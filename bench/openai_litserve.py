"""LitServe's server for ``bench/openai.py``: ``litserve.OpenAISpec`` at
``/v1/chat/completions`` over ``bench.openai_model.TokenModel``, on 127.0.0.1.

    bench/.venv-litserve/bin/python -m bench.openai_litserve --port 8002 [--async] [--fast-queue]

A ``LitAPI`` whose ``predict`` yields the model's tokens (``stream``, or ``astream``
with ``--async``, LitServe's ``enable_async``); the spec's own ``encode_response``. One
API server process (``num_api_servers=1``) and one inference worker, as LitServe runs
them: the main process, an ``mp.Manager`` process (its queues), the inference worker
(spawned) and the uvicorn API server (forked); ``--fast-queue`` adds a ZeroMQ broker.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litserve as ls
import litserve.server

from bench.openai_model import TokenModel

# LitServe 0.2.19 turns its MCP endpoint on when the package ``mcp`` is importable
# (server.py) but defines its server class only when ``fastmcp`` is (mcp.py): with the
# main interpreter's mcp 2.x and no fastmcp, ``run`` fails on a NameError. No MCP here.
litserve.server._MCP_AVAILABLE = False


def _messages(request: Any) -> list[tuple[str, str]]:
    return [(m.role, m.content if isinstance(m.content, str) else "") for m in request.messages]


class SyncTokenAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = TokenModel()

    def predict(self, request: Any) -> Iterator[str]:
        for chunk in self.model.stream(_messages(request)):
            if chunk.text:  # not langchain-core's closing empty chunk
                yield chunk.text


class AsyncTokenAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = TokenModel()

    async def predict(self, request: Any) -> AsyncIterator[str]:
        async for chunk in self.model.astream(_messages(request)):
            if chunk.text:
                yield chunk.text


def server(enable_async: bool, fast_queue: bool) -> ls.LitServer:
    api_class = AsyncTokenAPI if enable_async else SyncTokenAPI
    api = api_class(spec=ls.OpenAISpec(), enable_async=enable_async)
    return ls.LitServer(api, accelerator="cpu", workers_per_device=1, fast_queue=fast_queue)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # LitServer.run shuts its processes down on it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--async", dest="enable_async", action="store_true")
    parser.add_argument("--fast-queue", action="store_true", help="ZeroMQ instead of mp queues")
    args = parser.parse_args()
    lit = server(args.enable_async, args.fast_queue)
    signal.signal(signal.SIGTERM, _interrupt)
    lit.run(
        host="127.0.0.1",
        port=args.port,
        num_api_servers=1,
        log_level="warning",
        generate_client_file=False,
    )


if __name__ == "__main__":
    main()
