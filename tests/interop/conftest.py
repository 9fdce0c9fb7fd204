"""Fixtures shared by the interop tests: one chainserve server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from apps import build_app
from servers import serve

import chainserve


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """Base URL of a chainserve server (real uvicorn socket) serving ``apps.RUNNABLES``."""
    with serve(build_app(chainserve.add_routes)) as url:
        yield url
