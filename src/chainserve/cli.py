"""The ``chainserve`` command: ``serve`` a FastAPI app, a Runnable or the demo; ``new`` project.

``python -m chainserve`` is the same command. With no command, ``serve`` is meant, so
``chainserve`` alone (or ``chainserve --port 9000``) serves the current project or the demo.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from uvicorn.supervisors import ChangeReload, Multiprocess

from chainserve._scaffold import ScaffoldError, create_project
from chainserve._target import (
    ACCESS_LOG_VAR,
    DATABASE_VAR,
    DEMO,
    LOST_RUNS_VAR,
    MAX_RUNS_VAR,
    METRICS_VAR,
    PATH_VAR,
    PROTOCOLS,
    PROTOCOLS_VAR,
    TARGET_VAR,
    ProjectOptions,
    TargetError,
    default_database,
    default_target,
    is_project,
    load_app,
    with_operations,
)
from chainserve._version import __version__
from chainserve.agents import LOST_RUNS, MAX_CONCURRENT_RUNS, ProjectError, redacted
from chainserve.ops import EXCLUDED
from chainserve.ops.access_log import uvicorn_logging
from chainserve.ops.metrics import MULTIPROCESS_VAR
from chainserve.protocols import A2A_CARD

_COMMANDS = {"serve", "new"}
_TOP_LEVEL_FLAGS = {"-h", "--help", "--version"}
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``chainserve`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="chainserve",
        description="Serve LangChain runnables over HTTP (LangServe-compatible).",
        epilog="With no command, 'serve' is meant: 'chainserve' alone serves the demo.",
    )
    parser.add_argument("--version", action="version", version=f"chainserve {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(commands.add_parser("serve", help="serve an app, a Runnable or the demo"))
    new = commands.add_parser(
        "new",
        help="create a project: a server with one chain, a test, a Dockerfile",
        description="Create the folder NAME with a chainserve project that passes its test.",
    )
    new.add_argument("name", metavar="NAME", help="project name, also its folder")
    return parser


def _add_serve(serve: argparse.ArgumentParser) -> None:
    serve.description = (
        "Serve TARGET with uvicorn. TARGET is module:app (a FastAPI app), module:runnable "
        "(a Runnable, mounted with add_routes at --path) or path/to/langgraph.json (a "
        "LangGraph project: each graph at /<graph id>, its threads kept in --database). "
        "Without TARGET: the [tool.chainserve] app of ./pyproject.toml (set by 'chainserve "
        "new'); if it sets none, ./langgraph.json; if there is none, the built-in demo."
    )
    serve.add_argument(
        "target", metavar="TARGET", nargs="?", help="module:app, module:runnable or a .json"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind, 0 for any free one")
    serve.add_argument("--path", default="", help="mount path of a Runnable TARGET (default /)")
    serve.add_argument(
        "--database",
        metavar="URL",
        help="where a langgraph.json TARGET's graphs keep their threads: sqlite:///relative/path, "
        "sqlite:////absolute/path or postgresql://... (default: .chainserve/chainserve.sqlite "
        "beside the json)",
    )
    serve.add_argument(
        "--max-concurrent-runs",
        type=_positive,
        metavar="N",
        help="background runs a langgraph.json TARGET executes at once, per process; "
        "more wait in order (default 8)",
    )
    serve.add_argument(
        "--lost-runs",
        choices=LOST_RUNS,
        help="what becomes of the background runs of a server killed, or stopped before "
        "they ended: fail them (the default) or retry them from their start, up to 3 times "
        "(on Postgres, another replica takes them)",
    )
    for name, what in (
        ("openai", "the OpenAI API at /v1 (model: the path)"),
        ("mcp", "a tool of the MCP server at /mcp"),
        ("a2a", "an A2A agent (card at PATH/.well-known/agent-card.json)"),
    ):
        serve.add_argument(
            f"--{name}", action="store_true", help=f"serve a Runnable also as {what}"
        )
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--reload", action="store_true", help="restart when a file changes")
    mode.add_argument("--workers", type=_positive, default=1, help="worker processes")
    serve.add_argument("--root-path", default="", help="path prefix added by a proxy in front")
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds open requests and streams get to finish on SIGTERM (default 30)",
    )
    serve.add_argument("--log-level", choices=_LOG_LEVELS, default="info", help="default info")
    serve.add_argument(
        "--access-log",
        choices=["json"],
        help="log each request as a JSON line on stdout, with its X-Request-ID (instead of "
        "uvicorn's text lines)",
    )
    serve.add_argument(
        "--no-metrics",
        action="store_true",
        help="do not serve /metrics (served when prometheus-client is installed)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        return serve(args) if args.command == "serve" else new(args)
    except (TargetError, ScaffoldError, ProjectError) as exc:
        print(f"chainserve: error: {exc}", file=sys.stderr)
        return 1


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line; with no command, ``serve`` is meant."""
    arguments = list(argv)
    if not arguments or (arguments[0] not in _COMMANDS and arguments[0] not in _TOP_LEVEL_FLAGS):
        arguments.insert(0, "serve")
    return build_parser().parse_args(arguments)


def new(args: argparse.Namespace) -> int:
    """``chainserve new NAME``: scaffold the project, then say how to run it."""
    folder = create_project(args.name, Path.cwd() / args.name)
    print(f"Created {folder}. Next:\n  cd {args.name}\n  chainserve serve\n  python -m pytest")
    return 0


def serve(args: argparse.Namespace) -> int:
    """``chainserve serve``: load TARGET here (to fail early), bind, then run uvicorn."""
    target = args.target or default_target(Path.cwd())
    path = "/" + args.path.strip("/") if args.path.strip("/") else ""
    protocols = [name for name in PROTOCOLS if getattr(args, name)]
    project = ProjectOptions(args.database, args.max_concurrent_runs, args.lost_runs)
    app = load_app(target, path, project, protocols)
    app = with_operations(app, not args.no_metrics, args.access_log == "json")
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        raise TargetError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    print(banner(app, target, args, sock.getsockname()[1]), flush=True)
    return _run(app, target, path, args, sock)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket the worker processes share.

    Created with ``IPPROTO_TCP`` so that the event loop sets ``TCP_NODELAY`` on accepted
    connections; with protocol 0 it does not, and keep-alive answers stall on delayed ACKs.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _run(
    app: Starlette, target: str, path: str, args: argparse.Namespace, sock: socket.socket
) -> int:
    json_log = args.access_log == "json"
    options = {
        "log_level": args.log_level,
        "root_path": args.root_path,
        "timeout_graceful_shutdown": args.graceful_timeout,
        "log_config": uvicorn_logging(json_log, _unlogged(args.root_path)),
        "access_log": not json_log,
    }
    if args.reload or args.workers > 1:
        # Each process rebuilds the app from the import string and these variables.
        os.environ[TARGET_VAR], os.environ[PATH_VAR] = target, path
        os.environ[DATABASE_VAR] = args.database or ""
        os.environ[MAX_RUNS_VAR] = str(args.max_concurrent_runs or "")
        os.environ[LOST_RUNS_VAR] = args.lost_runs or ""
        os.environ[PROTOCOLS_VAR] = ",".join(name for name in PROTOCOLS if getattr(args, name))
        os.environ[METRICS_VAR] = "0" if args.no_metrics else "1"
        os.environ[ACCESS_LOG_VAR] = args.access_log or ""
        config = uvicorn.Config(
            "chainserve._target:app_from_env",
            factory=True,
            reload=args.reload,
            workers=args.workers,
            **options,
            **(_project_reload(target) if args.reload and is_project(target) else {}),
        )
    else:
        config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    with sock:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[sock]).run()
        elif config.workers > 1:
            with _shared_metrics(app):
                Multiprocess(config, sockets=[sock]).run()
        else:
            _run_to_exit(server, sock)
            return 0 if server.started else 3
    return 0


def _unlogged(root_path: str) -> list[str]:
    """The probes' paths, as uvicorn's access log sees them (behind ``--root-path`` too)."""
    root = root_path.rstrip("/")
    return [*EXCLUDED, *(root + path for path in EXCLUDED if root)]


@contextlib.contextmanager
def _shared_metrics(app: Starlette) -> Iterator[None]:
    """Workers that serve ``/metrics`` add up their values in a temporary folder (removed
    at the end), unless ``PROMETHEUS_MULTIPROC_DIR`` names one already."""
    if "/metrics" not in route_paths(app) or os.environ.get(MULTIPROCESS_VAR):
        yield
        return
    folder = tempfile.mkdtemp(prefix="chainserve-metrics-")
    os.environ[MULTIPROCESS_VAR] = folder  # before the workers start: they read it at import
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_VAR]
        shutil.rmtree(folder, ignore_errors=True)


def _project_reload(project_file: str) -> dict[str, Any]:
    """Reload a project on changes in its folder (not the current one), and its json."""
    path = Path(project_file).resolve()
    return {"reload_dirs": [str(path.parent)], "reload_includes": [path.name, ".env"]}


def _run_to_exit(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run one server process until a signal has shut it down gracefully.

    uvicorn re-raises SIGINT or SIGTERM once it has shut down, for embedding programs; a
    command that shut down cleanly exits 0 instead (as ``--workers`` does, and gunicorn).
    """
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def banner(app: Starlette, target: str, args: argparse.Namespace, port: int) -> str:
    """What the server prints at start: where it listens, its docs and its playgrounds."""
    host = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{host}:{port}"
    mode = "reload" if args.reload else f"{args.workers} worker{'s' * (args.workers > 1)}"
    served = "the built-in demo" if target == DEMO else target
    lines = [f"chainserve {__version__}: serving {served} on {base} ({mode})"]
    lines.append(f"  API docs:    {base}/docs")
    lines += [f"  playground:  {base}{mount}/playground/" for mount in runnable_mounts(app)]
    lines += [f"  {name + ':':<12} {base}{where}" for name, where in protocol_mounts(app)]
    lines += [f"  {name + ':':<12} {base}/{name}" for name in operations_mounts(app)]
    if is_project(target):
        lines.append(f"  database:    {redacted(args.database or default_database(target))}")
        runs = args.max_concurrent_runs or MAX_CONCURRENT_RUNS
        lost = args.lost_runs or "fail"
        lines.append(f"  runs:        at most {runs} at once per process; lost runs: {lost}")
    if target == DEMO:
        from chainserve.demo import chat_model, describe

        lines.append(f"  model:       {describe(chat_model())}")
    lines.append("Press Ctrl+C to stop.")
    return "\n".join(lines)


def route_paths(app: Starlette) -> list[str]:
    """The paths of the app's routes."""
    return [getattr(route, "path", "") for route in app.routes]


def operations_mounts(app: Starlette) -> list[str]:
    """The probes and metrics the app serves, of ``health``, ``ready``, ``metrics``."""
    paths = set(route_paths(app))
    return [name for name in ("health", "ready", "metrics") if f"/{name}" in paths]


def protocol_mounts(app: Starlette) -> list[tuple[str, str]]:
    """What the app serves over the open protocols: the OpenAI API's base URL, the MCP
    endpoint, each A2A agent's card."""
    paths = route_paths(app)
    found = [("OpenAI API", "/v1")] if "/v1/chat/completions" in paths else []
    found += [("MCP", "/mcp")] if "/mcp" in paths else []
    return found + [("A2A agent", path) for path in paths if path.endswith(A2A_CARD)]


def runnable_mounts(app: Starlette) -> list[str]:
    """The paths where ``add_routes`` mounted a runnable (found by their invoke route)."""
    return [
        route.path.removesuffix("/invoke")
        for route in app.routes
        if isinstance(route, APIRoute)
        and route.path.endswith("/invoke")
        and "{config_hash}" not in route.path
    ]


if __name__ == "__main__":
    sys.exit(main())
