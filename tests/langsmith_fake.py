"""A fake LangSmith on loopback, and LangSmith tracing switched on to reach it."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class FakeLangSmith:
    """Answers the LangSmith API calls chainserve makes; records what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.url = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/{path:path}", self.answer, methods=["GET", "POST", "PUT", "PATCH"])]
        )

    async def answer(self, request: Request) -> JSONResponse:
        path = "/" + request.path_params["path"]
        body = await request.body()
        try:
            payload = await request.json() if body else None
        except ValueError:
            payload = None  # multipart run uploads
        self.calls.append((request.method, path, payload))
        if path == "/feedback/tokens" and request.method == "POST":
            token = uuid.uuid4()
            expires = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc).isoformat()
            return JSONResponse(
                {
                    "id": str(token),
                    "url": f"{self.url}/feedback/tokens/{token}",
                    "expires_at": expires,
                }
            )
        if path.endswith("/share"):
            return JSONResponse({"share_token": payload["share_token"]})
        return JSONResponse({})

    def sent(self, method: str, path: str) -> list[Any]:
        """The payloads sent with ``method`` to exactly ``path``."""
        return [payload for m, p, payload in self.calls if (m, p) == (method, path)]


@contextlib.contextmanager
def langsmith_tracing(url: str, project: str) -> Iterator[None]:
    """Tracing on, to the LangSmith at ``url``; afterwards the environment and
    langsmith's caches (environment variables, project, the tracers' client) are
    restored."""
    from langsmith import run_trees, utils

    def clear_caches() -> None:
        utils.get_env_var.cache_clear()
        utils.get_tracer_project.cache_clear()

    with pytest.MonkeyPatch.context() as patch:
        # LANGSMITH_* wins over LANGCHAIN_*: setting both tracing names overrides an
        # ambient LANGCHAIN_TRACING_V2=false as well.
        for name, value in {
            "LANGSMITH_TRACING": "true",
            "LANGSMITH_TRACING_V2": "true",
            "LANGSMITH_ENDPOINT": url,
            "LANGSMITH_API_KEY": "test-key",
            "LANGSMITH_PROJECT": project,
        }.items():
            patch.setenv(name, value)
        patch.setattr(run_trees, "_CLIENT", None)
        clear_caches()
        try:
            yield
        finally:
            patch.undo()
            clear_caches()
