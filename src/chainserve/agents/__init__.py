"""Serve LangGraph projects: the graphs a ``langgraph.json`` names, with persistent threads.

::

    from fastapi import FastAPI
    from chainserve.agents import add_graphs, load_project

    app = FastAPI()
    add_graphs(app, load_project("langgraph.json").graphs)  # /<graph id>/invoke, ...

``chainserve serve`` does the same in a folder holding a ``langgraph.json``.
Importing this package does not import langgraph; serving a graph that needs the
server's checkpointer does (``pip install "chainserve[langgraph]"``).
"""

from chainserve.agents._execution import LOST_RUNS, MAX_CONCURRENT_RUNS, LostRuns
from chainserve.agents._persistence import DEFAULT_DATABASE, redacted, sqlite_file
from chainserve.agents._project import RESERVED_IDS, Project, ProjectError, load_project
from chainserve.agents._routes import add_graphs

__all__ = [
    "DEFAULT_DATABASE",
    "LOST_RUNS",
    "MAX_CONCURRENT_RUNS",
    "RESERVED_IDS",
    "LostRuns",
    "Project",
    "ProjectError",
    "add_graphs",
    "load_project",
    "redacted",
    "sqlite_file",
]
