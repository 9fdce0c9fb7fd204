"""The OpenAPI document: valid, and true to each route's own runnable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from apps import RUNNABLES, build_app
from fastapi import APIRouter, FastAPI
from langchain_core.runnables import RunnableLambda
from openapi_spec_validator import validate

import chainserve

RUN_ENDPOINTS = ("invoke", "batch", "stream", "stream_log", "stream_events")
STREAM_ENDPOINTS = ("stream", "stream_log", "stream_events")
PREFIX = "/lambdas"
# Anonymous lambdas: LangServe gave them all the same model names, so later routes
# got another route's schema (and a 500 on invoke).
TYPED_LAMBDAS = {f"{PREFIX}/as_int": int, f"{PREFIX}/as_str": str}
PLAIN_LAMBDAS = ("/plain_a", "/plain_b")
SERVED = (*RUNNABLES, *TYPED_LAMBDAS, *PLAIN_LAMBDAS)


def run_paths(path: str) -> list[str]:
    """The run routes of ``path``, with their config-hash twins."""
    return [
        route
        for endpoint in RUN_ENDPOINTS
        for route in (f"{path}/{endpoint}", f"{path}/c/{{config_hash}}/{endpoint}")
    ]


@pytest.fixture(scope="module")
def app() -> FastAPI:
    app = build_app(chainserve.add_routes)
    router = APIRouter(prefix=PREFIX)
    for path, input_type in TYPED_LAMBDAS.items():
        runnable = RunnableLambda(lambda x: x).with_types(input_type=input_type)
        chainserve.add_routes(router, runnable, path=path.removeprefix(PREFIX))
    app.include_router(router)
    for path in PLAIN_LAMBDAS:
        chainserve.add_routes(app, RunnableLambda(lambda x: x), path=path)
    return app


@pytest.fixture
async def http(
    app: FastAPI, asgi_client: Callable[..., httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest.fixture
async def spec(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operation(spec: dict[str, Any], route: str) -> dict[str, Any]:
    return spec["paths"][route]["post"]


def body_schema(spec: dict[str, Any], route: str) -> dict[str, Any]:
    return operation(spec, route)["requestBody"]["content"]["application/json"]["schema"]


def documented_input(spec: dict[str, Any], route: str) -> dict[str, Any]:
    properties = body_schema(spec, route)["properties"]
    if route.endswith("/batch"):
        assert properties["inputs"]["type"] == "array"
        return properties["inputs"]["items"]
    return properties["input"]


def outline(schema: dict[str, Any]) -> dict[str, Any]:
    """What identifies a schema, whether its references are inlined or not."""
    return {
        "title": schema.get("title"),
        "type": schema.get("type"),
        "required": schema.get("required"),
        "properties": sorted(schema.get("properties", {})),
    }


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in refs(item)]
    return []


async def test_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)
    # Every reference points into the document's components, none into a runnable's
    # private JSON-schema ``$defs``.
    assert refs(spec)
    assert all(ref.startswith("#/components/schemas/") for ref in refs(spec))
    for path in SERVED:
        assert set(run_paths(path)) <= set(spec["paths"])


@pytest.mark.parametrize("path", SERVED)
async def test_run_routes_document_their_own_input(
    spec: dict[str, Any], http: httpx.AsyncClient, path: str
) -> None:
    live = (await http.get(f"{path}/input_schema")).json()
    for route in run_paths(path):
        body = body_schema(spec, route)
        assert body["required"] == (["inputs"] if route.endswith("/batch") else ["input"])
        assert outline(documented_input(spec, route)) == outline(live), route


async def test_known_input_schemas(spec: dict[str, Any]) -> None:
    assert documented_input(spec, "/add_one/invoke")["type"] == "integer"
    assert documented_input(spec, "/add_one/batch")["type"] == "integer"
    joke = documented_input(spec, "/joke/invoke")
    assert joke["type"] == "object"
    assert joke["properties"]["topic"]["type"] == "string"
    assert joke["required"] == ["topic"]


@pytest.mark.parametrize("path", SERVED)
async def test_run_routes_document_their_answers(spec: dict[str, Any], path: str) -> None:
    for route in run_paths(path):
        responses = operation(spec, route)["responses"]
        expected = {"200", "413", "422", "500"} | (
            {"400"} if "/c/{config_hash}/" in route else set()
        )
        assert set(responses) == expected, route
        for status in expected - {"200"}:
            assert "application/json" in responses[status]["content"], (route, status)
        content = responses["200"]["content"]
        if route.rsplit("/", 1)[1] in STREAM_ENDPOINTS:
            assert list(content) == ["text/event-stream"], route
        else:
            assert list(content) == ["application/json"], route


async def test_anonymous_lambdas_do_not_collide(
    spec: dict[str, Any], http: httpx.AsyncClient
) -> None:
    as_int, as_str = (f"{path}/invoke" for path in TYPED_LAMBDAS)
    assert documented_input(spec, as_int)["type"] == "integer"
    assert documented_input(spec, as_str)["type"] == "string"
    for path, good, wrong in [(f"{PREFIX}/as_int", 7, "x"), (f"{PREFIX}/as_str", "x", 7)]:
        invoked = await http.post(f"{path}/invoke", json={"input": good})
        assert invoked.status_code == 200
        assert invoked.json()["output"] == good
        batched = await http.post(f"{path}/batch", json={"inputs": [good, good]})
        assert batched.status_code == 200
        assert batched.json()["output"] == [good, good]
        refused = await http.post(f"{path}/invoke", json={"input": wrong})
        assert refused.status_code == 422
    for path in PLAIN_LAMBDAS:
        for value in (1, "x", {"a": [1]}):
            invoked = await http.post(f"{path}/invoke", json={"input": value})
            assert invoked.status_code == 200
            assert invoked.json()["output"] == value
        batched = await http.post(f"{path}/batch", json={"inputs": [1, "x"]})
        assert batched.json()["output"] == [1, "x"]


async def test_docs_page(http: httpx.AsyncClient) -> None:
    response = await http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
