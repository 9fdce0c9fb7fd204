"""Loading a LangGraph project: the graphs its ``langgraph.json`` names, ready to serve.

The file is the LangGraph CLI's::

    {"dependencies": ["."], "graphs": {"agent": "./agent.py:graph"}, "env": "./.env"}

Other keys (``python_version``, ``dockerfile_lines``, ...) are for building images and
are ignored here.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.runnables import Runnable

from chainserve.exceptions import ChainserveError

# The Agent Protocol's routes at the server root: a graph mounted there would hide them.
RESERVED_IDS = frozenset(
    {"assistants", "threads", "runs", "store", "ok", "info", "docs", "openapi.json"}
    | {"metrics", "health", "ready", "mcp", "v1"}
)
_GRAPH_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_KINDS = "a compiled graph, a graph builder, a factory function or a LangChain Runnable"


class ProjectError(ChainserveError):
    """A LangGraph project that cannot be served: its ``langgraph.json``, a graph it
    names, or the database given for the server's checkpointer."""


@dataclass(frozen=True)
class Project:
    """A loaded ``langgraph.json``: where it is, and its graphs by id (in file order)."""

    path: Path
    graphs: dict[str, Runnable]

    @property
    def folder(self) -> Path:
        """The folder holding ``langgraph.json``, which its relative paths start from."""
        return self.path.parent


logger = logging.getLogger("chainserve.agents")

# Keys of langgraph.json that change how LangGraph Platform serves, which chainserve
# does not do: a warning at startup says so (silently, an "auth" would be a surprise).
_NOT_SERVED = {
    "auth": "the graphs are served WITHOUT its authentication",
    "http": "its custom routes and middleware are not mounted",
    "store": "the store has no semantic index and its TTLs are the server's",
    "checkpointer": "checkpoints are kept without its TTL",
}


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read a ``langgraph.json`` and import the graphs it names.

    Its ``dependencies`` folders go on ``sys.path`` (so a graph imports its sibling
    modules) and its ``env`` (an object, or the path of a dotenv file) goes into
    ``os.environ``, where a variable already set keeps its value; both before any graph
    is imported. A graph is ``./file.py:variable`` or ``module:variable``, and the
    variable a compiled graph, a ``StateGraph`` builder (compiled here, without a
    checkpointer), any Runnable, or a factory of one of these, called once now with no
    argument or with an empty ``RunnableConfig`` if it takes one (an ``async`` factory
    is run with ``asyncio.run``). Raises ``ProjectError`` saying what is wrong.
    """
    path = Path(path)
    config = _read(path)
    folder = path.resolve().parent
    specs = config.get("graphs")
    if not isinstance(specs, dict) or not specs:
        raise ProjectError(f"{path}: 'graphs' must be an object of graph ids and paths")
    for graph_id in specs:
        if problem := graph_id_problem(graph_id):
            raise ProjectError(f"{path}: {problem}")
    for key, consequence in _NOT_SERVED.items():
        if key in config:
            logger.warning("%s: %r is not supported, and ignored: %s", path, key, consequence)
    _add_dependencies(path, folder, config.get("dependencies", []))
    _set_env(path, folder, config.get("env"))
    files: dict[Path, ModuleType] = {}  # two graphs of one file share one import of it
    graphs = {
        graph_id: _load_graph(f"{path}: graph {graph_id!r}", folder, spec, files)
        for graph_id, spec in specs.items()
    }
    return Project(path.resolve(), graphs)


def graph_id_problem(graph_id: object) -> str | None:
    """Why ``graph_id`` cannot be the URL path segment a graph is served at, if it cannot."""
    if not isinstance(graph_id, str) or not _GRAPH_ID.fullmatch(graph_id):
        return (
            f"graph id {graph_id!r} is not a URL path segment (letters, digits, '_', '-' "
            "and '.', not starting with '.')"
        )
    if graph_id in RESERVED_IDS:
        return (
            f"graph id {graph_id!r} is reserved for the Agent Protocol's routes "
            f"({', '.join(sorted(RESERVED_IDS))}); rename the graph"
        )
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ProjectError(f"cannot read {path}: {reason}") from exc
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ProjectError(f"{path} must hold a JSON object, not {type(config).__name__}")
    return config


def _add_dependencies(path: Path, folder: Path, dependencies: object) -> None:
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ProjectError(f"{path}: 'dependencies' must be a list of strings")
    folders = []
    for dependency in dependencies:
        if not dependency.startswith((".", "/")):
            continue  # a package requirement: pip's to install, not ours to find
        found = (folder / dependency).resolve()
        if not found.is_dir():
            raise ProjectError(f"{path}: dependency {dependency!r} is not a folder ({found})")
        folders.append(str(found))
    sys.path[:0] = [entry for entry in dict.fromkeys(folders) if entry not in sys.path]


def _set_env(path: Path, folder: Path, env: object) -> None:
    if isinstance(env, str):
        env_file = folder / env
        if not env_file.is_file():
            raise ProjectError(f"{path}: env file {env!r} does not exist ({env_file})")
        from dotenv import dotenv_values  # installed with uvicorn[standard]

        env = {key: value for key, value in dotenv_values(env_file).items() if value is not None}
    elif env is None:
        env = {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ProjectError(f"{path}: 'env' must be an object of strings or a dotenv file path")
    for name, value in env.items():
        # As with dotenv files elsewhere: the deployment's own environment wins.
        os.environ.setdefault(name, value)


def _load_graph(where: str, folder: Path, spec: object, files: dict[Path, ModuleType]) -> Runnable:
    if isinstance(spec, dict):  # the CLI's longer form: {"path": ..., "description": ...}
        spec = spec.get("path")
    location, _, attribute = spec.rpartition(":") if isinstance(spec, str) else ("", "", "")
    if not location or not all(name.isidentifier() for name in attribute.split(".")):
        raise ProjectError(f"{where}: must look like './file.py:variable' or 'module:variable'")
    module = _import(where, folder, location, files)
    value: Any = module
    for name in attribute.split("."):
        if not hasattr(value, name):
            raise ProjectError(f"{where}: {location} has no variable {attribute!r}")
        value = getattr(value, name)
    return _servable(where, f"{location}:{attribute}", value)


def _import(where: str, folder: Path, location: str, files: dict[Path, ModuleType]) -> ModuleType:
    is_file = location.endswith(".py") or "/" in location or "\\" in location
    file = (folder / location).resolve()
    if is_file and file.suffix != ".py":
        raise ProjectError(f"{where}: {location} is not a Python (.py) file")
    if is_file and not file.is_file():
        raise ProjectError(f"{where}: {location} does not exist ({file})")
    try:
        if not is_file:
            return importlib.import_module(location)
        if file not in files:
            files[file] = _import_file(file)
        return files[file]
    except Exception as exc:
        raise ProjectError(f"{where}: importing {location} failed: {_describe(exc)}") from exc


def _import_file(file: Path) -> ModuleType:
    # A name of its own per file: graphs of two projects may both live in agent.py.
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", file.stem)
    name = f"_chainserve_graph_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None  # a .py file always has a loader
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: dataclasses, pydantic and get_type_hints look it up by name.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _servable(where: str, spec: str, value: Any, *, factory_result: bool = False) -> Runnable:
    """``value`` as a Runnable: as it is, compiled if a builder, made if a factory."""
    if isinstance(value, Runnable):
        return value
    if callable(getattr(value, "compile", None)) and not isinstance(value, type):
        try:
            compiled = value.compile()
        except Exception as exc:
            raise ProjectError(f"{where}: compiling {spec} failed: {_describe(exc)}") from exc
        if isinstance(compiled, Runnable):
            return compiled
        raise ProjectError(f"{where}: compiling {spec} gave a {type(compiled).__name__}")
    if callable(value) and not isinstance(value, type) and not factory_result:
        made = _call_factory(where, spec, value)
        return _servable(where, spec, made, factory_result=True)
    what = "returned" if factory_result else "is"
    raise ProjectError(f"{where}: {spec} {what} a {type(value).__name__}, not {_KINDS}")


def _call_factory(where: str, spec: str, factory: Any) -> Any:
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # some C callables have no signature
        parameters = []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    required = [p for p in parameters if p.default is p.empty and p.kind not in variadic]
    if len(required) > 1 or (required and required[0] not in positional):
        raise ProjectError(
            f"{where}: the factory {spec} must take no parameter or one (a RunnableConfig)"
        )
    # LangGraph's server passes the run's config; at load time there is none yet.
    arguments: tuple[dict[str, Any], ...] = ({},) if positional else ()
    try:
        made = factory(*arguments)
        if inspect.isawaitable(made):
            made = _run(made)
    except Exception as exc:
        raise ProjectError(f"{where}: the factory {spec} failed: {_describe(exc)}") from exc
    return made


def _run(awaitable: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    if inspect.iscoroutine(awaitable):
        awaitable.close()  # it will never run: no "never awaited" warning
    raise RuntimeError("an async factory cannot be loaded inside a running event loop")


def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line, as the command's errors are."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
