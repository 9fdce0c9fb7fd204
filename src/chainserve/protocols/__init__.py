"""Other protocols over the same routes: the OpenAI API, MCP and A2A.

Each adapter maps its protocol onto a route's ``APIHandler`` (its config, limits,
cancellation and serialization); ``add_routes(..., openai=True, mcp=True, a2a=True)``
mounts them. The MCP and A2A adapters use those protocols' official SDKs, installed
with ``pip install "chainserve[mcp]"`` and ``"chainserve[a2a]"``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.params import Depends

from chainserve.server.handler import APIHandler

__all__ = ["A2A_CARD", "installed", "mount_protocols"]

A2A_CARD = "/.well-known/agent-card.json"  # an A2A agent's card, under its path
_SDKS = {"mcp": "mcp", "a2a": "a2a"}


def installed(protocol: str) -> bool:
    """Whether ``protocol`` can be served here: the OpenAI API always; MCP and A2A
    once their SDK is installed (``pip install "chainserve[mcp,a2a]"``)."""
    module = _SDKS.get(protocol)
    return module is None or importlib.util.find_spec(module) is not None


def mount_protocols(
    app: FastAPI | APIRouter,
    handler: APIHandler,
    path: str,
    dependencies: Sequence[Depends],
    *,
    openai: bool = False,
    mcp: bool = False,
    a2a: bool = False,
) -> None:
    """Serve a route's handler over the protocols asked for."""
    if openai:
        from chainserve.protocols.openai import mount_openai

        mount_openai(app, handler, path, dependencies)
    if mcp:
        from chainserve.protocols.mcp import mount_mcp

        mount_mcp(app, handler, path, dependencies)
    if a2a:
        from chainserve.protocols.a2a import mount_a2a

        mount_a2a(app, handler, path, dependencies)
