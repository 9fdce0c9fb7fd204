"""Feedback routes with LangSmith tracing on, against a fake LangSmith on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from langsmith_fake import FakeLangSmith, langsmith_tracing
from servers import serve
from sse import parse_events

from chainserve import add_routes


@pytest.fixture(scope="module")
def langsmith() -> Iterator[FakeLangSmith]:
    fake = FakeLangSmith()
    with serve(fake.app()) as url:
        fake.url = url
        yield fake


@pytest.fixture
def tracing(langsmith: FakeLangSmith) -> Iterator[None]:
    with langsmith_tracing(langsmith.url, "chainserve-tests"):
        yield


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
