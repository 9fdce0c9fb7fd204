"""What ``chainserve serve`` serves: a TARGET resolved to an ASGI app, in any process.

A TARGET is ``module:attribute``: a FastAPI (Starlette) app is served as it is; a bare
Runnable is mounted with ``add_routes``. A TARGET ending in ``.json`` is a LangGraph
project's ``langgraph.json``, whose graphs are mounted with ``add_graphs``. With no
TARGET, the project made by ``chainserve new`` in the current folder is served, else
the folder's ``langgraph.json``, else the built-in demo.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI
from langchain_core.runnables import Runnable
from starlette.applications import Starlette

from chainserve.agents import MAX_CONCURRENT_RUNS, LostRuns, add_graphs, load_project
from chainserve.ops import add_operations
from chainserve.ops.operations import has_operations
from chainserve.server import add_routes

# Worker and reload processes rebuild the app from these (see ``app_from_env``).
TARGET_VAR = "CHAINSERVE_TARGET"
PATH_VAR = "CHAINSERVE_MOUNT_PATH"
DATABASE_VAR = "CHAINSERVE_DATABASE"
MAX_RUNS_VAR = "CHAINSERVE_MAX_CONCURRENT_RUNS"
LOST_RUNS_VAR = "CHAINSERVE_LOST_RUNS"
PROTOCOLS_VAR = "CHAINSERVE_PROTOCOLS"
METRICS_VAR = "CHAINSERVE_METRICS"  # "0": --no-metrics
ACCESS_LOG_VAR = "CHAINSERVE_ACCESS_LOG"  # "json": --access-log json
PROTOCOLS = ("openai", "mcp", "a2a")
DEMO = "chainserve.demo:create_app"
PROJECT_FILE = "langgraph.json"


class TargetError(Exception):
    """A TARGET that cannot be imported, or that is neither an app nor a Runnable."""


def project_target(folder: Path) -> str | None:
    """The ``[tool.chainserve] app`` TARGET of ``folder/pyproject.toml``, if any."""
    try:
        text = (folder / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        import tomllib
    except ImportError:  # Python 3.10: the one key we need, without a TOML parser
        section = re.search(r"^\[tool\.chainserve\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        match = section and re.search(r'^app\s*=\s*"([^"]+)"', section[1], re.M)
        return match[1] if match else None
    try:
        table = tomllib.loads(text).get("tool", {}).get("chainserve", {})
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"cannot read {folder / 'pyproject.toml'}: {exc}") from exc
    app = table.get("app")
    return app if isinstance(app, str) else None


def default_target(folder: Path) -> str:
    """The TARGET served when none is given: the ``[tool.chainserve] app`` of the
    folder's pyproject.toml, else its langgraph.json, else the demo."""
    if target := project_target(folder):
        return target
    langgraph = folder / PROJECT_FILE
    return str(langgraph) if langgraph.is_file() else DEMO


def is_project(target: str) -> bool:
    """Whether ``target`` names a LangGraph project's ``langgraph.json``."""
    return target.endswith(".json")


def default_database(project_file: str) -> str:
    """The server's database for a project: ``.chainserve/chainserve.sqlite`` beside it."""
    folder = Path(project_file).resolve().parent
    return f"sqlite:///{folder / '.chainserve' / 'chainserve.sqlite'}"


def import_target(target: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted) and return the object."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise TargetError(f"TARGET must look like module:attribute, got {target!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like uvicorn: modules of the current folder
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"cannot import {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise TargetError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    for name in attribute.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise TargetError(f"{module_name!r} has no attribute {attribute!r}") from None
    return obj


@dataclass(frozen=True)
class ProjectOptions:
    """How a LangGraph project is served: its ``database``, at most ``max_runs`` of its
    background runs at once per process, what becomes of ``lost_runs`` (None: defaults)."""

    database: str | None = None
    max_runs: int | None = None
    lost_runs: LostRuns | None = None

    def given(self) -> list[str]:
        """The options set, as the command's flags."""
        flags = ("--database", "--max-concurrent-runs", "--lost-runs")
        return [flag for flag, value in zip(flags, astuple(self), strict=True) if value is not None]


def load_app(
    target: str,
    path: str = "",
    project: ProjectOptions = ProjectOptions(),
    protocols: Sequence[str] = (),
) -> Starlette:
    """The app to serve for ``target``; a Runnable is mounted at ``path`` with add_routes
    (also over ``protocols``: some of ``PROTOCOLS``), a project's graphs at their ids,
    served as ``project`` says."""
    if is_project(target):
        if path:
            raise TargetError("--path only applies to a Runnable TARGET; graphs go at /<id>")
        if protocols:
            raise TargetError(f"--{protocols[0]} only applies to a Runnable TARGET")
        return project_app(target, project)
    for option in project.given():
        raise TargetError(f"{option} only applies to a LangGraph project (langgraph.json)")
    obj = import_target(target)
    if target == DEMO:
        obj = obj()
    if isinstance(obj, Starlette):
        if path:
            raise TargetError(f"--path only applies to a Runnable TARGET; {target} is an app")
        if protocols and target != DEMO:  # the demo serves them already
            raise TargetError(
                f"--{protocols[0]} only applies to a Runnable TARGET; {target} is an app: "
                f"pass add_routes(..., {protocols[0]}=True) in it"
            )
        return obj
    if isinstance(obj, Runnable):
        app = FastAPI(title=f"chainserve: {target}")
        try:
            on = set(protocols)
            add_routes(app, obj, path=path, openai="openai" in on, mcp="mcp" in on, a2a="a2a" in on)
        except (ValueError, ImportError) as exc:  # an input OpenAI cannot give; an SDK missing
            raise TargetError(str(exc)) from None
        return app
    raise TargetError(
        f"{target} is a {type(obj).__name__}, neither a FastAPI app nor a LangChain Runnable"
    )


def project_app(project_file: str, options: ProjectOptions = ProjectOptions()) -> FastAPI:
    """An app serving the graphs of ``project_file`` (a langgraph.json) at their ids."""
    project = load_project(project_file)
    app = FastAPI(title=f"chainserve: {project_file}")
    add_graphs(
        app,
        project.graphs,
        database=options.database or default_database(project_file),
        max_concurrent_runs=options.max_runs or MAX_CONCURRENT_RUNS,
        lost_runs=options.lost_runs or "fail",
    )
    return app


def with_operations(app: Starlette, metrics: bool = True, access_log: bool = False) -> Starlette:
    """``app`` with ``add_operations``: probes, metrics (if prometheus-client is installed,
    unless not ``metrics``), traces (as the ``OTEL_*`` variables say), a JSON access log
    if ``access_log``. An app that added them itself keeps its own."""
    if has_operations(app):
        return app
    try:
        add_operations(app, metrics=None if metrics else False, access_log=access_log)
    except (ValueError, ImportError) as exc:  # OTEL_* asking what cannot be; an SDK missing
        raise TargetError(str(exc)) from None
    return app


def app_from_env() -> Starlette:
    """App factory for uvicorn's worker and reload processes: rebuilds the parent's app."""
    max_runs = int(os.environ[MAX_RUNS_VAR]) if os.environ.get(MAX_RUNS_VAR) else None
    lost_runs = cast("LostRuns | None", os.environ.get(LOST_RUNS_VAR) or None)
    project = ProjectOptions(os.environ.get(DATABASE_VAR) or None, max_runs, lost_runs)
    protocols = [name for name in os.environ.get(PROTOCOLS_VAR, "").split(",") if name]
    path = os.environ.get(PATH_VAR, "")
    app = load_app(os.environ[TARGET_VAR], path, project, protocols)
    metrics = os.environ.get(METRICS_VAR) != "0"
    return with_operations(app, metrics, os.environ.get(ACCESS_LOG_VAR) == "json")
