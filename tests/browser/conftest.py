"""Fixtures for the playground's browser tests: a served app and headless Chromium.

The tests drive Debian's ``chromium`` package through Playwright (``playwright
install`` is never needed). A missing browser is an error, not a skip: these tests are
the only check that the playground works in a real browser.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from apps import (
    RUNNABLES,
    alternatives_chain,
    chat_messages_chain,
    chat_widget_chain,
    configurable_chain,
    echo_chat_model,
    file_chain,
    joke_chain,
)
from debian import install
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from graph_apps import counter_graph
from pages import API_KEY
from playwright.sync_api import Browser, Page, sync_playwright
from servers import serve

from chainserve import add_routes

CHROMIUM = os.environ.get("CHAINSERVE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_api_key(x_api_key: str | None = Header(default=None)) -> None:
    if x_api_key != API_KEY:
        raise HTTPException(status_code=401, detail="Missing or wrong x-api-key header")


def playground_app() -> FastAPI:
    """One route per kind of playground the tests open."""
    app = FastAPI()
    add_routes(app, joke_chain(), path="/joke")
    add_routes(app, RUNNABLES["/words"](), path="/words")  # untyped input
    add_routes(app, configurable_chain(), path="/configurable")
    add_routes(app, alternatives_chain(), path="/alternatives")
    add_routes(app, file_chain(), path="/file")
    add_routes(app, chat_widget_chain(), path="/chat_widget")
    add_routes(app, chat_messages_chain(), path="/chat", playground_type="chat")
    add_routes(app, counter_graph(), path="/graph")  # a LangGraph graph with a checkpointer
    add_routes(app, echo_chat_model(), path="/echo_chat", playground_type="chat")
    add_routes(
        app,
        echo_chat_model(),
        path="/rated_chat",
        playground_type="chat",
        enable_feedback_endpoint=True,
    )
    add_routes(
        app,
        joke_chain(),
        path="/secure",
        dependencies=[Depends(require_api_key)],
        playground_dependencies=[],
    )
    router = APIRouter(prefix="/api/v1")
    add_routes(router, configurable_chain(), path="/nested")
    app.include_router(router)
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(playground_app()) as url:
        yield url


def _chromium_present() -> bool:
    return bool(os.path.exists(CHROMIUM) or shutil.which(CHROMIUM))


def _install_chromium() -> None:
    """Install Debian's chromium, as the test command must work on a fresh machine."""
    install("chromium")


# Module scope, not session: Playwright's sync API keeps an event loop running while it
# is open, which would break every pytest-asyncio test collected after these.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not _chromium_present():
        _install_chromium()
    if not _chromium_present():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(or point CHAINSERVE_CHROMIUM at a Chromium binary)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (own cookies and localStorage) that fails the test on a JS error."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
