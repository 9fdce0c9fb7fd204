"""The startup heap is frozen once the app's own startup has run (``server/heap.py``).

Each case runs in a fresh interpreter: freezing is once per process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

APP = """
import gc
from contextlib import asynccontextmanager
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from langchain_core.runnables import RunnableLambda
from chainserve import add_routes

events = []

@asynccontextmanager
async def lifespan(app):
    events.append(("startup", gc.get_freeze_count()))
    yield {"token": "t"}
    events.append(("shutdown", gc.get_freeze_count() > 0))
"""

CASES = {
    "app": """
app = FastAPI(lifespan=lifespan)
add_routes(app, RunnableLambda(lambda x: x), path="/a")
add_routes(app, RunnableLambda(lambda x: x), path="/b")
""",
    "router": """
router = APIRouter(prefix="/api")
add_routes(router, RunnableLambda(lambda x: x), path="/a")
app = FastAPI(lifespan=lifespan)
app.include_router(router)
""",
}

CHECK = """
assert gc.get_freeze_count() == 0
with TestClient(app) as client:
    frozen = gc.get_freeze_count()
    assert client.post(PATH, json={"input": 1}).json()["output"] == 1
assert events == [("startup", 0), ("shutdown", True)], events
assert frozen > 10_000, frozen
print("ok", frozen)
"""


@pytest.mark.parametrize(("case", "path"), [("app", "/b/invoke"), ("router", "/api/a/invoke")])
def test_startup_freezes_the_heap_after_the_apps_own_startup(case: str, path: str) -> None:
    code = APP + CASES[case] + f"PATH = {path!r}\n" + CHECK
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_an_app_without_a_lifespan_of_its_own_is_frozen_too() -> None:
    code = """
import gc
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.runnables import RunnableLambda
from chainserve import add_routes

app = FastAPI()
add_routes(app, RunnableLambda(lambda x: x), path="/a")
with TestClient(app) as client:
    assert client.post("/a/invoke", json={"input": 1}).json()["output"] == 1
    print("frozen", gc.get_freeze_count())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[1]) > 10_000


def test_the_lifespan_is_wrapped_once() -> None:
    from fastapi import FastAPI
    from langchain_core.runnables import RunnableLambda

    from chainserve import add_routes

    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x), path="/a")
    wrapped = app.router.lifespan_context
    add_routes(app, RunnableLambda(lambda x: x), path="/b")
    assert app.router.lifespan_context is wrapped
