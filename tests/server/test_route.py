"""QuickMatchRoute turns paths away by their literal parts: never one that would match."""

from __future__ import annotations

import itertools
import json

import pytest
from apps import joke_chain
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from servers import asgi_client

from chainserve import add_routes
from chainserve.server.lzstring import compress_to_encoded_uri_component
from chainserve.server.route import DirectRoute, QuickMatchRoute

HASH = compress_to_encoded_uri_component(json.dumps({"configurable": {}}))


def _app() -> FastAPI:
    app = FastAPI()
    for path in ("/joke", "/joke2", "/a/joke", ""):
        add_routes(app, joke_chain(), path=path, enable_feedback_endpoint=True)
    return app


def _paths(app: FastAPI) -> list[str]:
    """Concrete paths for every route, plus near misses around each."""
    concrete = [
        route.path.replace("{config_hash}", HASH).replace("{file_path:path}", "assets/x.js")
        for route in app.routes
        if isinstance(route, APIRoute)
    ]
    near = [p + suffix for p in concrete for suffix in ("/", "x", "/invoke")]
    near += ["/jok/invoke", "/joke/c//invoke", "/joke/c/a/b/invoke", "/", "", "/c/x/invoke"]
    return concrete + near + ["/x" + p for p in concrete]


@pytest.mark.parametrize("root_path", ["", "/root"])
def test_quick_matching_agrees_with_fastapis(root_path: str) -> None:
    app = _app()
    routes = [route for route in app.routes if isinstance(route, QuickMatchRoute)]
    assert len(routes) == len([r for r in app.routes if isinstance(r, APIRoute)])
    for route, path, method in itertools.product(routes, _paths(app), ["GET", "POST"]):
        scope = {
            "type": "http",
            "path": root_path + path,
            "root_path": root_path,
            "method": method,
        }
        quick = route.matches(dict(scope))[0]
        full = APIRoute.matches(route, dict(scope))[0]
        assert quick == full, (route.path, path, method)


def test_run_and_schema_routes_are_direct_the_others_quick() -> None:
    app = _app()
    kinds = {
        route.path: type(route).__name__
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/joke2/")
    }
    assert kinds["/joke2/invoke"] == DirectRoute.__name__
    assert kinds["/joke2/c/{config_hash}/input_schema"] == DirectRoute.__name__
    assert kinds["/joke2/playground/{file_path:path}"] == QuickMatchRoute.__name__
    assert kinds["/joke2/feedback"] == QuickMatchRoute.__name__


async def test_every_runnable_is_reached_through_prefixes() -> None:
    inner = APIRouter(prefix="/inner")
    for path in ("/joke", "/joke2"):
        add_routes(inner, joke_chain(), path=path)
    outer = APIRouter(prefix="/outer")
    outer.include_router(inner, prefix="/more")
    app = FastAPI()
    app.include_router(outer, prefix="/v1")
    async with asgi_client(app, root_path="/root") as client:
        for path in ("/joke", "/joke2"):
            base = f"/root/v1/outer/more/inner{path}"
            response = await client.post(f"{base}/invoke", json={"input": {"topic": "x"}})
            assert response.status_code == 200
            response = await client.get(f"{base}/c/{HASH}/input_schema")
            assert response.status_code == 200
            response = await client.get(f"{base}/playground/")
            assert response.status_code == 200


async def test_a_mount_with_its_own_path_parameters() -> None:
    sub = FastAPI()
    add_routes(sub, joke_chain(), path="/chain")
    app = FastAPI()
    app.mount("/t/{tenant}", sub)
    async with asgi_client(app) as client:
        response = await client.post("/t/acme/chain/invoke", json={"input": {"topic": "x"}})
        assert response.status_code == 200
        response = await client.post(
            f"/t/acme/chain/c/{HASH}/invoke", json={"input": {"topic": "x"}}
        )
        assert response.status_code == 200
        assert (await client.get("/t/acme/chain/input_schema")).status_code == 200
