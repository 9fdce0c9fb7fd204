"""add_routes checks its arguments when called, and mounts correctly on routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from sse import parse_events

from chainserve import add_routes

AsgiClient = Callable[..., httpx.AsyncClient]


class RunNameEcho(Runnable[Any, Any]):
    """Answers with the run name of the config it is invoked with.

    (A RunnableLambda's function would not see it: LangChain hands functions a child
    config without the run name.)
    """

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return (config or {}).get("run_name")


def identity() -> Runnable:
    return RunnableLambda(lambda x: x)


@pytest.mark.parametrize(
    ("runnable", "kwargs", "error"),
    [
        ("not a runnable", {}, TypeError),
        (lambda x: x, {}, TypeError),
        (identity(), {"path": "echo"}, ValueError),
        (identity(), {"path": "/echo/{name}"}, ValueError),
        (identity(), {"path": "/echo}"}, ValueError),
        (identity(), {"enabled_endpoints": ["invoke", "invok"]}, ValueError),
        (identity(), {"disabled_endpoints": ["playgrounds"]}, ValueError),
        (identity(), {"enabled_endpoints": "invoke"}, TypeError),
        (identity(), {"disabled_endpoints": "batch"}, TypeError),
        (
            identity(),
            {"enabled_endpoints": ["invoke"], "disabled_endpoints": ["batch"]},
            ValueError,
        ),
        (identity(), {"config_keys": ["configurable", "run_name"]}, ValueError),
        (identity(), {"config_keys": ["configurable", "nonsense"]}, ValueError),
        (identity(), {"playground_type": "weird"}, ValueError),
    ],
    ids=[
        "str_runnable",
        "function_runnable",
        "path_without_slash",
        "path_with_braces",
        "path_with_closing_brace",
        "unknown_enabled",
        "unknown_disabled",
        "bare_string_enabled",
        "bare_string_disabled",
        "enabled_and_disabled",
        "config_key_run_name",
        "unknown_config_key",
        "playground_type",
    ],
)
@pytest.mark.parametrize("mount", ["app", "router"])
def test_bad_arguments_fail_at_call_time(
    mount: str, runnable: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    app: FastAPI | APIRouter = FastAPI() if mount == "app" else APIRouter(prefix="/p")
    before = len(app.routes)
    with pytest.raises(error):
        add_routes(app, runnable, **{"path": "/echo", **kwargs})
    assert len(app.routes) == before  # nothing half-mounted


@pytest.mark.parametrize(
    ("make", "first", "second"),
    [
        (FastAPI, "/echo", "/echo"),
        (FastAPI, "/echo/", "/echo"),
        (FastAPI, "", ""),
        (lambda: APIRouter(prefix="/p"), "/echo", "/echo"),
        (APIRouter, "/echo", "/echo/"),
    ],
    ids=["app", "app_trailing_slash", "app_root", "router_with_prefix", "router"],
)
def test_same_path_twice(make: Callable[[], Any], first: str, second: str) -> None:
    app = make()
    add_routes(app, identity(), path=first)
    routes = len(app.routes)
    with pytest.raises(ValueError):
        add_routes(app, identity(), path=second)
    assert len(app.routes) == routes


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (["batch"], ["batch"]),
        (["stream"], None),
        (["config_hashes", "input_schema"], ["batch", "config_hashes", "input_schema"]),
    ],
    ids=["same_single_endpoint", "single_then_all", "hash_twins"],
)
def test_same_path_twice_whatever_endpoints(first: list[str], second: list[str] | None) -> None:
    app = FastAPI()
    add_routes(app, identity(), path="/a", enabled_endpoints=first)
    with pytest.raises(ValueError, match="already served"):
        add_routes(app, identity(), path="/a", enabled_endpoints=second)


async def test_neighbouring_paths_are_not_collisions(asgi_client: AsgiClient) -> None:
    app = FastAPI()
    for path, runnable in [
        ("/a", lambda x: "a"),
        ("/ab", lambda x: "ab"),
        ("/a/b", lambda x: "a/b"),
    ]:
        add_routes(app, RunnableLambda(runnable), path=path)
    async with asgi_client(app) as client:
        for path in ("/a", "/ab", "/a/b"):
            response = await client.post(f"{path}/invoke", json={"input": 1})
            assert response.json()["output"] == path.lstrip("/")


async def test_router_with_prefix(asgi_client: AsgiClient) -> None:
    router = APIRouter(prefix="/team")
    add_routes(router, RunNameEcho(), path="/named")
    add_routes(router, identity(), path="/echo")
    app = FastAPI()
    app.include_router(router)
    async with asgi_client(app) as client:
        named = await client.post("/team/named/invoke", json={"input": 1})
        assert named.status_code == 200
        assert named.json()["output"] == "/team/named"
        echoed = await client.post("/team/echo/invoke", json={"input": 1})
        assert echoed.json()["output"] == 1
        events = await client.post("/team/echo/stream_events", json={"input": 1})
        assert {data["name"] for _, data in parse_events(events.text) if data} == {"/team/echo"}
        assert (await client.post("/echo/invoke", json={"input": 1})).status_code == 404


async def test_nested_routers(asgi_client: AsgiClient) -> None:
    inner = APIRouter(prefix="/inner")
    add_routes(inner, identity(), path="/echo")
    outer = APIRouter(prefix="/outer")
    outer.include_router(inner)
    app = FastAPI()
    app.include_router(outer, prefix="/v1")
    async with asgi_client(app) as client:
        invoked = await client.post("/v1/outer/inner/echo/invoke", json={"input": 1})
        assert invoked.status_code == 200
        assert invoked.json()["output"] == 1
        batched = await client.post("/v1/outer/inner/echo/batch", json={"inputs": [1, 2]})
        assert batched.json()["output"] == [1, 2]
        schema = await client.get("/v1/outer/inner/echo/input_schema")
        assert schema.status_code == 200
        assert (await client.post("/inner/echo/invoke", json={"input": 1})).status_code == 404


@pytest.mark.filterwarnings("ignore:The `root_path` parameter is deprecated")
@pytest.mark.parametrize("where", ["app", "server"])
async def test_root_path(asgi_client: AsgiClient, where: str) -> None:
    """Behind a proxy at /api: set on the app (deprecated) or by the ASGI server."""
    app = FastAPI(root_path="/api") if where == "app" else FastAPI()
    add_routes(app, RunNameEcho(), path="/named")
    async with asgi_client(app, root_path="" if where == "app" else "/api") as client:
        response = await client.post("/api/named/invoke", json={"input": 1})
        assert response.status_code == 200
        assert response.json()["output"] == "/named"
        spec = (await client.get("/api/openapi.json")).json()
        assert spec["servers"] == [{"url": "/api"}]
        assert "/named/invoke" in spec["paths"]
