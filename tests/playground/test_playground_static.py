"""Serving the playground's files: content types, caching, containment, mounting."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from apps import configurable_chain, joke_chain
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from servers import serve

from chainserve import add_routes
from chainserve.playground import STATIC_DIR, resolve_static
from chainserve.playground.route import asset_version
from chainserve.server.lzstring import compress_to_encoded_uri_component

HASH = compress_to_encoded_uri_component(json.dumps({"configurable": {"template": "hi {name}"}}))


def make_app() -> FastAPI:
    app = FastAPI()
    add_routes(app, joke_chain(), path="/joke")
    add_routes(app, configurable_chain(), path="/conf")
    add_routes(app, joke_chain(), path="/chat", playground_type="chat")
    add_routes(app, joke_chain(), path="/off", disabled_endpoints=["playground"])
    add_routes(app, joke_chain(), path="/nohash", disabled_endpoints=["config_hashes"])
    return app


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> Iterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def raw_get(base_url: str, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written: no client normalises its dots or slashes."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def settings_of(html: str) -> dict:
    found = re.search(r'id="chainserve-settings">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


async def test_index_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/joke/playground/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert settings_of(response.text) == {
        "playgroundType": "default",
        "hashed": False,
        "feedback": False,
        "publicTraceLink": False,
        "version": settings_of(response.text)["version"],
    }
    # Relative asset URLs: the page works under any prefix without server-side rewriting.
    assert f'src="assets/{asset_version()}/main.js"' in response.text
    assert 'href="/' not in response.text and 'src="/' not in response.text
    assert (await client.get("/joke/playground/index.html")).text == response.text
    chat = await client.get("/chat/playground/")
    assert settings_of(chat.text)["playgroundType"] == "chat"


async def test_redirects_to_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.get("/joke/playground?x=1")
    assert response.status_code == 307
    assert response.headers["location"] == "playground/?x=1"  # relative: keeps any prefix
    hashed = await client.get(f"/conf/c/{HASH}/playground")
    assert hashed.status_code == 307
    assert hashed.headers["location"] == "playground/"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("main.js", "text/javascript; charset=utf-8"),
        ("lzstring.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ],
)
async def test_assets_are_cached_by_version(
    client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await client.get(f"/joke/playground/assets/{asset_version()}/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.content == (STATIC_DIR / "assets" / name).read_bytes()
    # An old page asking for another version still gets the file, but not for keeps.
    stale = await client.get(f"/joke/playground/assets/0123456789ab/{name}")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"


async def test_every_static_file_has_a_real_content_type(client: httpx.AsyncClient) -> None:
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file() and p.name != "index.html"]
    assert files
    for file in files:
        relative = file.relative_to(STATIC_DIR).as_posix()
        if relative.startswith("assets/"):
            relative = f"assets/{asset_version()}/{relative.removeprefix('assets/')}"
        response = await client.get(f"/joke/playground/{relative}")
        assert response.status_code == 200, relative
        assert response.headers["content-type"] != "application/octet-stream", relative
    favicon = await client.get("/joke/playground/favicon.svg")
    assert favicon.headers["content-type"] == "image/svg+xml"


async def test_head_and_missing_files(client: httpx.AsyncClient) -> None:
    assert (await client.head("/joke/playground/")).status_code == 200
    for path in (
        "/joke/playground/missing.js",
        "/joke/playground/assets/main.js",  # no version segment
        f"/joke/playground/assets/{asset_version()}/missing.js",
        f"/joke/playground/assets/{asset_version()}",
        "/joke/playground/assets/",
        "/off/playground/",
        f"/nohash/c/{HASH}/playground/",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path


async def test_hash_route_serves_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/conf/c/{HASH}/playground/")
    assert response.status_code == 200
    assert settings_of(response.text)["hashed"] is True
    asset = await client.get(f"/conf/c/{HASH}/playground/assets/{asset_version()}/main.js")
    assert asset.status_code == 200
    bad = await client.get("/conf/c/not-a-hash!!/playground/")
    assert bad.status_code == 400
    assert bad.json() == {"detail": "Invalid config hash"}


TRAVERSALS = [
    "/joke/playground/../../../../etc/passwd",
    "/joke/playground/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/joke/playground/%2e%2e/%2e%2e/route.py",
    "/joke/playground/%2E%2E/route.py",
    "/joke/playground/%2e%2e%2froute.py",
    "/joke/playground/..",
    "/joke/playground/./index.html",
    "/joke/playground//etc/passwd",
    "/joke/playground/%2Fetc%2Fpasswd",
    "/joke/playground/%2fetc/passwd",
    "/joke/playground/..\\route.py",
    "/joke/playground/%5c..%5croute.py",
    "/joke/playground/assets\\x\\main.js",
    "/joke/playground/C:/Windows/win.ini",
    "/joke/playground/c:%5cwindows%5cwin.ini",
    "/joke/playground/index.html%00.js",
    "/joke/playground/.hidden",
    "/joke/playground/assets/x/../../route.py",
    "/joke/playground/assets/x/%2e%2e/%2e%2e/route.py",
    "/joke/playground/assets/x/%2e%2e/%2e%2e/%2e%2e/route.py",
    "/joke/playground/assets/../index.html",
    f"/conf/c/{HASH}/playground/%2e%2e/%2e%2e/%2e%2e/route.py",
    f"/conf/c/{HASH}/playground//etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_is_refused(server: str, target: str) -> None:
    status, body = raw_get(server, target)
    assert status == 404, target
    assert b"root:" not in body and b"import" not in body


@pytest.mark.filterwarnings("ignore:The `root_path` parameter is deprecated")
@pytest.mark.parametrize("where", ["router", "nested", "root_path"])
async def test_prefixes_and_root_path(where: str) -> None:
    app = FastAPI()
    transport: dict = {}
    if where == "router":
        router = APIRouter(prefix="/api")
        add_routes(router, joke_chain(), path="/joke")
        app.include_router(router)
        base = "/api/joke"
    elif where == "nested":
        inner = APIRouter(prefix="/inner")
        add_routes(inner, joke_chain(), path="/joke")
        outer = APIRouter(prefix="/outer")
        outer.include_router(inner)
        app.include_router(outer, prefix="/v1")
        base = "/v1/outer/inner/joke"
    else:
        add_routes(app, joke_chain(), path="/joke")
        transport["root_path"] = "/proxy"
        base = "/proxy/joke"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **transport), base_url="http://test"
    ) as client:
        page = await client.get(f"{base}/playground/")
        assert page.status_code == 200
        assert settings_of(page.text)["playgroundType"] == "default"
        asset = await client.get(f"{base}/playground/assets/{asset_version()}/main.js")
        assert asset.status_code == 200
        redirect = await client.get(f"{base}/playground")
        assert redirect.headers["location"] == "playground/"


def _key(x_api_key: str | None = Header(default=None)) -> None:
    if x_api_key != "k":
        raise HTTPException(401, "no key")


async def test_dependencies_cover_the_playground_unless_told_otherwise() -> None:
    app = FastAPI()
    add_routes(app, joke_chain(), path="/closed", dependencies=[Depends(_key)])
    add_routes(
        app,
        joke_chain(),
        path="/open_page",
        dependencies=[Depends(_key)],
        playground_dependencies=[],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/closed/playground/")).status_code == 401
        assert (await client.get("/closed/playground/", headers={"x-api-key": "k"})).is_success
        assert (await client.get("/open_page/playground/")).status_code == 200
        invoke = await client.post("/open_page/invoke", json={"input": {"topic": "x"}})
        assert invoke.status_code == 401
        schema = await client.get("/open_page/input_schema")
        assert schema.status_code == 401


async def test_not_in_openapi(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert not [path for path in spec["paths"] if "playground" in path]


@pytest.mark.parametrize(
    "file_path",
    [
        "..",
        "../route.py",
        "/etc/passwd",
        "a/../../route.py",
        "assets/v/../../route.py",
        "assets\\v\\main.js",
        "C:/x",
        "\x00",
        "assets/v",
        "assets/v/..",
        ".git/config",
        "assets/v/index.html",
        "assets/index.html/x",
    ],
)
def test_resolve_static_refuses(file_path: str) -> None:
    assert resolve_static(file_path) is None


def test_resolve_static_accepts() -> None:
    assert resolve_static("") == (STATIC_DIR.resolve() / "index.html", False)
    found = resolve_static(f"assets/{asset_version()}/main.js")
    assert found == (STATIC_DIR.resolve() / "assets" / "main.js", True)
