"""The Agent Protocol on Postgres: its records (``PostgresStorage``), LangGraph's
checkpointer (``PostgresSaver``) and store, through psycopg 3 connection pools.

Imported only for a ``postgresql://`` database (``pip install "chainserve[postgres]"``).
Schemas are made at startup under an advisory lock, so replicas starting together do not
race to make them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import TTLConfig
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.routing import Router

from chainserve.agents._persistence import _without_loop, checkpoint_at
from chainserve.agents._storage import SqlStorage, _decoded, _transaction
from chainserve.agents._store import DEFAULT_TTL, ServerStore
from chainserve.server.lifespan import around_lifespan

POOL_SIZE = 10  # connections per pool, per process
EVENTS_CHANNEL = "chainserve_events"  # NOTIFY'd with the run id of new events
_SCHEMA_LOCK = 7_214_393_000  # pg_advisory_lock key: one replica makes the schemas at a time
_SCHEMA = """
CREATE TABLE IF NOT EXISTS assistants (
    seq BIGSERIAL, assistant_id TEXT PRIMARY KEY, graph_id TEXT NOT NULL,
    config TEXT NOT NULL, context TEXT NOT NULL, metadata TEXT NOT NULL, name TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL,
    description TEXT
);
CREATE TABLE IF NOT EXISTS assistant_versions (
    seq BIGSERIAL, assistant_id TEXT NOT NULL, version INTEGER NOT NULL,
    graph_id TEXT NOT NULL, config TEXT NOT NULL, context TEXT NOT NULL,
    metadata TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL, description TEXT,
    PRIMARY KEY (assistant_id, version)
);
CREATE TABLE IF NOT EXISTS threads (
    seq BIGSERIAL, thread_id TEXT PRIMARY KEY, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, state_updated_at TEXT NOT NULL, metadata TEXT NOT NULL,
    status TEXT NOT NULL, config TEXT NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    seq BIGSERIAL, run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL,
    assistant_id TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL,
    kwargs TEXT NOT NULL, multitask_strategy TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, error TEXT, owner TEXT, lease_until TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_thread ON runs (thread_id, created_at);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS lease_until TEXT;
CREATE TABLE IF NOT EXISTS run_events (
    run_id TEXT NOT NULL, idx INTEGER NOT NULL, event_id TEXT NOT NULL, event TEXT NOT NULL,
    data BYTEA NOT NULL, made DOUBLE PRECISION NOT NULL, PRIMARY KEY (run_id, idx)
);
CREATE INDEX IF NOT EXISTS run_events_by_age ON run_events (made);
"""
_NEW_EVENTS = (
    "INSERT INTO run_events (run_id, idx, event_id, event, data, made) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def new_pool(database: str) -> AsyncConnectionPool[Any]:
    """A pool of autocommit connections to ``database``, opened by ``open``."""
    return AsyncConnectionPool(
        database,
        min_size=1,
        max_size=POOL_SIZE,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
    )


@contextlib.asynccontextmanager
async def schema_lock(pool: AsyncConnectionPool[Any]) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection holding the schema lock: one process makes or migrates schemas at a
    time, and the others find them made."""
    async with pool.connection() as connection:
        await connection.execute("SELECT pg_advisory_lock(%s)", [_SCHEMA_LOCK])
        try:
            yield connection
        finally:
            await connection.execute("SELECT pg_advisory_unlock(%s)", [_SCHEMA_LOCK])


class PostgresStorage(SqlStorage):
    """``SqlStorage`` on a Postgres database. It opens itself on first use if ``open``
    was not called (an app served without its lifespan)."""

    TIEBREAK = "seq"
    FOR_UPDATE = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, database: str) -> None:
        self.database = database
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opening: asyncio.Lock | None = None
        self._writers: dict[asyncio.Task[Any], AsyncConnection[Any]] = {}
        self.on_open: list[Any] = []  # coroutine functions run after each opening

    async def open(self) -> None:
        self._opening = self._opening or asyncio.Lock()
        async with self._opening:
            if self._pool is not None:
                return
            pool = new_pool(self.database)
            await pool.open(wait=True)
            try:
                async with schema_lock(pool) as connection:
                    await connection.execute(_SCHEMA)
            except BaseException:
                await pool.close()
                raise
            self._pool = pool
        for hook in self.on_open:
            await hook()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _ready(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        return self._pool

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._writing()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """One transaction on a connection of the pool, this task's; inside one, a part
        of it. Rolled back on any error, as psycopg's ``transaction()`` does."""
        task = asyncio.current_task()
        assert task is not None
        if task in self._writers:
            yield
            return
        async with (await self._ready()).connection() as connection:
            self._writers[task] = connection
            try:
                async with connection.transaction():
                    yield
            finally:
                del self._writers[task]

    async def _rows(self, query: str, parameters: Iterable[Any] = ()) -> list[dict[str, Any]]:
        sql, values = _postgres(query), tuple(parameters)
        connection = self._writers.get(asyncio.current_task())  # type: ignore[arg-type]
        if connection is not None:
            rows = await (await connection.execute(sql, values)).fetchall()
        else:
            async with (await self._ready()).connection() as pooled:
                rows = await (await pooled.execute(sql, values)).fetchall()
        return [_decoded({k: v for k, v in row.items() if k != "seq"}) for row in rows]

    async def _write(self, query: str, parameters: Iterable[Any] = ()) -> int:
        connection = self._writers.get(asyncio.current_task())  # type: ignore[arg-type]
        assert connection is not None, "writes run in a @_transaction"
        cursor = await connection.execute(_postgres(query), tuple(parameters))
        return int(cursor.rowcount)

    # What replicas share of their runs (``PostgresBroker``): notifications, and the
    # events of runs, in order (``idx``), for followers on other replicas.

    async def notify(self, channel: str, payload: str) -> None:
        """``NOTIFY`` ``channel``: sent when the current transaction commits (if any)."""
        await self._rows("SELECT pg_notify(?, ?)", [channel, payload])

    async def add_events(self, rows: list[tuple[str, int, str, str, bytes, float]]) -> None:
        """Store events ``(run_id, idx, event id, name, data, when made)`` and notify
        ``channel`` of their runs, in one transaction."""
        pool = await self._ready()
        async with pool.connection() as connection, connection.transaction():
            cursor = connection.cursor()
            await cursor.executemany(_NEW_EVENTS, rows)
            await cursor.execute(
                "SELECT pg_notify(%s, run_id) FROM unnest(%s::text[]) AS run_id",
                [EVENTS_CHANNEL, sorted({row[0] for row in rows})],
            )

    async def events(self, run_id: str, first: int) -> list[tuple[int, str, str, bytes]]:
        """The run's events from index ``first`` on: ``(idx, event id, name, data)``."""
        rows = await self._rows(
            "SELECT idx, event_id, event, data FROM run_events WHERE run_id = ? AND idx >= ? "
            "ORDER BY idx",
            [run_id, first],
        )
        return [(row["idx"], row["event_id"], row["event"], bytes(row["data"])) for row in rows]

    async def events_made(self, run_id: str) -> int:
        """How many events the run has (the index of its next)."""
        rows = await self._rows(
            "SELECT COALESCE(MAX(idx) + 1, 0) AS count FROM run_events WHERE run_id = ?", [run_id]
        )
        return int(rows[0]["count"])

    async def event_index(self, run_id: str, event_id: str) -> int | None:
        """The index of the run's event ``event_id``, or None."""
        rows = await self._rows(
            "SELECT idx FROM run_events WHERE run_id = ? AND event_id = ?", [run_id, event_id]
        )
        return int(rows[0]["idx"]) if rows else None

    @_transaction
    async def forget_events(self, made_before: float) -> int:
        """Delete the events made before ``made_before`` (a time) of runs that ended."""
        return await self._write(
            "DELETE FROM run_events WHERE made < ? AND run_id NOT IN "
            "(SELECT run_id FROM runs WHERE status IN ('pending', 'running'))",
            [made_before],
        )

    async def lock_thread(self, thread_id: str) -> None:
        assert asyncio.current_task() in self._writers, "a thread is locked in a transaction"
        await self._rows("SELECT pg_advisory_xact_lock(hashtext(?))", [thread_id])

    @staticmethod
    def _duplicate(exc: Exception) -> bool:
        return isinstance(exc, errors.UniqueViolation)

    @staticmethod
    def _insert(ignore: bool) -> str:
        # With ``ON CONFLICT DO NOTHING`` after the values: see _postgres.
        return "INSERT IGNORING" if ignore else "INSERT"


def _postgres(query: str) -> str:
    """A ``SqlStorage`` query in Postgres' words: ``%s`` parameters, and ``INSERT
    IGNORING ...`` as ``INSERT ... ON CONFLICT DO NOTHING``."""
    query = query.replace("?", "%s")
    if query.startswith("INSERT IGNORING"):
        query = "INSERT" + query.removeprefix("INSERT IGNORING") + " ON CONFLICT DO NOTHING"
    return query


_ON = " WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = %s"


class PostgresSaver(AsyncPostgresSaver):
    """LangGraph's ``AsyncPostgresSaver``, able to delete one run's checkpoints (a
    rollback), with its schema made under the schema lock."""

    async def setup(self) -> None:
        assert isinstance(self.conn, AsyncConnectionPool)
        async with schema_lock(self.conn):
            await super().setup()

    async def awrite_keys(self, config: RunnableConfig) -> set[tuple[str, int]]:
        """The ``(task_id, idx)`` of the writes saved on ``config``'s checkpoint."""
        async with self._cursor() as cursor:
            await cursor.execute(
                "SELECT task_id, idx FROM checkpoint_writes" + _ON, checkpoint_at(config)
            )
            return {(row["task_id"], row["idx"]) for row in await cursor.fetchall()}

    async def adelete_writes(self, config: RunnableConfig, keep: set[tuple[str, int]]) -> None:
        """Delete the writes saved on ``config``'s checkpoint but those ``keep`` names."""
        extra = await self.awrite_keys(config) - keep
        async with self._cursor() as cursor:
            for task_id, idx in extra:
                await cursor.execute(
                    "DELETE FROM checkpoint_writes" + _ON + " AND task_id = %s AND idx = %s",
                    [*checkpoint_at(config), task_id, idx],
                )

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints the runs ``run_ids`` made (their metadata's ``run_id``),
        and the writes made on them."""
        if not run_ids:
            return
        ids = [str(run_id) for run_id in run_ids]
        async with self._cursor() as cursor:
            await cursor.execute(
                "DELETE FROM checkpoint_writes w USING checkpoints c WHERE "
                "w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns AND "
                "w.checkpoint_id = c.checkpoint_id AND c.metadata->>'run_id' = ANY(%s)",
                [ids],
            )
            await cursor.execute(
                "DELETE FROM checkpoints WHERE metadata->>'run_id' = ANY(%s)", [ids]
            )


class PostgresStore(AsyncPostgresStore):
    """LangGraph's ``AsyncPostgresStore``, its schema made under the schema lock."""

    async def setup(self) -> None:
        assert isinstance(self.conn, AsyncConnectionPool)
        async with schema_lock(self.conn):
            await super().setup()


class PostgresCheckpointer:
    """The server's checkpointer on a Postgres database: a ``PostgresSaver`` on a pool
    the app's lifespan opens at startup (making the schema) and closes at shutdown."""

    def __init__(self, database: str) -> None:
        self.pool = new_pool(database)
        self.saver = _without_loop(lambda: PostgresSaver(self.pool))  # type: ignore[arg-type]
        self.graphs: list[Any] = []

    def give(self, graph: Any) -> Any:
        graph.checkpointer = self.saver
        self.graphs.append(graph)
        return graph

    def close_at_shutdown(self, router: Router) -> None:
        around_lifespan(router, self._open, self.pool.close)

    async def _open(self) -> None:
        await self.pool.open(wait=True)
        try:
            await self.saver.setup()
        except BaseException:
            await self.pool.close()
            raise


class PostgresServerStore(ServerStore):
    """The server's store on a Postgres database (``ServerStore``'s, on a pool)."""

    def __init__(self, database: str, *, ttl: TTLConfig | None = None) -> None:
        super().__init__(database, ttl=ttl)
        self._pool: AsyncConnectionPool[Any] | None = None

    async def open(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await self.close()
        pool = new_pool(self.file)
        await pool.open(wait=True)
        try:
            ttl = TTLConfig(**{**DEFAULT_TTL, **(self.ttl or {})})  # type: ignore[typeddict-item]
            store = PostgresStore(pool, ttl=ttl)  # type: ignore[arg-type]
            await store.setup()
            await store.start_ttl_sweeper()
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self._install(store)  # type: ignore[arg-type]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        store = self._store
        self._install(None)
        if store is not None:
            await store.stop_ttl_sweeper(timeout=5)
        if pool is not None:
            await pool.close()
