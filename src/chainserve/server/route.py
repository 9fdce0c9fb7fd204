"""The route classes behind ``add_routes``: cheap to walk past, cheap to call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Receive, Scope, Send


class QuickMatchRoute(APIRoute):
    """An ``APIRoute`` that turns away a path which cannot be its own by a look at the
    path's literal parts, before FastAPI's full matching.

    A request is matched against every route registered before its own, and
    ``add_routes`` registers about twenty per runnable: on an app with a few runnables,
    full matching cost more than the rest of an invoke. The check holds under any
    prefix (``include_router``, ``root_path``): such a path still ends with the route's
    text after its last parameter and contains its text before the first.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        head, brace, rest = self.path.partition("{")
        self._head = head if brace else ""
        self._tail = rest.rpartition("}")[2] if brace else head

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path: str = scope["path"]
            if not path.endswith(self._tail) or self._head not in path:
                return Match.NONE, {}
        return super().matches(scope)


class DirectRoute(QuickMatchRoute):
    """A route whose endpoint, when the route has no dependencies, is called straight
    from the ASGI scope: FastAPI's per-request dependency machinery (request and exit
    stacks, dependency solving) was a sixth of an invoke's time on the server.

    Only for endpoints taking ``request`` plus path parameters and returning a Response.
    A route with dependencies (its own or its router's), or a body size limit, keeps
    FastAPI's handling; so does one served through ``include_router``, for which
    FastAPI builds a separate app with the including router's dependencies.
    """

    def __init__(self, path: str, endpoint: Callable[..., Awaitable[Response]], **kwargs: Any):
        super().__init__(path, endpoint, **kwargs)
        body_limit = getattr(self, "max_body_size", None)  # FastAPI >= 0.135
        if not self.dependant.dependencies and body_limit is None:
            names = tuple(param.name for param in self.dependant.path_params)
            self.app = _direct_app(endpoint, names)


def _direct_app(
    endpoint: Callable[..., Awaitable[Response]], names: tuple[str, ...]
) -> Callable[..., Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Only the endpoint's own parameters: a Mount or Host above may add others.
        params = scope["path_params"]
        kwargs = {name: params[name] for name in names}
        # Exceptions go on to the app's ExceptionMiddleware, which applies the same
        # handlers FastAPI's route wrapper would.
        response = await endpoint(Request(scope, receive, send), **kwargs)
        await response(scope, receive, send)

    return app


def add_route(
    app: FastAPI | APIRouter,
    path: str,
    endpoint: Callable[..., Any],
    *,
    direct: bool = False,
    **options: Any,
) -> None:
    """``add_api_route`` with our route classes (``direct``: a ``DirectRoute``).

    A router with its own ``route_class`` (a user's logging route, say) keeps it.
    """
    router = app.router if isinstance(app, FastAPI) else app
    route_class: type[APIRoute] | None = None
    if router.route_class is APIRoute:
        route_class = DirectRoute if direct else QuickMatchRoute
    router.add_api_route(path, endpoint, route_class_override=route_class, **options)
