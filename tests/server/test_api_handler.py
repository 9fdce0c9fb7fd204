"""APIHandler in hand-written endpoints, CustomUserType inputs, feedback routes."""

# No ``from __future__ import annotations``: LangChain reads ``_describe``'s
# annotation at runtime to build the input schema.

from typing import Any

from fastapi import FastAPI, Request, Response
from langchain_core.runnables import RunnableConfig, RunnableLambda
from servers import asgi_client
from sse import parse_events

from chainserve import APIHandler, CustomUserType, add_routes


class Foo(CustomUserType):
    bar: int


def _describe(foo: Foo) -> str:
    assert isinstance(foo, Foo)  # a model, not a dict
    return f"Foo:{foo.bar}"


def _user_docs(_: Any, config: RunnableConfig) -> str:
    return f"documents of {config['configurable']['user_id']}"


async def test_custom_user_type_arrives_as_a_model() -> None:
    app = FastAPI()
    add_routes(app, RunnableLambda(_describe), path="/foo")
    async with asgi_client(app) as client:
        ok = await client.post("/foo/invoke", json={"input": {"bar": "3"}})
        bad = await client.post("/foo/invoke", json={"input": {"bar": "x"}})
    assert ok.json()["output"] == "Foo:3"
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["input", "bar"]


async def test_api_handler_with_trusted_server_config() -> None:
    handler = APIHandler(RunnableLambda(_user_docs), path="/docs_of")
    app = FastAPI()

    @app.post("/docs_of/invoke")
    async def invoke(request: Request) -> Response:
        user = request.headers["x-user"]
        return await handler.invoke(request, server_config={"configurable": {"user_id": user}})

    @app.post("/docs_of/stream")
    async def stream(request: Request) -> Response:
        return await handler.stream(request, server_config={"configurable": {"user_id": "bob"}})

    async with asgi_client(app) as client:
        response = await client.post(
            "/docs_of/invoke", json={"input": 1}, headers={"x-user": "ann"}
        )
        streamed = await client.post("/docs_of/stream", json={"input": 1})
    assert response.json()["output"] == "documents of ann"
    assert ("data", "documents of bob") in parse_events(streamed.text)


async def test_api_handler_rejects_non_runnables() -> None:
    import pytest

    with pytest.raises(TypeError, match="Expected a Runnable"):
        APIHandler("not a runnable", path="/x")  # type: ignore[arg-type]


async def test_feedback_routes_without_tracing(monkeypatch: Any) -> None:
    for name in (
        "LANGSMITH_TRACING",
        "LANGCHAIN_TRACING_V2",
        "LANGSMITH_TRACING_V2",
        "LANGCHAIN_TRACING",
    ):
        monkeypatch.delenv(name, raising=False)
    app = FastAPI()
    add_routes(
        app,
        RunnableLambda(lambda x: x),
        path="/fb",
        enable_feedback_endpoint=True,
        enable_public_trace_link_endpoint=True,
    )
    add_routes(app, RunnableLambda(lambda x: x), path="/plain")
    run_id = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
    async with asgi_client(app) as client:
        feedback = await client.post(
            "/fb/feedback", json={"run_id": run_id, "key": "k", "score": 1}
        )
        head = await client.head("/fb/feedback")
        token = await client.post("/fb/token_feedback", json={"token_or_url": run_id})
        link = await client.put("/fb/public_trace_link", json={"run_id": run_id})
        link_head = await client.head("/fb/public_trace_link")
        bad = await client.post("/fb/feedback", json={"key": "k"})
        absent = await client.post("/plain/feedback", json={"run_id": run_id, "key": "k"})
        absent_link = await client.put("/plain/public_trace_link", json={"run_id": run_id})
    for response in (feedback, token, link):
        assert response.status_code == 400
        assert "LangSmith" in response.json()["detail"]
    # HEAD says the endpoint exists, as in LangServe; the write says why it cannot record.
    assert head.status_code == 200 and link_head.status_code == 200
    assert bad.status_code == 422
    assert absent.status_code == 404 and absent_link.status_code == 404


async def test_stream_log_name_allow_list() -> None:
    app = FastAPI()
    named = RunnableLambda(lambda x: x).with_config(run_name="allowed")
    add_routes(app, named, path="/yes", stream_log_name_allow_list=["allowed"])
    add_routes(app, RunnableLambda(lambda x: x), path="/no", stream_log_name_allow_list=["allowed"])
    async with asgi_client(app) as client:
        yes = await client.post("/yes/stream_log", json={"input": 1})
        no = await client.post("/no/stream_log", json={"input": 1})
        no_events = await client.post("/no/stream_events", json={"input": 1})
    assert [name for name, _ in parse_events(yes.text)].count("data") >= 2
    assert parse_events(no.text) == [("end", None)]
    assert parse_events(no_events.text) == [("end", None)]
