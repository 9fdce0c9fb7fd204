"""The Agent Protocol's Store API (``/store/...``) on a LangGraph ``BaseStore``.

::

    router = store_router(lambda: store)  # any BaseStore; or an async getter
    app.include_router(router)

``open_sqlite_store(file)`` opens LangGraph's ``AsyncSqliteStore`` on a SQLite file (the
server's, next to the checkpoints); ``ServerStore`` holds one for an app: its lifespan
opens and closes it, and the graphs it was given run on it as their runtime store.

Imported only when a store is served: it imports langgraph.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import aiosqlite
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from langgraph.store.base import BaseStore, InvalidNamespaceError, Item, TTLConfig
from langgraph.store.sqlite.aio import AsyncSqliteStore
from starlette.routing import Router

from chainserve.agents._protocol import query_flag
from chainserve.server.lifespan import around_lifespan

StoreGetter = Callable[[], "BaseStore | Awaitable[BaseStore]"]

MAX_LIMIT = 1000
DEFAULT_TTL = TTLConfig(refresh_on_read=True, sweep_interval_minutes=5)


class StoreRequestError(Exception):
    """A request the Store API refuses: answered ``status`` ``{"detail": detail}``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def store_router(get_store: StoreGetter) -> APIRouter:
    """The Store API's routes on the store ``get_store()`` returns (or its awaitable
    resolves to), called per request: ``PUT|GET|DELETE /store/items``,
    ``POST /store/items/search`` and ``POST /store/namespaces``."""
    router = APIRouter(tags=["store"])

    async def store() -> BaseStore:
        got = get_store()
        return await got if inspect.isawaitable(got) else got

    @router.put("/store/items", status_code=204, response_class=Response)
    async def put_item(request: Request) -> Response:
        try:
            body = await _json_object(request)
            namespace = _namespace(body.get("namespace"), "namespace")
            key = _key(body.get("key"))
            value = body.get("value")
            if not isinstance(value, dict):
                raise StoreRequestError(422, "'value' must be a JSON object")
            index = _index(body.get("index"))
            ttl = _ttl(body.get("ttl"))
            target = await store()
            if ttl is not None and not target.supports_ttl:
                raise StoreRequestError(422, "this store does not support 'ttl'")
            options: dict[str, Any] = {} if ttl is None else {"ttl": ttl}
            await target.aput(namespace, key, value, index=index, **options)
        except (StoreRequestError, InvalidNamespaceError) as exc:
            return _error(exc)
        return Response(status_code=204)

    @router.get("/store/items")
    async def get_item(request: Request) -> Response:
        query = request.query_params
        try:
            text = query.get("namespace")
            if text is None:
                raise StoreRequestError(422, "the query parameter 'namespace' is required")
            if not text:
                raise StoreRequestError(
                    422, "Namespace label '' must be a non-empty string without periods"
                )
            namespace = _labels(text.split("."), "namespace")
            key = _key(query.get("key"))
            refresh = _query_bool(query.get("refresh_ttl"), "refresh_ttl")
            item = await (await store()).aget(namespace, key, refresh_ttl=refresh)
        except (StoreRequestError, InvalidNamespaceError) as exc:
            return _error(exc)
        return JSONResponse(None if item is None else item_json(item))

    @router.delete("/store/items", status_code=204, response_class=Response)
    async def delete_item(request: Request) -> Response:
        try:
            body = await _json_object(request)
            namespace = _namespace(body.get("namespace"), "namespace")
            key = _key(body.get("key"))
            await (await store()).adelete(namespace, key)
        except (StoreRequestError, InvalidNamespaceError) as exc:
            return _error(exc)
        return Response(status_code=204)

    @router.post("/store/items/search")
    async def search_items(request: Request) -> Response:
        try:
            body = await _json_object(request)
            prefix = _labels(body.get("namespace_prefix", []), "namespace_prefix")
            filter_ = body.get("filter")
            if filter_ is not None and not isinstance(filter_, dict):
                raise StoreRequestError(422, "'filter' must be a JSON object or null")
            query = body.get("query")
            if query is not None and not isinstance(query, str):
                raise StoreRequestError(422, "'query' must be a string or null")
            limit, offset = _page(body, default_limit=10)
            refresh = _optional_bool(body.get("refresh_ttl"), "refresh_ttl")
            items = await (await store()).asearch(
                prefix,
                query=query or None,
                filter=filter_,
                limit=limit,
                offset=offset,
                refresh_ttl=refresh,
            )
        except (StoreRequestError, InvalidNamespaceError) as exc:
            return _error(exc)
        return JSONResponse({"items": [item_json(item) for item in items]})

    @router.post("/store/namespaces")
    async def list_namespaces(request: Request) -> Response:
        try:
            body = await _json_object(request)
            prefix = _optional_labels(body.get("prefix"), "prefix")
            suffix = _optional_labels(body.get("suffix"), "suffix")
            max_depth = body.get("max_depth")
            if max_depth is not None and not (_is_int(max_depth) and max_depth >= 1):
                raise StoreRequestError(422, "'max_depth' must be a positive integer or null")
            limit, offset = _page(body, default_limit=100)
            namespaces = await (await store()).alist_namespaces(
                prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
            )
        except (StoreRequestError, InvalidNamespaceError) as exc:
            return _error(exc)
        return JSONResponse({"namespaces": [list(namespace) for namespace in namespaces]})

    return router


def item_json(item: Item) -> dict[str, Any]:
    """``item`` as the Store API answers it; search results add ``score``."""
    shown: dict[str, Any] = {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": _timestamp(item.created_at),
        "updated_at": _timestamp(item.updated_at),
    }
    if hasattr(item, "score"):  # a SearchItem: null when the search was not ranked
        shown["score"] = item.score
    return shown


class SqliteStore(AsyncSqliteStore):
    """LangGraph's ``AsyncSqliteStore``, saying that it supports TTLs, as it does.

    (Its ``supports_ttl = True`` comes from a base class that its method resolution
    order puts after ``BaseStore``'s ``False``.)
    """

    supports_ttl = True


@asynccontextmanager
async def open_sqlite_store(
    file: str, *, ttl: TTLConfig | None = None
) -> AsyncIterator[SqliteStore]:
    """LangGraph's ``AsyncSqliteStore`` (a ``SqliteStore``) on the SQLite ``file`` (or
    ``":memory:"``), its tables made; closed on exit. Open it in the loop that will use
    it: the store binds to the running loop. ``ttl`` (LangGraph's ``TTLConfig``) is laid over
    ``DEFAULT_TTL``: expired items are deleted every ``sweep_interval_minutes`` while it
    is open, and reads refresh TTLs unless a request says ``refresh_ttl: false`` (LangGraph
    refreshes none, even when asked, unless ``refresh_on_read`` is set)."""
    ttl = TTLConfig(**{**DEFAULT_TTL, **(ttl or {})})
    # Autocommit: the store issues its own BEGIN/COMMIT around each batch.
    connection = aiosqlite.connect(file, isolation_level=None)
    thread = getattr(connection, "_thread", None)
    if thread is not None:  # an unclosed store must not keep the process alive at exit
        thread.daemon = True
    await connection
    await connection.execute("PRAGMA synchronous = NORMAL")  # as the server's other files
    try:
        store = SqliteStore(connection, ttl=ttl)
        await store.setup()
        if ttl.get("sweep_interval_minutes"):
            await store.start_ttl_sweeper()
        try:
            yield store
        finally:
            await store.stop_ttl_sweeper(timeout=5)
    finally:
        await connection.close()


class ServerStore:
    """The server's store on one SQLite file, for the Store API and the graphs.

    ``close_at_shutdown(router)`` makes the app's lifespan open it at startup and close
    it at shutdown; without a lifespan it opens on first use, in that request's loop.
    ``give(graph)`` gives a copy of a compiled graph this store as its runtime store
    (``get_store()`` / ``Runtime.store`` in its nodes).
    """

    def __init__(self, file: str, *, ttl: TTLConfig | None = None) -> None:
        self.file = file
        self.ttl = ttl
        self.graphs: list[Any] = []
        self._store: SqliteStore | None = None
        self._opened: AbstractAsyncContextManager[SqliteStore] | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._locks = weakref.WeakKeyDictionary()

    def router(self) -> APIRouter:
        """The Store API on this store."""
        return store_router(self.get)

    def give(self, graph: Any) -> Any:
        """Make ``graph`` (a ``Pregel``: the server's copy, not the user's) run on this
        store once it is open; returns it."""
        graph.store = self._store
        self.graphs.append(graph)
        return graph

    async def get(self) -> SqliteStore:
        """The open store; opened now if the lifespan has not (or in another loop)."""
        store = self._store
        if store is not None and store.loop is asyncio.get_running_loop():
            return store
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if self._store is None or self._store.loop is not asyncio.get_running_loop():
                await self.open()
        assert self._store is not None
        return self._store

    async def open(self) -> None:
        """Open the store (again) in the running loop; one open before is closed."""
        if self._opened is not None:
            # Opened lazily in a loop that may be gone: closed as far as it still can be.
            with contextlib.suppress(Exception):
                await self.close()
        opened = open_sqlite_store(self.file, ttl=self.ttl)
        self._install(await opened.__aenter__())
        self._opened = opened

    async def close(self) -> None:
        """Close the store; the next use opens it again."""
        opened, self._opened = self._opened, None
        self._install(None)
        if opened is not None:
            await opened.__aexit__(None, None, None)

    def close_at_shutdown(self, router: Router) -> None:
        """Make ``router``'s lifespan open the store at startup and close it at shutdown,
        around the lifespan it already had."""
        around_lifespan(router, self.open, self.close)

    def _install(self, store: SqliteStore | None) -> None:
        self._store = store
        for graph in self.graphs:
            graph.store = store


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, StoreRequestError):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    # LangGraph's own namespace checks (a "langgraph" root label, a NUL byte).
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise StoreRequestError(422, "Invalid JSON in request body") from None
    if not isinstance(body, dict):
        raise StoreRequestError(422, "the request body must be a JSON object")
    return body


def _labels(value: Any, field: str) -> tuple[str, ...]:
    """A namespace (or a prefix of one): a list of non-empty strings without '.'."""
    if not isinstance(value, list):
        raise StoreRequestError(422, f"'{field}' must be a list of strings")
    for label in value:
        if not isinstance(label, str):
            raise StoreRequestError(422, f"'{field}' must be a list of strings")
        if not label or "." in label:
            raise StoreRequestError(
                422, f"Namespace label {label!r} must be a non-empty string without periods"
            )
    return tuple(value)


def _namespace(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        raise StoreRequestError(422, f"'{field}' is required")
    if value == []:
        raise StoreRequestError(400, "Namespace cannot be empty.")
    return _labels(value, field)


def _optional_labels(value: Any, field: str) -> tuple[str, ...] | None:
    return None if value is None else _labels(value, field)


def _key(value: Any) -> str:
    if value is None:
        raise StoreRequestError(422, "'key' is required")
    if not isinstance(value, str):
        raise StoreRequestError(422, "'key' must be a string")
    return value


def _index(value: Any) -> Any:
    if value is None or value is False:
        return value
    if isinstance(value, list) and all(isinstance(path, str) for path in value):
        return value
    raise StoreRequestError(422, "'index' must be false, a list of field paths, or null")


def _ttl(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise StoreRequestError(422, "'ttl' must be a positive number of minutes or null")
    return value


def _page(body: dict[str, Any], *, default_limit: int) -> tuple[int, int]:
    limit = body.get("limit", default_limit)
    offset = body.get("offset", 0)
    if not (_is_int(limit) and 1 <= limit <= MAX_LIMIT):
        raise StoreRequestError(422, f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    if not (_is_int(offset) and offset >= 0):
        raise StoreRequestError(422, "'offset' must be a non-negative integer")
    return limit, offset


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_bool(value: Any, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise StoreRequestError(422, f"'{field}' must be true, false or null")


def _query_bool(value: str | None, field: str) -> bool | None:
    return None if value is None else query_flag(value, field)


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite's CURRENT_TIMESTAMP is UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="microseconds")
