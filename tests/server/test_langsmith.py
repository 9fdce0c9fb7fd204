"""Feedback routes with LangSmith tracing on, against a fake LangSmith on loopback."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from servers import serve
from sse import parse_events
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chainserve import add_routes


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


@pytest.fixture(scope="module")
def langsmith() -> Iterator[FakeLangSmith]:
    fake = FakeLangSmith()
    with serve(fake.app()) as url:
        fake.url = url
        yield fake


@pytest.fixture
def tracing(langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from langsmith import utils

    for name, value in {
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_ENDPOINT": langsmith.url,
        "LANGSMITH_API_KEY": "test-key",
        "LANGSMITH_PROJECT": "chainserve-tests",
    }.items():
        monkeypatch.setenv(name, value)
    utils.get_env_var.cache_clear()  # langsmith caches environment variables
    yield
    monkeypatch.undo()
    utils.get_env_var.cache_clear()


def make_app() -> FastAPI:
    app = FastAPI()
    add_routes(
        app,
        RunnableLambda(lambda x: x),
        path="/rated",
        enable_feedback_endpoint=True,
        enable_public_trace_link_endpoint=True,
        token_feedback_config={"key_configs": [{"key": "correctness"}]},
    )
    return app


async def test_feedback_tokens_feedback_and_public_links(
    tracing: None, langsmith: FakeLangSmith
) -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        invoked = await client.post("/rated/invoke", json={"input": 1})
        streamed = await client.post("/rated/stream", json={"input": 2})
        run_id = invoked.json()["metadata"]["run_id"]
        feedback = await client.post(
            "/rated/feedback", json={"run_id": run_id, "key": "correctness", "score": 1}
        )
        head = await client.head("/rated/feedback")
        token_url = invoked.json()["metadata"]["feedback_tokens"][0]["token_url"]
        by_token = await client.post(
            "/rated/token_feedback", json={"token_or_url": token_url, "score": 0}
        )
        link = await client.put("/rated/public_trace_link", json={"run_id": run_id})

    tokens = invoked.json()["metadata"]["feedback_tokens"]
    assert [t["key"] for t in tokens] == ["correctness"]
    assert token_url.startswith(f"{langsmith.url}/feedback/tokens/")
    metadata = next(data for name, data in parse_events(streamed.text) if name == "metadata")
    assert metadata["feedback_tokens"][0]["key"] == "correctness"
    assert [p["feedback_key"] for p in langsmith.sent("POST", "/feedback/tokens")] == [
        "correctness",
        "correctness",
    ]

    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["key"] == "correctness" and feedback.json()["score"] == 1
    assert head.status_code == 200

    assert by_token.status_code == 200, by_token.text
    token_id = token_url.rsplit("/", 1)[1]
    [sent] = langsmith.sent("POST", f"/feedback/tokens/{token_id}")
    assert sent["score"] == 0 and sent["metadata"]["from_chainserve"] is True

    assert link.status_code == 200, link.text
    assert "/public/" in link.json()["public_url"]
    assert langsmith.sent("PUT", f"/runs/{run_id}/share")
