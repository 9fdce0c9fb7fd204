"""The Store API (``/store/...``) on LangGraph's SQLite store, through the official SDK."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from langgraph.config import get_store
from langgraph.graph import START, StateGraph
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import APIStatusError
from servers import serve
from typing_extensions import TypedDict

from chainserve.agents._store import ServerStore, open_sqlite_store, store_router


def store_app(file: Path, ttl: Any = None) -> FastAPI:
    """An app serving only the Store API, its store opened by the app's lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_sqlite_store(str(file), ttl=ttl) as store:
            app.state.store = store
            yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(store_router(lambda: app.state.store))
    return app


def serve_with_lifespan(app: Any, *, timeout: float = 20.0) -> Any:
    """``tests.servers.serve``, with the app's lifespan run (it opens the store)."""
    return serve(app, timeout=timeout, lifespan=True)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "chainserve.sqlite"


@pytest.fixture
def url(database: Path) -> Iterator[str]:
    with serve_with_lifespan(store_app(database)) as base:
        yield base


@pytest.fixture
async def client(url: str) -> AsyncIterator[Any]:
    sdk = get_client(url=url)
    yield sdk
    await sdk.aclose()


def moment(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None, text
    return parsed


async def test_put_get_update_delete(client: Any) -> None:
    assert await client.store.put_item(["users", "alice"], "prefs", {"theme": "dark"}) is None
    item = await client.store.get_item(["users", "alice"], "prefs")
    assert set(item) == {"namespace", "key", "value", "created_at", "updated_at"}
    assert item["namespace"] == ["users", "alice"]
    assert item["key"] == "prefs"
    assert item["value"] == {"theme": "dark"}
    created = moment(item["created_at"])
    assert created.utcoffset() == timedelta(0)  # UTC, as the official server writes it

    await client.store.put_item(["users", "alice"], "prefs", {"theme": "light", "n": [1, 2]})
    updated = await client.store.get_item(["users", "alice"], "prefs")
    assert updated["value"] == {"theme": "light", "n": [1, 2]}
    assert moment(updated["updated_at"]) >= moment(updated["created_at"])

    assert await client.store.delete_item(["users", "alice"], "prefs") is None
    assert await client.store.get_item(["users", "alice"], "prefs") is None
    # Deleting what is not there answers 204 too.
    assert await client.store.delete_item(["users", "alice"], "prefs") is None


async def test_a_missing_item_is_null(client: Any) -> None:
    await client.store.put_item(["users", "alice"], "prefs", {"theme": "dark"})
    assert await client.store.get_item(["users", "alice"], "other") is None
    assert await client.store.get_item(["users", "bob"], "prefs") is None
    assert await client.store.get_item(["users"], "prefs") is None


def test_the_sync_client(url: str) -> None:
    with get_sync_client(url=url) as sdk:
        sdk.store.put_item(["docs"], "readme", {"text": "hello"})
        assert sdk.store.get_item(["docs"], "readme")["value"] == {"text": "hello"}
        found = sdk.store.search_items(["docs"])
        assert [(item["key"], item["score"]) for item in found["items"]] == [("readme", None)]
        assert sdk.store.list_namespaces() == {"namespaces": [["docs"]]}
        sdk.store.delete_item(["docs"], "readme")
        assert sdk.store.get_item(["docs"], "readme") is None


async def fill(client: Any) -> None:
    await client.store.put_item(["docs"], "guide", {"title": "Guide", "lang": "en"})
    await client.store.put_item(["users", "alice"], "prefs", {"theme": "dark", "lang": "en"})
    await client.store.put_item(["users", "alice"], "notes", {"text": "hello there"})
    await client.store.put_item(["users", "bob"], "prefs", {"theme": "light", "lang": "fr"})


def keys(found: dict[str, Any]) -> set[tuple[str, ...]]:
    return {(*item["namespace"], item["key"]) for item in found["items"]}


async def test_search(client: Any) -> None:
    await fill(client)
    users = await client.store.search_items(["users"])
    assert keys(users) == {
        ("users", "alice", "prefs"),
        ("users", "alice", "notes"),
        ("users", "bob", "prefs"),
    }
    for item in users["items"]:
        assert set(item) == {"namespace", "key", "value", "created_at", "updated_at", "score"}
        assert item["score"] is None
        moment(item["created_at"])
    assert keys(await client.store.search_items(["users", "alice"])) == {
        ("users", "alice", "prefs"),
        ("users", "alice", "notes"),
    }
    assert len((await client.store.search_items([]))["items"]) == 4
    assert (await client.store.search_items(["nobody"]))["items"] == []

    dark = await client.store.search_items(["users"], filter={"theme": "dark"})
    assert keys(dark) == {("users", "alice", "prefs")}
    english = await client.store.search_items([], filter={"lang": "en"})
    assert keys(english) == {("docs", "guide"), ("users", "alice", "prefs")}

    # No index is configured: a query does not filter (as the reference server does).
    queried = await client.store.search_items(["users"], query="hello")
    assert keys(queried) == keys(users)


async def test_search_pages(client: Any) -> None:
    await fill(client)
    everything = keys(await client.store.search_items([], limit=10))
    pages = [await client.store.search_items([], limit=3, offset=offset) for offset in (0, 3)]
    assert [len(page["items"]) for page in pages] == [3, 1]
    assert keys(pages[0]) | keys(pages[1]) == everything
    assert not keys(pages[0]) & keys(pages[1])
    assert len((await client.store.search_items([], limit=1))["items"]) == 1
    assert (await client.store.search_items([], offset=4))["items"] == []


async def test_list_namespaces(client: Any) -> None:
    await fill(client)
    await client.store.put_item(["users", "alice", "deep"], "x", {})
    store = client.store
    assert await store.list_namespaces() == {
        "namespaces": [["docs"], ["users", "alice"], ["users", "alice", "deep"], ["users", "bob"]]
    }
    assert await store.list_namespaces(prefix=["users"], max_depth=1) == {"namespaces": [["users"]]}
    assert await store.list_namespaces(prefix=["users"], max_depth=2) == {
        "namespaces": [["users", "alice"], ["users", "bob"]]
    }
    assert await store.list_namespaces(suffix=["alice"]) == {"namespaces": [["users", "alice"]]}
    assert await store.list_namespaces(prefix=["users"], suffix=["deep"]) == {
        "namespaces": [["users", "alice", "deep"]]
    }
    assert await store.list_namespaces(prefix=["docs", "nothing"]) == {"namespaces": []}
    assert await store.list_namespaces(limit=2, offset=1) == {
        "namespaces": [["users", "alice"], ["users", "alice", "deep"]]
    }


def expiry(database: Path, key: str) -> str:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        row = connection.execute("SELECT expires_at FROM store WHERE key = ?", (key,)).fetchone()
    assert row is not None and row[0] is not None
    return str(row[0])


async def test_ttl_and_refresh(client: Any, database: Path) -> None:
    await client.store.put_item(["users", "alice"], "session", {"n": 1}, ttl=5)
    await client.store.put_item(["users", "alice"], "forever", {"n": 2})
    first = expiry(database, "session")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        assert connection.execute(
            "SELECT expires_at FROM store WHERE key = 'forever'"
        ).fetchone() == (None,)
    time.sleep(1.1)  # SQLite's clock counts whole seconds
    assert await client.store.get_item(["users", "alice"], "session", refresh_ttl=False)
    assert expiry(database, "session") == first
    assert await client.store.get_item(["users", "alice"], "session", refresh_ttl=True)
    refreshed = expiry(database, "session")
    assert refreshed[:19] > first[:19]
    time.sleep(1.1)
    await client.store.search_items(["users"], refresh_ttl=False)
    assert expiry(database, "session") == refreshed
    await client.store.search_items(["users"], refresh_ttl=True)
    searched = expiry(database, "session")
    assert searched > refreshed
    time.sleep(1.1)
    await client.store.get_item(["users", "alice"], "session")  # reads refresh by default
    assert expiry(database, "session") > searched


async def test_expired_items_are_swept(database: Path) -> None:
    # A sweep every 0.6 s; the item lives 1.2 s.
    app = store_app(database, ttl={"sweep_interval_minutes": 0.01})
    with serve_with_lifespan(app) as base:
        sdk = get_client(url=base)
        try:
            await sdk.store.put_item(["users", "alice"], "session", {"n": 1}, ttl=0.02)
            await sdk.store.put_item(["users", "alice"], "forever", {"n": 2})
            assert await sdk.store.get_item(["users", "alice"], "session", refresh_ttl=False)
            deadline = time.monotonic() + 15  # a bound on waiting, not a speed check
            # Polled without refreshing: a read refreshes the TTL by default.
            while await sdk.store.get_item(["users", "alice"], "session", refresh_ttl=False):
                if time.monotonic() > deadline:
                    pytest.fail("the expired item was never swept")
                time.sleep(0.2)
            assert await sdk.store.get_item(["users", "alice"], "forever") is not None
        finally:
            await sdk.aclose()


async def test_items_survive_a_restart(database: Path) -> None:
    with serve_with_lifespan(store_app(database)) as base:
        sdk = get_client(url=base)
        await sdk.store.put_item(["users", "alice"], "prefs", {"theme": "dark"})
        before = await sdk.store.get_item(["users", "alice"], "prefs")
        await sdk.aclose()
    with serve_with_lifespan(store_app(database)) as base:
        sdk = get_client(url=base)
        try:
            assert await sdk.store.get_item(["users", "alice"], "prefs") == before
            assert await sdk.store.list_namespaces() == {"namespaces": [["users", "alice"]]}
        finally:
            await sdk.aclose()


# (call name, arguments, status): requests the server refuses, each with a JSON detail.
REFUSED: list[tuple[str, tuple[Any, ...], dict[str, Any], int]] = [
    ("put_item", ([], "k", {"a": 1}), {}, 400),
    ("delete_item", ([], "k"), {}, 400),
    ("get_item", ([], "k"), {}, 422),
    ("get_item", (["users"], "k"), {"params": {"namespace": "users..alice"}}, 422),
    ("get_item", (["users"], "k"), {"params": {"refresh_ttl": "maybe"}}, 422),
    ("put_item", (["users"], "k", [1, 2]), {}, 422),
    ("put_item", (["users"], "k", "text"), {}, 422),
    ("put_item", (["users"], None, {"a": 1}), {}, 422),
    ("put_item", (["users", ""], "k", {"a": 1}), {}, 422),
    ("delete_item", (["users", 7], "k"), {}, 422),
    ("put_item", (["langgraph"], "k", {"a": 1}), {}, 422),
    ("put_item", (["users"], "k", {"a": 1}), {"ttl": -1}, 422),
    ("put_item", (["users"], "k", {"a": 1}), {"ttl": "soon"}, 422),
    ("put_item", (["users"], "k", {"a": 1}), {"index": "yes"}, 422),
    ("delete_item", (["users.alice"], "k"), {}, 422),
    ("search_items", (["users.alice"],), {}, 422),
    ("search_items", (["users"],), {"limit": 0}, 422),
    ("search_items", (["users"],), {"limit": 100_000}, 422),
    ("search_items", (["users"],), {"offset": -1}, 422),
    ("search_items", (["users"],), {"filter": "dark"}, 422),
    ("search_items", (["users"],), {"query": 7}, 422),
    ("list_namespaces", (), {"prefix": [""]}, 422),
    ("list_namespaces", (), {"suffix": ["a.b"]}, 422),
    ("list_namespaces", (), {"max_depth": 0}, 422),
    ("list_namespaces", (), {"limit": 0}, 422),
    ("list_namespaces", (), {"offset": -5}, 422),
]


@pytest.mark.parametrize(("call", "args", "kwargs", "status"), REFUSED)
async def test_refused_requests(
    client: Any, call: str, args: tuple[Any, ...], kwargs: dict[str, Any], status: int
) -> None:
    with pytest.raises(APIStatusError) as caught:
        await getattr(client.store, call)(*args, **kwargs)
    response = caught.value.response
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str)
    assert response.json()["detail"]


async def test_the_empty_namespace_detail(client: Any) -> None:
    with pytest.raises(APIStatusError) as caught:
        await client.store.put_item([], "k", {"a": 1})
    assert caught.value.response.json() == {"detail": "Namespace cannot be empty."}
    # A refused request stores nothing.
    assert await client.store.list_namespaces() == {"namespaces": []}


class Counter(TypedDict):
    n: int


def remember(state: Counter) -> Counter:
    """A node that keeps a count in the runtime store."""
    store = get_store()
    item = store.get(("counts",), "n")
    n = (item.value["n"] if item else 0) + state["n"]
    store.put(("counts",), "n", {"n": n})
    return {"n": n}


async def test_the_server_store_is_the_graphs_store(database: Path) -> None:
    builder = StateGraph(Counter)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    server_store = ServerStore(str(database))
    graph = server_store.give(builder.compile())  # the server's own copy
    app = FastAPI()
    app.include_router(server_store.router())

    @app.post("/count")
    async def count(body: Counter) -> Counter:
        await server_store.get()  # without a lifespan, the store opens on first use
        return await graph.ainvoke(body)  # type: ignore[no-any-return]

    with serve(app) as base:  # no lifespan: opened lazily
        sdk = get_client(url=base)
        try:
            assert await sdk.http.post("/count", json={"n": 2}) == {"n": 2}
            assert (await sdk.store.get_item(["counts"], "n"))["value"] == {"n": 2}
            await sdk.store.put_item(["counts"], "n", {"n": 10})
            assert await sdk.http.post("/count", json={"n": 1}) == {"n": 11}
        finally:
            await sdk.aclose()

    # With a lifespan: opened at startup, closed at shutdown, on the same file.
    app = FastAPI()
    app.include_router(server_store.router())
    server_store.close_at_shutdown(app.router)

    @app.post("/count")
    async def count_again(body: Counter) -> Counter:
        assert graph.store is not None
        return await graph.ainvoke(body)  # type: ignore[no-any-return]

    with serve_with_lifespan(app) as base:
        sdk = get_client(url=base)
        try:
            assert await sdk.http.post("/count", json={"n": 1}) == {"n": 12}
        finally:
            await sdk.aclose()
    assert graph.store is None
