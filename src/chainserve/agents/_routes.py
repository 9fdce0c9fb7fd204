"""Mounting a project's graphs on the LangServe routes, one path per graph id, and the
Agent Protocol's assistants and threads at the root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI
from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase

from chainserve.agents._assistants import assistants_router
from chainserve.agents._execution import MAX_CONCURRENT_RUNS, Executor, LostRuns
from chainserve.agents._info import info_router
from chainserve.agents._persistence import (
    DEFAULT_DATABASE,
    is_postgres,
    postgres,
    server_checkpointer,
    sqlite_file,
)
from chainserve.agents._project import ProjectError, graph_id_problem
from chainserve.agents._protocol import AgentServer
from chainserve.agents._run_access import run_access_router
from chainserve.agents._runnables import runnable_graph
from chainserve.agents._runs import runs_router
from chainserve.agents._storage import SqliteStorage, SqlStorage
from chainserve.agents._threads import threads_router
from chainserve.ops import add_readiness_check
from chainserve.server import APIHandler, add_routes
from chainserve.server.graphs import find_graph
from chainserve.server.lifespan import around_lifespan


def add_graphs(
    app: FastAPI | APIRouter,
    graphs: Mapping[str, Runnable],
    *,
    database: str = DEFAULT_DATABASE,
    agent_protocol: bool = True,
    max_concurrent_runs: int = MAX_CONCURRENT_RUNS,
    lost_runs: LostRuns = "fail",
    **options: Any,
) -> dict[str, APIHandler]:
    """Serve each graph at ``/<graph id>`` with ``add_routes`` (``options`` go to it).

    A compiled graph without a checkpointer of its own (``checkpointer=None``) is served
    on a copy of it that has the server's: LangGraph's ``AsyncSqliteSaver`` on the SQLite
    file ``database`` names (``sqlite:///relative/path``, from the current folder, or
    ``sqlite:////absolute/path``; its folder is created). Its threads then survive
    restarts, and every worker process shares them. A graph with a checkpointer keeps
    it; ``checkpointer=False`` keeps it stateless. The app's lifespan opens the database
    at startup and closes it at shutdown (give a router its graphs before the app
    includes it, as its lifespan is merged then); without a lifespan it opens on first use.

    With ``agent_protocol`` (the default) the Agent Protocol's ``/assistants``,
    ``/threads`` and ``/store`` routes are served at the root too, their records in the
    same SQLite file, with one default assistant per graph; the store is also the
    runtime store of every graph that has none of its own. Its runs execute in this
    process, at most ``max_concurrent_runs`` at once. On a Postgres database
    (``postgresql://...``) any number of processes may serve it: each executes the runs
    created through it, a thread's runs take turns across them, and a run can be
    joined, streamed and cancelled through any. ``lost_runs`` is what becomes of the
    runs of a process killed (or stopped before they ended): ``"fail"`` them, or
    ``"retry"`` them from their start, up to three attempts.

    Returns the ``APIHandler`` of each graph id.
    """
    for graph_id in graphs:
        if problem := graph_id_problem(graph_id):
            raise ProjectError(problem)
    parts = _ServerParts(database, _server_store(database) if agent_protocol else None)
    handlers = {}
    served_graphs: dict[str, Runnable] = {}
    for graph_id, runnable in graphs.items():
        served = parts.equip(runnable)
        handlers[graph_id] = add_routes(app, served, path=f"/{graph_id}", **options)
        if agent_protocol and find_graph(runnable) is None:  # the protocol runs graphs
            served = parts.equip(runnable_graph(runnable, graph_id))
        served_graphs[graph_id] = served
    router = app.router if isinstance(app, FastAPI) else app
    if agent_protocol:
        executor = _executor(database, max_concurrent_runs, lost_runs)
        _serve_protocol(app, router, served_graphs, parts, executor)
    elif parts.persistence is not None:
        parts.persistence.close_at_shutdown(router)
    return handlers


class _ServerParts:
    """The server's checkpointer (made once a graph needs it) and store (or None), and
    the graphs that need them."""

    def __init__(self, database: str, store: Any) -> None:
        self.database = database
        self.store = store
        self.persistence: Any = None  # ServerCheckpointer or PostgresCheckpointer

    def equip(self, runnable: Runnable) -> Runnable:
        """``runnable``, or a copy of it whose graph has the server's checkpointer and
        store where it has none: the user's graph is left as it was."""
        checkpoint = _needs_checkpointer(runnable)
        keep = self.store is not None and _needs_store(runnable)
        if not (checkpoint or keep):
            return runnable
        # One copy, which the checkpointer and the store both update at each start.
        served = _on_copy(runnable, lambda graph: graph.copy())
        graph = find_graph(served)
        if checkpoint:
            self.persistence = self.persistence or server_checkpointer(self.database)
            self.persistence.give(graph)
        if keep:
            self.store.give(graph)
        return served


def _executor(database: str, max_concurrent_runs: int, lost_runs: LostRuns) -> Executor:
    """The executor of the runs kept in ``database`` (and what it shares with others)."""
    if lost_runs not in ("fail", "retry"):
        raise ValueError(f"lost_runs must be 'fail' or 'retry', not {lost_runs!r}")
    if not is_postgres(database):
        return Executor(SqliteStorage(sqlite_file(database)), max_concurrent_runs)
    storage = postgres().PostgresStorage(database)
    from chainserve.agents._replicas import PostgresBroker

    broker = PostgresBroker(storage)
    return Executor(storage, max_concurrent_runs, broker=broker, lost_runs=lost_runs)


def _serve_protocol(
    app: FastAPI | APIRouter,
    router: Any,
    graphs: dict[str, Runnable],
    parts: _ServerParts,
    executor: Executor,
) -> None:
    """Serve the Agent Protocol's routes over ``graphs``, run by ``executor``."""
    persistence, store = parts.persistence, parts.store
    storage = executor.storage
    assert isinstance(storage, SqlStorage)
    # Each around_lifespan wraps the ones before: the runs, innermost, stop first at
    # shutdown, while the checkpointer and the store they write to are still open.
    around_lifespan(router, None, executor.stop)
    if persistence is not None:
        persistence.close_at_shutdown(router)
    server = AgentServer(graphs, storage, lambda: persistence.saver if persistence else None)
    storage.on_open.append(server.create_default_assistants)
    storage.on_open.append(executor.recover)
    if isinstance(app, FastAPI):  # (a router has nowhere to keep it)
        # A read that finds nothing: the database answers.
        add_readiness_check(app, "database", lambda: storage.get_thread(_NO_ID))
    app.include_router(info_router())
    app.include_router(assistants_router(server))
    app.include_router(threads_router(server, executor))
    app.include_router(runs_router(server, executor))
    app.include_router(run_access_router(server, executor))
    if store is not None:
        app.include_router(store.router())
        if persistence is not None:  # the database is opened at startup anyway
            store.close_at_shutdown(router)
    # Opened at startup with the checkpointer's database; without it, on first use:
    # an app whose graphs need no database makes none until a client asks for one.
    around_lifespan(router, storage.open if persistence is not None else None, storage.close)


_NO_ID = "00000000-0000-0000-0000-000000000000"


def _needs_checkpointer(runnable: Runnable) -> bool:
    graph = find_graph(runnable)
    # None: none given. True means "the parent graph's", and the server is its parent here.
    return graph is not None and (graph.checkpointer is None or graph.checkpointer is True)


def _needs_store(runnable: Runnable) -> bool:
    graph = find_graph(runnable)
    return graph is not None and graph.store is None


def _on_copy(runnable: Runnable, give: Callable[[Any], Any]) -> Runnable:
    """``runnable`` with ``give(graph)`` in place of its graph (bindings copied too);
    ``runnable`` itself is not changed."""
    if isinstance(runnable, RunnableBindingBase):  # with_types, bind, with_retry, ...
        return runnable.model_copy(update={"bound": _on_copy(runnable.bound, give)})
    return give(runnable)


def _server_store(database: str) -> Any:
    """The server's store (the Store API's, and the graphs' runtime store)."""
    try:
        from chainserve.agents._store import ServerStore
    except ImportError as exc:
        raise ProjectError(
            f"the Agent Protocol needs {exc.name or 'langgraph'}: "
            'pip install "chainserve[langgraph]"'
        ) from exc
    if is_postgres(database):
        return postgres().PostgresServerStore(database)
    return ServerStore(sqlite_file(database))
