"""FastAPI dependencies guard every generated route, however they are attached.

Routes without dependencies skip FastAPI's per-request dependency machinery
(``DirectRoute``); these tests make sure that shortcut never skips a dependency,
whether it comes from add_routes, the app, a router or ``include_router``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from apps import joke_chain
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from servers import asgi_client, serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from chainserve import add_routes
from chainserve.playground.route import asset_version
from chainserve.server.lzstring import compress_to_encoded_uri_component
from chainserve.server.route import DirectRoute

HASH = compress_to_encoded_uri_component(json.dumps({"configurable": {}}))
BODY = {"input": {"topic": "cats"}}
KEY = {"x-api-key": "k"}
FEEDBACK_ON = {"enable_feedback_endpoint": True, "enable_public_trace_link_endpoint": True}


def require_key(x_api_key: str | None = Header(default=None)) -> None:
    if x_api_key != "k":
        raise HTTPException(401, "no key")


GUARD = [Depends(require_key)]


def calls(base: str) -> list[tuple[str, str, Any]]:
    """Every route add_routes makes at ``base``, with a request that reaches it."""
    runs = ["invoke", "batch", "stream", "stream_log", "stream_events"]
    out: list[tuple[str, str, Any]] = []
    for prefix in (base, f"{base}/c/{HASH}"):
        out += [("POST", f"{prefix}/{name}", BODY) for name in runs if name != "batch"]
        out.append(("POST", f"{prefix}/batch", {"inputs": [BODY["input"]]}))
        out += [("GET", f"{prefix}/{kind}_schema", None) for kind in ("input", "output", "config")]
        out.append(("GET", f"{prefix}/playground", None))
        out.append(("GET", f"{prefix}/playground/", None))
        out.append(("GET", f"{prefix}/playground/assets/{asset_version()}/main.js", None))
    out += [
        ("POST", f"{base}/feedback", {"run_id": "00000000-0000-0000-0000-000000000000"}),
        ("HEAD", f"{base}/feedback", None),
        ("POST", f"{base}/token_feedback", {"token_or_url": "x", "score": 1}),
        ("PUT", f"{base}/public_trace_link", {"run_id": "00000000-0000-0000-0000-000000000000"}),
        ("HEAD", f"{base}/public_trace_link", None),
    ]
    return out


def _template(path: str) -> str:
    path = path.replace(HASH, "{config_hash}")
    head, found, _ = path.partition("/playground/")
    return head + "/playground/{file_path:path}" if found else path


def test_calls_cover_every_route() -> None:
    app = FastAPI()
    add_routes(app, joke_chain(), path="/joke", **FEEDBACK_ON)
    made = {
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/joke")
        for method in route.methods  # type: ignore[attr-defined]
        if method != "HEAD" or route.methods == {"HEAD"}  # type: ignore[attr-defined]
    }
    assert made == {(method, _template(path)) for method, path, _ in calls("/joke")}


def _app_with_dependencies_on_add_routes() -> tuple[FastAPI, str]:
    app = FastAPI()
    add_routes(app, joke_chain(), path="/joke", dependencies=GUARD, **FEEDBACK_ON)
    return app, "/joke"


def _app_level() -> tuple[FastAPI, str]:
    app = FastAPI(dependencies=GUARD)
    add_routes(app, joke_chain(), path="/joke", **FEEDBACK_ON)
    return app, "/joke"


def _router_level() -> tuple[FastAPI, str]:
    router = APIRouter(prefix="/api", dependencies=GUARD)
    add_routes(router, joke_chain(), path="/joke", **FEEDBACK_ON)
    app = FastAPI()
    app.include_router(router)
    return app, "/api/joke"


def _on_include() -> tuple[FastAPI, str]:
    router = APIRouter(prefix="/api")
    add_routes(router, joke_chain(), path="/joke", **FEEDBACK_ON)
    app = FastAPI()
    app.include_router(router, dependencies=GUARD)
    return app, "/api/joke"


def _on_nested_include() -> tuple[FastAPI, str]:
    inner = APIRouter(prefix="/inner")
    add_routes(inner, joke_chain(), path="/joke", **FEEDBACK_ON)
    outer = APIRouter(prefix="/outer")
    outer.include_router(inner, dependencies=GUARD)
    app = FastAPI()
    app.include_router(outer, prefix="/v1")
    return app, "/v1/outer/inner/joke"


def _app_level_with_included_router() -> tuple[FastAPI, str]:
    router = APIRouter(prefix="/api")
    add_routes(router, joke_chain(), path="/joke", **FEEDBACK_ON)
    app = FastAPI(dependencies=GUARD)
    app.include_router(router)
    return app, "/api/joke"


GUARDED = [
    _app_with_dependencies_on_add_routes,
    _app_level,
    _router_level,
    _on_include,
    _on_nested_include,
    _app_level_with_included_router,
]


async def _statuses(app: FastAPI, base: str, headers: dict[str, str]) -> dict[str, int]:
    statuses = {}
    async with asgi_client(app) as client:
        for method, path, body in calls(base):
            response = await client.request(method, path, json=body, headers=headers)
            statuses[f"{method} {path}"] = response.status_code
    return statuses


@pytest.mark.parametrize("build", GUARDED, ids=lambda build: build.__name__.strip("_"))
async def test_every_route_is_guarded(build: Callable[[], tuple[FastAPI, str]]) -> None:
    app, base = build()
    refused = await _statuses(app, base, {})
    assert set(refused.values()) == {401}, refused
    allowed = await _statuses(app, base, KEY)
    assert 401 not in allowed.values(), allowed
    assert 404 not in allowed.values(), allowed
    assert allowed[f"POST {base}/invoke"] == 200


@pytest.mark.parametrize("build", GUARDED[:3], ids=lambda build: build.__name__.strip("_"))
def test_guarded_routes_keep_fastapis_handling(build: Callable[[], tuple[FastAPI, str]]) -> None:
    app, _ = build()
    ours = [route for route in app.router.routes if isinstance(route, DirectRoute)]
    for route in _api_routes(app):
        assert route.dependant.dependencies
    assert all(not _is_direct(route) for route in ours)


def _api_routes(app: FastAPI) -> list[APIRoute]:
    return [route for route in app.router.routes if isinstance(route, APIRoute)]


def _is_direct(route: APIRoute) -> bool:
    return getattr(route.app, "__qualname__", "").startswith("_direct_app")


def test_unguarded_run_and_schema_routes_are_direct() -> None:
    app = FastAPI()
    add_routes(app, joke_chain(), path="/joke")
    direct = sorted(route.path for route in _api_routes(app) if _is_direct(route))
    assert direct == sorted(
        f"/joke{hashed}/{name}"
        for hashed in ("", "/c/{config_hash}")
        for name in (
            "invoke",
            "batch",
            "stream",
            "stream_log",
            "stream_events",
            "input_schema",
            "output_schema",
            "config_schema",
        )
    )


async def test_dependency_overrides_still_apply() -> None:
    app, base = _app_with_dependencies_on_add_routes()
    app.dependency_overrides[require_key] = lambda: None
    async with asgi_client(app) as client:
        response = await client.post(f"{base}/invoke", json=BODY)
        assert response.status_code == 200


async def test_a_routers_own_route_class_is_kept() -> None:
    seen: list[str] = []

    class LoggingRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def logged(request: Request) -> Any:
                seen.append(request.url.path)
                return await handler(request)

            return logged

    router = APIRouter(route_class=LoggingRoute)
    add_routes(router, joke_chain(), path="/joke")
    app = FastAPI()
    app.include_router(router)
    async with asgi_client(app) as client:
        assert (await client.post("/joke/invoke", json=BODY)).status_code == 200
        assert (await client.post(f"/joke/c/{HASH}/invoke", json=BODY)).status_code == 200
    assert seen == ["/joke/invoke", f"/joke/c/{HASH}/invoke"]


async def test_app_exception_handlers_answer_direct_routes() -> None:
    app = FastAPI()
    add_routes(app, joke_chain(), path="/joke")

    @app.exception_handler(StarletteHTTPException)
    async def teapot(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"mine": exc.status_code}, status_code=418)

    async with asgi_client(app) as client:
        response = await client.post("/joke/invoke", content=b"{not json")
        assert (response.status_code, response.json()) == (418, {"mine": 422})
        response = await client.post("/joke/c/%25%25/invoke", json=BODY)
        assert (response.status_code, response.json()) == (418, {"mine": 400})


def test_guards_hold_over_http() -> None:
    app, base = _on_include()
    with serve(app) as url:
        refused = httpx.post(f"{url}{base}/stream", json=BODY)
        assert refused.status_code == 401
        allowed = httpx.post(f"{url}{base}/stream", json=BODY, headers=KEY)
        assert allowed.status_code == 200
        assert "event: end" in allowed.text


def _router_with_body_limit() -> FastAPI:
    router = APIRouter(max_body_size=64)
    add_routes(router, joke_chain(), path="/joke")
    app = FastAPI()
    app.include_router(router)
    return app


def _app_with_body_limit() -> FastAPI:
    app = FastAPI(max_body_size=64)
    add_routes(app, joke_chain(), path="/joke")
    return app


@pytest.mark.parametrize("build", [_router_with_body_limit, _app_with_body_limit])
async def test_fastapis_body_limits_are_kept(build: Callable[[], FastAPI]) -> None:
    async with asgi_client(build()) as client:
        big = {"input": {"topic": "x" * 100}}
        assert (await client.post("/joke/invoke", json=big)).status_code == 413
        assert (await client.post("/joke/invoke", json=BODY)).status_code == 200


async def test_a_body_consumed_by_a_dependency_is_a_server_error_not_a_hang() -> None:
    async def drain(request: Request) -> None:
        async for _ in request.stream():
            pass

    app = FastAPI()
    add_routes(app, joke_chain(), path="/joke", dependencies=[Depends(drain)])
    async with asgi_client(app, raise_app_exceptions=False) as client:
        response = await asyncio.wait_for(client.post("/joke/invoke", json=BODY), 10)
        assert response.status_code == 500
