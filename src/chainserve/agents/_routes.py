"""Mounting a project's graphs on the LangServe routes, one path per graph id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, FastAPI
from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase

from chainserve.agents._persistence import DEFAULT_DATABASE, ServerCheckpointer
from chainserve.agents._project import ProjectError, graph_id_problem
from chainserve.server import APIHandler, add_routes
from chainserve.server.graphs import find_graph


def add_graphs(
    app: FastAPI | APIRouter,
    graphs: Mapping[str, Runnable],
    *,
    database: str = DEFAULT_DATABASE,
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

    Returns the ``APIHandler`` of each graph id.
    """
    for graph_id in graphs:
        if problem := graph_id_problem(graph_id):
            raise ProjectError(problem)
    persistence: ServerCheckpointer | None = None
    handlers = {}
    for graph_id, runnable in graphs.items():
        served = runnable
        if _needs_checkpointer(runnable):
            persistence = persistence or ServerCheckpointer(database)
            served = _with_checkpointer(runnable, persistence)
        handlers[graph_id] = add_routes(app, served, path=f"/{graph_id}", **options)
    if persistence is not None:
        persistence.close_at_shutdown(app.router if isinstance(app, FastAPI) else app)
    return handlers


def _needs_checkpointer(runnable: Runnable) -> bool:
    graph = find_graph(runnable)
    # None: none given. True means "the parent graph's", and the server is its parent here.
    return graph is not None and (graph.checkpointer is None or graph.checkpointer is True)


def _with_checkpointer(runnable: Runnable, persistence: ServerCheckpointer) -> Runnable:
    """``runnable`` with its graph on the server's checkpointer, copied, not changed."""
    if isinstance(runnable, RunnableBindingBase):  # with_types, bind, with_retry, ...
        bound = _with_checkpointer(runnable.bound, persistence)
        return runnable.model_copy(update={"bound": bound})
    return persistence.give(runnable)
