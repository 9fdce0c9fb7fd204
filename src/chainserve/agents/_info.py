"""``GET /ok`` (the server answers) and ``GET /info`` (what it is), as LangGraph
Platform's servers answer them for LangGraph Studio and other tools."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from chainserve._version import __version__
from chainserve.ops.health import alive


def info_router() -> APIRouter:
    """The routes ``GET /ok`` (the liveness probe, here behind the app's dependencies)
    and ``GET /info``."""
    router = APIRouter(tags=["meta"])
    router.add_api_route("/ok", alive, methods=["GET"])

    @router.get("/info")
    async def info() -> dict[str, object]:
        return {
            "version": __version__,
            "server": "chainserve",
            "langgraph_py_version": _version_of("langgraph"),
            "flags": {"assistants": True, "crons": False, "langsmith": False},
            "host": {"kind": "self-hosted"},
        }

    return router


def _version_of(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
