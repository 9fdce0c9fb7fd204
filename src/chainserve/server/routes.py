"""``add_routes``: mount a runnable's endpoints on a FastAPI app or router."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.params import Depends
from langchain_core.runnables import Runnable

from chainserve.exceptions import EndpointNamesError
from chainserve.playground import mount_playground
from chainserve.protocols import mount_protocols
from chainserve.serialization import Serializer
from chainserve.server.config import PerRequestConfigModifier
from chainserve.server.feedback import (
    Feedback,
    FeedbackCreateRequest,
    PublicTraceLink,
    PublicTraceLinkCreateRequest,
    TokenFeedbackConfig,
    TokenFeedbackRequest,
)
from chainserve.server.handler import APIHandler
from chainserve.server.heap import freeze_after_startup
from chainserve.server.limits import Limits
from chainserve.server.openapi import run_docs, schema_docs
from chainserve.server.route import add_route

EndpointName = Literal[
    "invoke",
    "batch",
    "stream",
    "stream_log",
    "stream_events",
    "playground",
    "feedback",
    "token_feedback",
    "public_trace_link",
    "input_schema",
    "config_schema",
    "output_schema",
    "config_hashes",
]
ENDPOINTS = frozenset(EndpointName.__args__)  # type: ignore[attr-defined]
RUN_ENDPOINTS = ("invoke", "batch", "stream", "stream_log", "stream_events")
SCHEMA_ENDPOINTS = ("input_schema", "output_schema", "config_schema")

_BAD_PATH = re.compile(r"[{}?#\s\\]")
HandlerMethod = Callable[..., Awaitable[Response]]


def add_routes(
    app: FastAPI | APIRouter,
    runnable: Runnable,
    *,
    path: str = "",
    input_type: Any = "auto",
    output_type: Any = "auto",
    config_keys: Sequence[str] = ("configurable",),
    include_callback_events: bool = False,
    per_req_config_modifier: PerRequestConfigModifier | None = None,
    enable_feedback_endpoint: bool | None = None,
    token_feedback_config: TokenFeedbackConfig | dict[str, Any] | None = None,
    enable_public_trace_link_endpoint: bool = False,
    disabled_endpoints: Sequence[EndpointName] | None = None,
    enabled_endpoints: Sequence[EndpointName] | None = None,
    stream_log_name_allow_list: Sequence[str] | None = None,
    dependencies: Sequence[Depends] | None = None,
    playground_dependencies: Sequence[Depends] | None = None,
    playground_type: Literal["default", "chat"] = "default",
    astream_events_version: Literal["v1", "v2"] = "v2",
    serializer: Serializer | None = None,
    limits: Limits | None = None,
    openai: bool = False,
    mcp: bool = False,
    a2a: bool = False,
) -> APIHandler:
    """Serve ``runnable`` under ``path``: invoke, batch, stream, stream_log,
    stream_events, the three schema routes, their ``/c/{config_hash}/`` twins and
    the feedback routes. Arguments are checked here, so mistakes fail at startup.

    ``playground_dependencies`` replaces ``dependencies`` on the playground page's
    routes; ``[]`` leaves the page public while the API stays protected (the page holds
    no data, and sends the headers a person enters in its Settings with every call).

    ``openai``, ``mcp``, ``a2a``: also serve the route over the OpenAI API (a model
    named by the path, at the app's ``/v1``), as a tool of the app's MCP server
    (``/mcp``), and as an A2A agent (card at ``{path}/.well-known/agent-card.json``).
    The route's ``dependencies`` guard these too.

    Once the app's startup (its lifespan) has run, the objects then alive are frozen
    out of the garbage collector's walks (``gc.freeze()``, see ``server/heap.py``).

    Returns the ``APIHandler`` behind the routes.
    """
    path = check_path(path)
    enabled = enabled_set(enabled_endpoints, disabled_endpoints)
    if enable_feedback_endpoint is None:
        enable_feedback_endpoint = os.environ.get("HOSTED_LANGSERVE_ENABLED") == "true"
    prefix = app.prefix if isinstance(app, APIRouter) else ""
    check_collision(app, prefix + path)
    handler = APIHandler(
        runnable,
        path=path,
        prefix=prefix,
        input_type=input_type,
        output_type=output_type,
        config_keys=config_keys,
        include_callback_events=include_callback_events,
        enable_feedback_endpoint=enable_feedback_endpoint,
        token_feedback_config=token_feedback_config,
        enable_public_trace_link_endpoint=enable_public_trace_link_endpoint,
        per_req_config_modifier=per_req_config_modifier,
        stream_log_name_allow_list=stream_log_name_allow_list,
        playground_type=playground_type,
        astream_events_version=astream_events_version,
        serializer=serializer,
        limits=limits,
    )
    api_dependencies = list(dependencies or [])
    # The playground page holds no data; [] lets a browser open it on a protected route.
    page_dependencies = (
        api_dependencies if playground_dependencies is None else list(playground_dependencies)
    )
    _Mount(app, handler, path, api_dependencies, page_dependencies).add(enabled)
    if openai or mcp or a2a:
        mount_protocols(app, handler, path, api_dependencies, openai=openai, mcp=mcp, a2a=a2a)
    freeze_after_startup(app.router if isinstance(app, FastAPI) else app)
    return handler


def check_path(path: str) -> str:
    if not isinstance(path, str):
        raise TypeError(f"path must be a string, got {type(path).__name__}")
    if path and not path.startswith("/"):
        raise ValueError(f"path must be empty or start with '/', got {path!r}")
    if _BAD_PATH.search(path):
        raise ValueError(f"path {path!r} contains characters not allowed in a route path")
    return path.rstrip("/")


def enabled_set(enabled: Sequence[str] | None, disabled: Sequence[str] | None) -> frozenset[str]:
    """The endpoints to mount, from ``enabled_endpoints`` or ``disabled_endpoints``."""
    if enabled is not None and disabled is not None:
        raise ValueError("Pass enabled_endpoints or disabled_endpoints, not both")
    chosen = enabled if enabled is not None else disabled
    if chosen is None:
        return ENDPOINTS
    if isinstance(chosen, str):
        raise EndpointNamesError(f"Endpoint names must be a list, e.g. [{chosen!r}], not a string")
    names = {str(name).lower() for name in chosen}
    unknown = sorted(names - ENDPOINTS)
    if unknown:
        raise EndpointNamesError(
            f"Unknown endpoint names {unknown}; expected some of {sorted(ENDPOINTS)}"
        )
    return frozenset(names) if enabled is not None else ENDPOINTS - names


def check_collision(app: FastAPI | APIRouter, full_path: str) -> None:
    """Refuse a path whose routes (any of them, hash twins included) already exist."""
    names = ENDPOINTS - {"config_hashes"}
    ours = {f"{full_path}/{name}" for name in names}
    ours |= {f"{full_path}/c/{{config_hash}}/{name}" for name in names}
    if ours & {getattr(route, "path", None) for route in app.routes}:
        raise ValueError(f"A runnable is already served at path {full_path or '/'!r}")


class _Mount:
    """Registers one handler's routes."""

    def __init__(
        self,
        app: FastAPI | APIRouter,
        handler: APIHandler,
        path: str,
        dependencies: list[Depends],
        playground_dependencies: list[Depends],
    ) -> None:
        self.app = app
        self.handler = handler
        self.path = path
        self.dependencies = dependencies
        self.playground_dependencies = playground_dependencies
        self.tag = path.strip("/") or "default"

    def add(self, enabled: frozenset[str]) -> None:
        hashes = "config_hashes" in enabled
        for name in RUN_ENDPOINTS:
            if name in enabled:
                self._run_route(name, hashes)
        for name in SCHEMA_ENDPOINTS:
            if name in enabled:
                self._schema_route(name, hashes)
        if "token_feedback" in enabled:
            self._token_feedback_route()
        if self.handler.enable_feedback_endpoint:
            self._feedback_routes()
        if self.handler.enable_public_trace_link_endpoint:
            self._public_trace_link_routes()
        if "playground" in enabled:
            mount_playground(
                self.app, self.handler, self.path, self.playground_dependencies, hashes=hashes
            )

    def _run_route(self, name: str, hashes: bool) -> None:
        method = getattr(self.handler, "astream_events" if name == "stream_events" else name)
        schemas = self.handler.schemas
        for with_hash in (False, True) if hashes else (False,):
            docs = run_docs(
                name, schemas.input({}), schemas.output({}), schemas.config({}), with_hash
            )
            self._route(name, method, ["POST"], with_hash, **docs)

    def _schema_route(self, name: str, hashes: bool) -> None:
        method = getattr(self.handler, name)
        description = f"The JSON Schema of the runnable's {name.split('_')[0]}"
        for with_hash in (False, True) if hashes else (False,):
            self._route(name, method, ["GET"], with_hash, **schema_docs(description, with_hash))

    def _route(
        self, name: str, method: HandlerMethod, methods: list[str], with_hash: bool, **docs: Any
    ) -> None:
        if with_hash:

            async def endpoint(request: Request, config_hash: str) -> Response:
                return await method(request, config_hash=config_hash)

            route_path = f"{self.path}/c/{{config_hash}}/{name}"
            tags: list[Any] = [f"{self.tag}/config"]
        else:

            async def endpoint(request: Request) -> Response:  # type: ignore[misc]
                return await method(request)

            route_path = f"{self.path}/{name}"
            tags = [self.tag]
        add_route(
            self.app,
            route_path,
            endpoint,
            direct=True,
            methods=methods,
            name=f"{self.path} {name}" + (" with config" if with_hash else ""),
            tags=tags,
            dependencies=self.dependencies,
            response_class=Response,
            **docs,
        )

    def _token_feedback_route(self) -> None:
        handler = self.handler

        async def token_feedback(token_feedback: TokenFeedbackRequest) -> None:
            await handler.create_feedback_from_token(token_feedback)

        self._plain_route("token_feedback", token_feedback, ["POST"], None)

    def _feedback_routes(self) -> None:
        handler = self.handler

        async def feedback(feedback_create_req: FeedbackCreateRequest) -> Feedback:
            return await handler.create_feedback(feedback_create_req)

        self._plain_route("feedback", feedback, ["POST"], Feedback)
        self._plain_route("feedback", handler.check_feedback_enabled, ["HEAD"], None)

    def _public_trace_link_routes(self) -> None:
        handler = self.handler

        async def public_trace_link(
            public_trace_link_create_req: PublicTraceLinkCreateRequest,
        ) -> PublicTraceLink:
            return await handler.create_public_trace_link(public_trace_link_create_req)

        self._plain_route("public_trace_link", public_trace_link, ["PUT"], PublicTraceLink)
        self._plain_route(
            "public_trace_link", handler.check_public_trace_link_enabled, ["HEAD"], None
        )

    def _plain_route(
        self, name: str, endpoint: Callable[..., Any], methods: list[str], model: Any
    ) -> None:
        error = {
            "description": "LangSmith tracing is off on the server",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"detail": {"type": "string"}}}
                }
            },
        }
        add_route(
            self.app,
            f"{self.path}/{name}",
            endpoint,
            methods=methods,
            name=f"{self.path} {name} {methods[0].lower()}",
            dependencies=self.dependencies,
            response_model=model,
            responses={} if methods == ["HEAD"] else {400: error},  # HEAD always says 200
        )
