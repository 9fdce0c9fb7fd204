"""Routes serving the playground's files, with a strict containment check.

``<path>/playground/`` (and its ``/c/{config_hash}/`` twin) serves ``index.html``;
``<path>/playground/assets/<version>/<file>`` serves the page's modules and styles.
The version segment is a digest of the asset folder, so those files can be cached
forever: a new chainserve release changes the URLs that ``index.html`` points to.
Anything that is not a plain relative path to a file inside ``static/`` is a 404.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.params import Depends
from starlette.responses import PlainTextResponse, RedirectResponse

from chainserve._version import __version__
from chainserve.server.config import decode_config_hash
from chainserve.server.feedback import tracing_enabled
from chainserve.server.route import add_route

if TYPE_CHECKING:
    from chainserve.server.handler import APIHandler

STATIC_DIR = Path(__file__).parent / "static"
"""The folder whose files the playground serves; nothing outside it is ever read."""

_ROOT = STATIC_DIR.resolve()
_INDEX = "index.html"
_ASSETS = "assets"
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/vnd.microsoft.icon",
    ".txt": "text/plain; charset=utf-8",
}
# The page only ever talks to its own origin; this also stops injected markup from
# loading anything, should a schema ever smuggle some into the DOM.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'"
)


def mount_playground(
    app: FastAPI | APIRouter,
    handler: APIHandler,
    path: str,
    dependencies: Sequence[Depends],
    *,
    hashes: bool,
) -> None:
    """Add ``<path>/playground/...`` (and, with ``hashes``, its ``/c/{config_hash}/``
    twin) to ``app``. The routes stay out of the OpenAPI document."""

    async def page(request: Request, file_path: str) -> Response:
        return serve_file(request, handler, file_path, "")

    async def hashed_page(request: Request, config_hash: str, file_path: str) -> Response:
        decode_config_hash(config_hash)  # a 400 for a link that cannot be decoded
        return serve_file(request, handler, file_path, config_hash)

    options: dict[str, Any] = {
        "methods": ["GET", "HEAD"],
        "dependencies": list(dependencies),
        "include_in_schema": False,
    }
    add_route(app, f"{path}/playground", _add_slash, name=f"{path} playground", **options)
    add_route(app, f"{path}/playground/{{file_path:path}}", page, **options)
    if hashes:
        add_route(app, f"{path}/c/{{config_hash}}/playground", _add_slash, **options)
        add_route(
            app, f"{path}/c/{{config_hash}}/playground/{{file_path:path}}", hashed_page, **options
        )


async def _add_slash(request: Request) -> Response:
    # A relative Location keeps whatever prefix or root_path the browser came through.
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"playground/{query}", status_code=307)


def serve_file(request: Request, handler: APIHandler, file_path: str, config_hash: str) -> Response:
    """The response for one playground file, or a plain 404."""
    found = resolve_static(file_path)
    if found is None:
        return PlainTextResponse("Not Found", status_code=404)
    file, cacheable = found
    headers = {
        "Cache-Control": _IMMUTABLE if cacheable else _REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    if file.name == _INDEX:
        headers["Content-Security-Policy"] = _CSP
        body = render_index(page_settings(handler, bool(config_hash)))
        return Response(body, media_type=_MEDIA_TYPES[".html"], headers=headers)
    return Response(file.read_bytes(), media_type=media_type(file), headers=headers)


def resolve_static(file_path: str) -> tuple[Path, bool] | None:
    """The file inside ``STATIC_DIR`` that ``file_path`` names, and whether it may be
    cached for good; ``None`` for anything else.

    Only forward-slash relative paths made of ordinary names are accepted: no ``..``,
    ``.``, empty or hidden segments, backslashes, drive letters or NUL bytes. The
    resolved path (symlinks followed) must still lie inside the folder.
    """
    if not file_path:
        file_path = _INDEX
    if any(ch in file_path for ch in "\\\x00:"):
        return None
    parts = file_path.split("/")
    if any(not part or part.startswith(".") for part in parts):
        return None
    cacheable = False
    if parts[0] == _ASSETS:
        if len(parts) < 3:
            return None
        cacheable = parts[1] == asset_version()
        parts = [_ASSETS, *parts[2:]]
    candidate = STATIC_DIR.joinpath(*parts).resolve()
    if not candidate.is_relative_to(_ROOT) or not candidate.is_file():
        return None
    if candidate.name == _INDEX and parts != [_INDEX]:
        return None
    return candidate, cacheable


def media_type(file: Path) -> str:
    """The Content-Type of a static file, from its extension."""
    known = _MEDIA_TYPES.get(file.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(file.name)
    return guessed or "application/octet-stream"


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A digest of every file under ``static/assets``: the cache-busting URL segment."""
    digest = hashlib.sha256()
    assets = STATIC_DIR / _ASSETS
    for file in sorted(p for p in assets.rglob("*") if p.is_file()):
        digest.update(file.relative_to(assets).as_posix().encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def page_settings(handler: APIHandler, hashed: bool) -> dict[str, Any]:
    """What the page needs to know before its first request. No schemas or data: the
    page fetches those itself, with the headers the person entered."""
    return {
        "playgroundType": handler.playground_type,
        "hashed": hashed,
        # Whether the buttons can work: HEAD answers 200 even with tracing off.
        "feedback": handler.enable_feedback_endpoint and tracing_enabled(),
        "publicTraceLink": handler.enable_public_trace_link_endpoint and tracing_enabled(),
        "version": __version__,
    }


@lru_cache(maxsize=1)
def _index_template() -> str:
    return (STATIC_DIR / _INDEX).read_text(encoding="utf-8")


def render_index(settings: dict[str, Any]) -> str:
    """``index.html`` with the asset folder and the page settings filled in."""
    # Escaping "<" keeps the JSON from closing its <script> element.
    data = json.dumps(settings).replace("<", "\\u003c")
    return (
        _index_template()
        .replace("{{ASSETS}}", f"{_ASSETS}/{asset_version()}")
        .replace("{{SETTINGS}}", data)
    )
