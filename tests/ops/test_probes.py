"""Probes over real HTTP: /health and /ok (liveness), /ready (startup, then its checks),
none of them behind the app's auth; and the mistakes add_operations refuses."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from protocol_apps import inc, one_node_graph
from servers import serve

from chainserve import add_routes
from chainserve.agents import add_graphs
from chainserve.ops import add_operations, add_readiness_check

LIVE = {"ok": True, "services": {}}


def _key(x_api_key: str | None = Header(None)) -> None:
    if x_api_key != "secret":
        raise HTTPException(401, "a key is needed")


def guarded_app() -> FastAPI:
    """An app whose every route needs the header ``x-api-key: secret``."""
    app = FastAPI(dependencies=[Depends(_key)])
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    return app


def test_probes_answer_without_the_auth_the_app_s_routes_need() -> None:
    app = guarded_app()
    add_operations(app)
    with serve(app, lifespan=True) as url:
        assert httpx.post(f"{url}/echo/invoke", json={"input": 1}).status_code == 401
        for path in ("/health", "/ok"):
            answer = httpx.get(f"{url}{path}")
            assert (answer.status_code, answer.json()) == (200, LIVE), path
        assert httpx.head(f"{url}/health").status_code == 200
        ready = httpx.get(f"{url}/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert httpx.get(f"{url}/metrics").status_code == 200
        assert httpx.post(f"{url}/health").status_code == 405


def test_ready_is_503_until_the_lifespan_has_started_up() -> None:
    app = guarded_app()
    add_operations(app)
    with serve(app, lifespan=False) as url:  # no startup ever happens
        answer = httpx.get(f"{url}/ready")
        assert (answer.status_code, answer.json()) == (503, {"status": "starting"})
        assert httpx.get(f"{url}/health").json() == LIVE  # alive all the same


def test_ready_names_the_checks_that_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chainserve.ops.health.CHECK_TIMEOUT", 0.05)
    app = FastAPI()
    answers = {"cache": True}

    async def cache() -> bool:
        return answers["cache"]

    async def broken() -> None:
        raise ConnectionError("refused")

    async def stuck() -> None:
        await asyncio.Event().wait()

    add_readiness_check(app, "cache", cache)
    add_operations(app)
    add_readiness_check(app, "queue", broken)  # before or after add_operations
    add_readiness_check(app, "search", stuck)
    add_readiness_check(app, "sync", lambda: True)  # type: ignore[arg-type, return-value]
    with serve(app, lifespan=True) as url:
        answer = httpx.get(f"{url}/ready")
        assert answer.status_code == 503
        assert answer.json() == {"status": "unavailable", "failed": ["queue", "search", "sync"]}
        answers["cache"] = False
        assert httpx.get(f"{url}/ready").json()["failed"] == ["cache", "queue", "search", "sync"]


def test_an_agent_protocol_app_is_ready_once_its_database_answers(tmp_path: Path) -> None:
    # Its own checkpointer and store: nothing opens the server's database at startup,
    # the readiness check is the first to.
    graph = one_node_graph(inc).copy(
        update={"checkpointer": InMemorySaver(), "store": InMemoryStore()}
    )
    ok = FastAPI(dependencies=[Depends(_key)])
    add_graphs(ok, {"inc": graph}, database=f"sqlite:///{tmp_path / 'db.sqlite'}")
    add_operations(ok)
    (tmp_path / "file").write_text("not a folder")
    unreachable = FastAPI()
    add_graphs(unreachable, {"inc": graph}, database=f"sqlite:///{tmp_path / 'file' / 'db'}")
    add_operations(unreachable)
    with serve(ok, lifespan=True) as url, serve(unreachable, lifespan=True) as other:
        assert httpx.get(f"{url}/ready").json() == {"status": "ready"}
        assert (tmp_path / "db.sqlite").is_file()
        assert httpx.get(f"{url}/ok").json() == LIVE  # ahead of add_graphs' guarded /ok
        assert httpx.get(f"{url}/info").status_code == 401
        answer = httpx.get(f"{other}/ready")
        assert (answer.status_code, answer.json()) == (
            503,
            {"status": "unavailable", "failed": ["database"]},
        )


def test_mistakes_are_refused_with_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match="needs a Starlette or FastAPI app"):
        add_operations(APIRouter())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not the string"):
        add_operations(FastAPI(), exclude="/health")
    with pytest.raises(ValueError, match="starting with '/'"):
        add_operations(FastAPI(), exclude=["health"])
    app = FastAPI()
    add_operations(app)
    with pytest.raises(ValueError, match="called on this app already"):
        add_operations(app)
    with pytest.raises(ValueError, match="'cache' already"):
        add_readiness_check(app, "cache", asyncio.sleep)
        add_readiness_check(app, "cache", asyncio.sleep)
    with pytest.raises(TypeError, match="must be an async callable"):
        add_readiness_check(app, "db", "SELECT 1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a name"):
        add_readiness_check(app, "", asyncio.sleep)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="is not a folder"):
        add_operations(FastAPI())
    assert add_operations(FastAPI(), metrics=False) is None  # no metrics, no folder needed
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "chainserve\[ops\]"'):
        add_operations(FastAPI(), metrics=True)
    quiet = FastAPI()
    add_operations(quiet)  # by default: no /metrics without prometheus-client
    assert "/metrics" not in [getattr(route, "path", "") for route in quiet.routes]
