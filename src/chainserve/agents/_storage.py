"""The Agent Protocol's records: assistants (with their versions), threads and runs.

``Storage`` is the interface the routes use; ``SqlStorage`` holds the queries, run by
``SqliteStorage`` on the SQLite file the server's checkpointer uses and by
``PostgresStorage`` (``_postgres.py``) on a Postgres database. Records are plain dicts
in the wire's shape, timestamps ISO 8601 strings. A thread's ``values`` are not stored
here: they live in its checkpoints.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import json
import sqlite3
import typing
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

ASSISTANT_FIELDS = (
    "assistant_id",
    "graph_id",
    "config",
    "context",
    "metadata",
    "name",
    "created_at",
    "updated_at",
    "version",
    "description",
)
THREAD_FIELDS = (
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "error",  # why its last run failed or stopped (``{"error", "message"}``), or None
)
RUN_FIELDS = (
    "run_id",
    "thread_id",
    "assistant_id",
    "metadata",
    "status",
    "kwargs",
    "multitask_strategy",
    "created_at",
    "updated_at",
    "error",  # not on the wire: why the run failed (``{"error", "message"}``), or None
    "owner",  # not on the wire: the server process that executes it (``this_process()``)
    "lease_until",  # not on the wire: when its owner, gone silent, is taken for dead
)
_PRIVATE_RUN_FIELDS = ("error", "owner", "lease_until")
QUEUED = ""  # the owner of a run given back, which any process may claim
_UNFINISHED = "status IN ('pending', 'running')"
_JSON_FIELDS = {"config", "context", "metadata", "kwargs", "error"}


_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])


def _transaction(method: _Method) -> _Method:
    """``method`` of a ``SqlStorage``, run as one transaction (see ``transaction``)."""

    @functools.wraps(method)
    async def transaction(self: SqlStorage, *args: Any, **kwargs: Any) -> Any:
        async with self.transaction():
            return await method(self, *args, **kwargs)

    return typing.cast(_Method, transaction)


class AlreadyExists(Exception):
    """A record with that id is already stored."""


def run_json(run: dict[str, Any]) -> dict[str, Any]:
    """A run record as the wire shows it: without its failure reason and owner."""
    return {key: value for key, value in run.items() if key not in _PRIVATE_RUN_FIELDS}


def now(later: float = 0.0) -> str:
    """The current time (or ``later`` seconds from now) as the wire writes it: ISO 8601,
    microseconds, ``+00:00``."""
    moment = datetime.now(timezone.utc) + timedelta(seconds=later)
    return moment.isoformat(timespec="microseconds")


def new_id() -> str:
    """A new record id: a random UUID."""
    return str(uuid.uuid4())


def contains(container: Any, contained: Any) -> bool:
    """Whether ``contained`` is part of ``container``, as Postgres' ``jsonb @>`` says:
    objects key by key (recursively), lists item by item, other values equal."""
    if isinstance(contained, dict):
        return isinstance(container, dict) and all(
            key in container and contains(container[key], value) for key, value in contained.items()
        )
    if isinstance(contained, list):
        return isinstance(container, list) and all(
            any(contains(item, wanted) for item in container) for wanted in contained
        )
    same_kind = isinstance(container, bool) == isinstance(contained, bool)
    return same_kind and bool(container == contained)


class Storage(abc.ABC):
    """Where assistants, threads and runs are kept. ``open`` before use, ``close`` after.
    A task's calls inside ``transaction()`` share one transaction (a call there must
    not be handed to another task, as ``asyncio.gather`` would: it would wait for it)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create the tables if missing."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; ``open`` may be called again."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        """``async with storage.transaction():`` the writes inside (in this task) are
        made all together, or none of them."""

    # Assistants

    @abc.abstractmethod
    async def put_assistant(self, assistant: dict[str, Any], *, replace: bool = False) -> None:
        """Store a new assistant (its version 1); ``AlreadyExists`` if its id is taken,
        unless ``replace`` (then an existing one is left as it is)."""

    @abc.abstractmethod
    async def get_assistant(self, assistant_id: str) -> dict[str, Any] | None:
        """The assistant, at its current version, or None."""

    @abc.abstractmethod
    async def search_assistants(
        self,
        *,
        graph_id: str | None = None,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        sort_by: str = "created_at",
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        """The matching assistants, sorted (``metadata`` is a containment filter)."""

    @abc.abstractmethod
    async def add_version(self, assistant_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Make a new latest version from the current one with ``changes``; the assistant."""

    @abc.abstractmethod
    async def versions(self, assistant_id: str) -> list[dict[str, Any]]:
        """All versions of an assistant, newest first."""

    @abc.abstractmethod
    async def set_version(self, assistant_id: str, version: int) -> dict[str, Any] | None:
        """Make ``version`` the current one; the assistant, or None if no such version."""

    @abc.abstractmethod
    async def delete_assistant(self, assistant_id: str) -> bool:
        """Delete an assistant and its versions; whether it existed."""

    # Threads

    @abc.abstractmethod
    async def put_thread(self, thread: dict[str, Any]) -> None:
        """Store a new thread; ``AlreadyExists`` if its id is taken."""

    @abc.abstractmethod
    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        """The thread, or None."""

    @abc.abstractmethod
    async def search_threads(
        self,
        *,
        ids: Sequence[str] | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
        sort_by: str = "created_at",
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        """The matching threads, sorted (``metadata`` is a containment filter)."""

    @abc.abstractmethod
    async def update_thread(self, thread_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Set some of a thread's fields (``metadata`` is merged in); the thread, or None."""

    @abc.abstractmethod
    async def delete_thread(self, thread_id: str) -> bool:
        """Delete a thread and its runs; whether the thread existed."""

    # Runs

    @abc.abstractmethod
    async def put_run(self, run: dict[str, Any]) -> None:
        """Store a new run."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run, or None."""

    @abc.abstractmethod
    async def search_runs(
        self, *, thread_id: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """The runs of ``thread_id`` (all threads if None) with one of ``statuses``
        (any if None), newest first."""

    @abc.abstractmethod
    async def update_run(self, run_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Set some of a run's fields (and ``updated_at``); the run, or None."""

    @abc.abstractmethod
    async def renew_leases(self, owner: str, until: str) -> int:
        """Extend to ``until`` the leases of ``owner``'s pending and running runs."""

    @abc.abstractmethod
    async def delete_run(self, run_id: str) -> bool:
        """Delete a run; whether it existed."""

    @abc.abstractmethod
    async def claim_run(
        self, owner: str, until: str, run_id: str | None = None
    ) -> dict[str, Any] | None:
        """Make ``owner`` (leased ``until``) the owner of a queued run (``pending``, with
        ``QUEUED`` as its owner): ``run_id``, or the one due first. The run, or None if
        none is queued (or ``run_id`` is not: another process took it)."""

    @abc.abstractmethod
    async def queue_run(self, run_id: str, owner: str) -> dict[str, Any] | None:
        """Give back ``owner``'s unfinished run: ``pending`` again, ``QUEUED``, for any
        process to claim. The run, or None if ``owner`` does not own it unfinished."""

    @abc.abstractmethod
    async def first_unfinished(self, thread_id: str) -> str | None:
        """The id of the thread's oldest ``pending`` or ``running`` run (the one whose
        turn it is), or None."""

    @abc.abstractmethod
    async def lock_thread(self, thread_id: str) -> None:
        """Inside a transaction: until it ends, no other process's transaction that locks
        ``thread_id`` goes on (its runs are created one at a time)."""


class SqlStorage(Storage):
    """``Storage`` in tables ``assistants``, ``assistant_versions``, ``threads`` and
    ``runs`` of a SQL database: the queries, for a subclass's connection. Queries take
    ``?`` parameters; JSON fields are stored as text; ``TIEBREAK`` is the column that
    orders rows made in the same microsecond."""

    TIEBREAK = "rowid"
    # Row locks, where the database has them (SQLite's transactions take the whole file).
    FOR_UPDATE = ""
    SKIP_LOCKED = ""
    on_open: list[Any]  # coroutine functions run after each opening

    @abc.abstractmethod
    async def _rows(self, query: str, parameters: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """The rows a query gives, decoded (``_decoded``)."""

    @abc.abstractmethod
    async def _write(self, query: str, parameters: Iterable[Any] = ()) -> int:
        """One statement of the current transaction; the number of rows it changed."""

    @staticmethod
    def _duplicate(exc: Exception) -> bool:
        """Whether ``exc`` is the database refusing a second row with the same key."""
        return "UNIQUE" in str(exc)

    @staticmethod
    def _insert(ignore: bool) -> str:
        return "INSERT OR IGNORE" if ignore else "INSERT"

    def _order(self, sort_by: str, descending: bool, fields: Sequence[str]) -> str:
        if sort_by not in fields or sort_by in _JSON_FIELDS:
            raise ValueError(f"cannot sort by {sort_by!r}")
        direction = "DESC" if descending else "ASC"
        return f" ORDER BY {sort_by} {direction}, {self.TIEBREAK} {direction}"

    # Assistants

    @_transaction
    async def put_assistant(self, assistant: dict[str, Any], *, replace: bool = False) -> None:
        record = _encoded(assistant)
        verb = self._insert(ignore=replace)
        try:
            await self._write(
                f"{verb} INTO assistants ({', '.join(ASSISTANT_FIELDS)}) "
                f"VALUES ({', '.join('?' * len(ASSISTANT_FIELDS))})",
                [record[field] for field in ASSISTANT_FIELDS],
            )
            await self._write(
                f"{verb} INTO assistant_versions ({', '.join(_VERSION_FIELDS)}) "
                f"VALUES ({', '.join('?' * len(_VERSION_FIELDS))})",
                [record[field] for field in _VERSION_FIELDS],
            )
        except Exception as exc:
            if self._duplicate(exc):
                raise AlreadyExists(assistant["assistant_id"]) from exc
            raise

    async def get_assistant(self, assistant_id: str) -> dict[str, Any] | None:
        rows = await self._rows("SELECT * FROM assistants WHERE assistant_id = ?", [assistant_id])
        return rows[0] if rows else None

    async def search_assistants(
        self,
        *,
        graph_id: str | None = None,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        sort_by: str = "created_at",
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        where, parameters = [], []
        if graph_id is not None:
            where.append("graph_id = ?")
            parameters.append(graph_id)
        if name is not None:
            where.append("name = ?")
            parameters.append(name)
        rows = await self._rows(
            "SELECT * FROM assistants"
            + _where(where)
            + self._order(sort_by, descending, ASSISTANT_FIELDS),
            parameters,
        )
        return [row for row in rows if not metadata or contains(row["metadata"], metadata)]

    @_transaction
    async def add_version(self, assistant_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = await self.get_assistant(assistant_id)
        if current is None:
            raise KeyError(assistant_id)
        latest = await self._rows(
            "SELECT MAX(version) AS version FROM assistant_versions WHERE assistant_id = ?",
            [assistant_id],
        )
        stamp = now()
        new = {**current, **changes, "version": int(latest[0]["version"]) + 1}
        new["created_at"], new["updated_at"] = current["created_at"], stamp
        record = _encoded({**new, "created_at": stamp})
        await self._write(
            f"INSERT INTO assistant_versions ({', '.join(_VERSION_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(_VERSION_FIELDS))})",
            [record[field] for field in _VERSION_FIELDS],
        )
        await self._set_current(_encoded(new))
        return new

    async def _set_current(self, record: dict[str, Any]) -> None:
        fields = [f for f in ASSISTANT_FIELDS if f not in ("assistant_id", "created_at")]
        await self._write(
            f"UPDATE assistants SET {', '.join(f'{field} = ?' for field in fields)} "
            "WHERE assistant_id = ?",
            [*(record[field] for field in fields), record["assistant_id"]],
        )

    async def versions(self, assistant_id: str) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT * FROM assistant_versions WHERE assistant_id = ? ORDER BY version DESC",
            [assistant_id],
        )

    @_transaction
    async def set_version(self, assistant_id: str, version: int) -> dict[str, Any] | None:
        current = await self.get_assistant(assistant_id)
        rows = await self._rows(
            "SELECT * FROM assistant_versions WHERE assistant_id = ? AND version = ?",
            [assistant_id, version],
        )
        if current is None or not rows:
            return None
        chosen = {**rows[0], "created_at": current["created_at"], "updated_at": now()}
        await self._set_current(_encoded(chosen))
        return chosen

    @_transaction
    async def delete_assistant(self, assistant_id: str) -> bool:
        await self._write("DELETE FROM assistant_versions WHERE assistant_id = ?", [assistant_id])
        deleted = await self._write("DELETE FROM assistants WHERE assistant_id = ?", [assistant_id])
        return deleted > 0

    # Threads

    @_transaction
    async def put_thread(self, thread: dict[str, Any]) -> None:
        record = _encoded(thread)
        try:
            await self._write(
                f"INSERT INTO threads ({', '.join(THREAD_FIELDS)}) "
                f"VALUES ({', '.join('?' * len(THREAD_FIELDS))})",
                [record.get(field) for field in THREAD_FIELDS],
            )
        except Exception as exc:
            if self._duplicate(exc):
                raise AlreadyExists(thread["thread_id"]) from exc
            raise

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        rows = await self._rows("SELECT * FROM threads WHERE thread_id = ?", [thread_id])
        return rows[0] if rows else None

    async def search_threads(
        self,
        *,
        ids: Sequence[str] | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
        sort_by: str = "created_at",
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        parameters: list[Any] = []
        if ids is not None:
            where.append(f"thread_id IN ({', '.join('?' * len(ids))})" if ids else "1 = 0")
            parameters.extend(ids)
        if status is not None:
            where.append("status = ?")
            parameters.append(status)
        order = self._order(sort_by, descending, THREAD_FIELDS)
        rows = await self._rows(
            f"SELECT * FROM threads{_where(where)}{order}",
            parameters,
        )
        return [row for row in rows if not metadata or contains(row["metadata"], metadata)]

    @_transaction
    async def update_thread(self, thread_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        thread = await self.get_thread(thread_id)
        if thread is None:
            return None
        changes = dict(changes)
        if "metadata" in changes:
            changes["metadata"] = {**thread["metadata"], **changes["metadata"]}
        thread.update(changes)
        record = _encoded(thread)
        fields = [field for field in THREAD_FIELDS if field != "thread_id"]
        await self._write(
            f"UPDATE threads SET {', '.join(f'{field} = ?' for field in fields)} "
            "WHERE thread_id = ?",
            [*(record[field] for field in fields), thread_id],
        )
        return thread

    @_transaction
    async def delete_thread(self, thread_id: str) -> bool:
        await self._write("DELETE FROM runs WHERE thread_id = ?", [thread_id])
        return await self._write("DELETE FROM threads WHERE thread_id = ?", [thread_id]) > 0

    # Runs

    @_transaction
    async def put_run(self, run: dict[str, Any]) -> None:
        record = _encoded(run)
        await self._write(
            f"INSERT INTO runs ({', '.join(RUN_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(RUN_FIELDS))})",
            [record.get(field) for field in RUN_FIELDS],
        )

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = await self._rows("SELECT * FROM runs WHERE run_id = ?", [run_id])
        return rows[0] if rows else None

    async def search_runs(
        self, *, thread_id: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        parameters: list[Any] = []
        if thread_id is not None:
            where.append("thread_id = ?")
            parameters.append(thread_id)
        if statuses is not None:
            where.append(f"status IN ({', '.join('?' * len(statuses))})" if statuses else "1 = 0")
            parameters.extend(statuses)
        return await self._rows(
            f"SELECT * FROM runs{_where(where)} ORDER BY created_at DESC, {self.TIEBREAK} DESC",
            parameters,
        )

    @_transaction
    async def update_run(self, run_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        rows = await self._rows(f"SELECT * FROM runs WHERE run_id = ?{self.FOR_UPDATE}", [run_id])
        if not rows:
            return None
        run = rows[0]
        run.update(changes, updated_at=now())
        record = _encoded(run)
        fields = [field for field in RUN_FIELDS if field != "run_id"]
        await self._write(
            f"UPDATE runs SET {', '.join(f'{field} = ?' for field in fields)} WHERE run_id = ?",
            [*(record[field] for field in fields), run_id],
        )
        return run

    @_transaction
    async def renew_leases(self, owner: str, until: str) -> int:
        return await self._write(
            f"UPDATE runs SET lease_until = ? WHERE owner = ? AND {_UNFINISHED}",
            [until, owner],
        )

    @_transaction
    async def delete_run(self, run_id: str) -> bool:
        return await self._write("DELETE FROM runs WHERE run_id = ?", [run_id]) > 0

    @_transaction
    async def claim_run(
        self, owner: str, until: str, run_id: str | None = None
    ) -> dict[str, Any] | None:
        if run_id is None:
            first = await self._rows(
                "SELECT run_id FROM runs WHERE status = 'pending' AND owner = ? "
                f"ORDER BY created_at, {self.TIEBREAK} LIMIT 1{self.SKIP_LOCKED}",
                [QUEUED],
            )
            if not first:
                return None
            run_id = first[0]["run_id"]
        taken = await self._write(
            "UPDATE runs SET owner = ?, lease_until = ? "
            "WHERE run_id = ? AND status = 'pending' AND owner = ?",
            [owner, until, run_id, QUEUED],
        )
        return await self.get_run(run_id) if taken else None

    @_transaction
    async def queue_run(self, run_id: str, owner: str) -> dict[str, Any] | None:
        run = await self.get_run(run_id)
        if run is None or run["owner"] != owner or run["status"] not in ("pending", "running"):
            return None
        return await self.update_run(
            run_id, {"status": "pending", "owner": QUEUED, "lease_until": None}
        )

    async def lock_thread(self, thread_id: str) -> None:
        pass  # SQLite: a transaction holds the whole file (BEGIN IMMEDIATE)

    async def first_unfinished(self, thread_id: str) -> str | None:
        rows = await self._rows(
            f"SELECT run_id FROM runs WHERE thread_id = ? AND {_UNFINISHED} "
            f"ORDER BY created_at, {self.TIEBREAK} LIMIT 1",
            [thread_id],
        )
        return str(rows[0]["run_id"]) if rows else None


class SqliteStorage(SqlStorage):
    """``SqlStorage`` in one SQLite file, through ``aiosqlite``. It opens itself on first
    use if ``open`` was not called (an app served without its lifespan)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._connection: Any = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._locks = weakref.WeakKeyDictionary()
        self._use_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._use_locks = weakref.WeakKeyDictionary()
        self._writer: asyncio.Task[Any] | None = None  # the task in a transaction
        self.on_open: list[Any] = []  # coroutine functions run after each opening

    async def open(self) -> None:
        import aiosqlite

        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if self._connection is not None:
                return
            if self.file != ":memory:":
                Path(self.file).parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: transactions are ours (``_writing``), reads are single statements.
            connection = aiosqlite.connect(self.file, isolation_level=None)
            thread = getattr(connection, "_thread", None)
            if thread is not None:  # never keeps the process alive at exit
                thread.daemon = True
            await connection
            connection.row_factory = aiosqlite.Row
            await connection.executescript(_SCHEMA)
            await _migrate(connection)
            self._connection = connection
        for hook in self.on_open:
            await hook()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    def _lock(self) -> asyncio.Lock:
        """This loop's lock of the connection: one statement or transaction at a time, so
        that no read is open when a write begins (SQLite would refuse the write)."""
        return self._use_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._writing()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """One transaction on the connection: ``BEGIN IMMEDIATE`` (so the file's write lock
        is waited for at the start, not refused midway), committed, or rolled back on any
        error, so that a failed write leaves nothing behind. Inside one, a part of it."""
        if self._writer is asyncio.current_task():
            yield
            return
        db = await self._db()
        async with self._lock():
            self._writer = asyncio.current_task()
            try:
                await db.execute("BEGIN IMMEDIATE")
                yield
                await db.commit()
            except BaseException:
                # Also when cancelled at BEGIN or COMMIT: aiosqlite still runs them, and a
                # transaction left open would refuse every later one. Queued after them,
                # this rollback ends it (or does nothing if none is open).
                await asyncio.shield(db.rollback())
                raise
            finally:
                self._writer = None

    async def _db(self) -> Any:
        if self._connection is None:
            await self.open()
        return self._connection

    async def _rows(self, query: str, parameters: Iterable[Any] = ()) -> list[dict[str, Any]]:
        db = await self._db()
        inside = self._writer is asyncio.current_task()  # this task's transaction
        async with contextlib.nullcontext() if inside else self._lock():
            rows = await db.execute_fetchall(query, tuple(parameters))
        return [_decoded(dict(row)) for row in rows]

    async def _write(self, query: str, parameters: Iterable[Any] = ()) -> int:
        assert self._writer is asyncio.current_task(), "writes run in a @_transaction"
        async with (await self._db()).execute(query, tuple(parameters)) as cursor:
            return int(cursor.rowcount)


_VERSION_FIELDS = tuple(field for field in ASSISTANT_FIELDS if field != "updated_at")
_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS assistants (
    assistant_id TEXT PRIMARY KEY, graph_id TEXT NOT NULL, config TEXT NOT NULL,
    context TEXT NOT NULL, metadata TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, version INTEGER NOT NULL, description TEXT
);
CREATE TABLE IF NOT EXISTS assistant_versions (
    assistant_id TEXT NOT NULL, version INTEGER NOT NULL, graph_id TEXT NOT NULL,
    config TEXT NOT NULL, context TEXT NOT NULL, metadata TEXT NOT NULL, name TEXT,
    created_at TEXT NOT NULL, description TEXT, PRIMARY KEY (assistant_id, version)
);
CREATE TABLE IF NOT EXISTS threads (
    thread_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    state_updated_at TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL,
    config TEXT NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, assistant_id TEXT NOT NULL,
    metadata TEXT NOT NULL, status TEXT NOT NULL, kwargs TEXT NOT NULL,
    multitask_strategy TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    error TEXT, owner TEXT, lease_until TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_thread ON runs (thread_id, created_at);
"""


# Columns added since the first release, by table: databases made before get them at open.
_ADDED_COLUMNS = {"threads": ["error TEXT"], "runs": ["owner TEXT", "lease_until TEXT"]}


async def _migrate(connection: Any) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        async with connection.execute(f"PRAGMA table_info({table})") as cursor:
            present = {row[1] for row in await cursor.fetchall()}
        for column in columns:
            if column.split()[0] not in present:
                try:
                    await connection.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
                except sqlite3.OperationalError as exc:  # another worker added it first
                    if "duplicate column name" not in str(exc):
                        raise


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _encoded(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: json.dumps(value) if key in _JSON_FIELDS else value for key, value in record.items()
    }


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: json.loads(value) if key in _JSON_FIELDS and value is not None else value
        for key, value in row.items()
    }
