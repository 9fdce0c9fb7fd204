"""The server's checkpointer: LangGraph's ``AsyncSqliteSaver`` on one SQLite file.

A graph served without a checkpointer of its own gets this one, so its threads outlive
the process. The saver is made when the app is built, before uvicorn's event loop
exists; each start of the app (its lifespan) opens a fresh connection in the serving
loop, and its shutdown closes it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.routing import Router

from chainserve.agents._project import ProjectError
from chainserve.server.lifespan import around_lifespan

DEFAULT_DATABASE = "sqlite:///.chainserve/chainserve.sqlite"
_FORMS = (
    "sqlite:///relative/path.sqlite, sqlite:////absolute/path.sqlite, sqlite:///:memory: "
    "or postgresql://user:password@host:port/name"
)


def is_postgres(database: str) -> bool:
    """Whether ``database`` names a Postgres database (``postgresql://``, ``postgres://``)."""
    return database.partition("://")[0].lower() in ("postgresql", "postgres")


def sqlite_file(database: str) -> str:
    """The file a ``sqlite:///relative`` or ``sqlite:////absolute`` URL names (relative
    to the current folder), or ``:memory:``; ``ProjectError`` for any other URL."""
    scheme, separator, rest = database.partition("://")
    if not separator or scheme.lower() != "sqlite":
        # Only the scheme is repeated: the rest of a database URL may hold a password.
        shown = f"scheme {scheme + ':'!r}" if separator else f"{database!r}"
        raise ProjectError(f"unsupported database URL {shown}: use {_FORMS}")
    if not rest.startswith("/") or rest == "/" or "?" in rest:
        raise ProjectError(f"bad database URL {database!r}: use {_FORMS}")
    return unquote(rest[1:])


def redacted(database: str) -> str:
    """``database`` as it may be printed: a password in it replaced by ``***``."""
    scheme, separator, rest = database.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return database
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{place}"


def checkpoint_at(config: Any) -> list[str]:
    """The thread, namespace and id of the checkpoint ``config`` names: a key of the
    checkpointers' tables."""
    configurable = config["configurable"]
    return [
        str(configurable["thread_id"]),
        str(configurable.get("checkpoint_ns", "")),
        str(configurable["checkpoint_id"]),
    ]


def postgres() -> Any:
    """The Postgres backend's module (``_postgres``), or a ``ProjectError`` saying what to
    install."""
    try:
        from chainserve.agents import _postgres
    except ImportError as exc:
        raise ProjectError(
            f"a postgresql:// database needs {exc.name or 'psycopg'}: "
            'pip install "chainserve[postgres]"'
        ) from exc
    return _postgres


def server_checkpointer(database: str) -> Any:
    """The checkpointer graphs without one get: on Postgres or on a SQLite file."""
    if is_postgres(database):
        return postgres().PostgresCheckpointer(database)
    return ServerCheckpointer(database)


class ServerCheckpointer:
    """One SQLite file's ``AsyncSqliteSaver``, given to the graphs that have none."""

    def __init__(self, database: str) -> None:
        self.file = sqlite_file(database)
        try:
            import aiosqlite

            from chainserve.agents._sqlite import SqliteSaver
        except ImportError as exc:
            raise ProjectError(
                f"serving LangGraph graphs needs {exc.name or 'langgraph'}: "
                'pip install "chainserve[langgraph]"'
            ) from exc
        self._connect = aiosqlite.connect
        self._saver_type = SqliteSaver
        if self.file != ":memory:":
            _check_writable(Path(self.file))
        self.graphs: list[Any] = []
        # Used as it is only where the lifespan never runs (an app called in-process
        # without it): it connects on first use, from whichever loop that is.
        self.saver = _without_loop(lambda: self._new_saver())

    def give(self, graph: Any) -> Any:
        """Put ``graph`` (a ``Pregel``: the server's copy, not the user's) on this
        checkpointer; returns it."""
        graph.checkpointer = self.saver
        self.graphs.append(graph)
        return graph

    def close_at_shutdown(self, router: Router) -> None:
        """Make ``router``'s lifespan open the database at startup and close it at
        shutdown, around the lifespan it already had."""
        around_lifespan(router, self._open, self._close)

    async def _open(self) -> None:
        # A new saver per start: a closed aiosqlite connection cannot reopen, and an app
        # may start more than once (a TestClient per test). Made in the serving loop,
        # which its sync methods need.
        self._install(self._new_saver())
        # Opening and creating the tables now makes a bad database fail the startup,
        # not the first run.
        try:
            await self.saver.setup()
        except BaseException:
            await self._close()
            raise

    async def _close(self) -> None:
        await self.saver.conn.close()
        self._install(self._new_saver())  # unopened, for any use after the shutdown

    def _install(self, saver: Any) -> None:
        self.saver = saver
        for graph in self.graphs:
            graph.checkpointer = saver

    def _new_saver(self) -> Any:
        connection = self._connect(self.file)
        # If nothing closes it (no lifespan ran), its worker thread must not keep the
        # process alive at exit; SQLite commits each checkpoint, so nothing is lost.
        thread = getattr(connection, "_thread", None)
        if thread is not None:
            thread.daemon = True
        return self._saver_type(connection)


def _without_loop(make: Callable[[], Any]) -> Any:
    """``make()``, run inside an event loop: ``AsyncSqliteSaver()`` records the running
    loop (for its sync methods), and an app is built before the server's loop runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return make()

    async def made() -> Any:
        return make()

    loop = asyncio.new_event_loop()  # not asyncio.run: the thread's current loop stays
    try:
        return loop.run_until_complete(made())
    finally:
        loop.close()


def _check_writable(file: Path) -> None:
    """Create ``file``'s folder; fail now, in one line, where SQLite would fail at startup."""
    folder = file.parent
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise ProjectError(f"cannot create the database folder {folder}: {exc}") from exc
        if folder.name == ".chainserve":  # what a server writes is not for version control
            (folder / ".gitignore").write_text("*\n", encoding="utf-8")
    if file.is_dir():
        raise ProjectError(f"the database {file} is a folder, not a SQLite file")
    if not os.access(file if file.exists() else folder, os.W_OK):
        raise ProjectError(f"the database {file} cannot be written")
