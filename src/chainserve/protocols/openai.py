"""The OpenAI Chat Completions API over the routes added with ``openai=True``.

Each such route is a model named by its path (``/text/shout``: ``text/shout``). An app
gets ``GET /v1/models`` and ``POST /v1/chat/completions``, which hands each request to
its model's own endpoint, ``{path}/openai/v1/chat/completions``: there the route's FastAPI
dependencies run (auth), then its runnable, under the route's config, limits and
cancellation, as for ``/invoke`` and ``/stream``. Errors, the dependencies' included,
come in the OpenAI API's shape: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import RunnableBindingBase
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send

from chainserve.protocols._chat import (
    BadRequest,
    ChatRequest,
    Deltas,
    completion,
    reply_of,
    route_input,
    to_messages,
)
from chainserve.protocols._relay import Relay
from chainserve.protocols._shapes import InputShape, chat_model, input_shape
from chainserve.protocols._streams import parts
from chainserve.server.errors import RequestError, RunTimeout, logger
from chainserve.server.handler import APIHandler
from chainserve.server.limits import Limits
from chainserve.server.requests import read_body
from chainserve.server.responses import JSONBytesResponse
from chainserve.server.route import DirectRoute

_CLIENT_GONE = 499
COMPLETIONS = "/v1/chat/completions"
MODELS = "/v1/models"
OWN_BASE = "/openai"  # {path}/openai/v1: a route's own base URL
_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


def model_id(path: str) -> str:
    """A route's model id: its path without the leading slash."""
    return path.lstrip("/") or "default"


def mount_openai(
    app: FastAPI | APIRouter, handler: APIHandler, path: str, dependencies: Sequence[Depends]
) -> None:
    """Serve ``handler`` as an OpenAI model on ``app``; refuses an input that chat
    messages do not map onto."""
    shape = input_shape(handler)
    if not shape.chat:
        raise ValueError(
            f"openai=True needs a route whose input is a list of messages, an object with "
            f"one message-list field, or a string; {path or '/'!r} takes "
            f"{_describe(shape.schema)}. Give the runnable such an input type "
            "(with_types(input_type=...)), or serve it without openai=True."
        )
    router = app.router if isinstance(app, FastAPI) else app
    models = getattr(router, _MODELS, None)
    if models is None:
        models = Models(router)
        setattr(router, _MODELS, models)
    name = model_id(path)
    options: dict[str, Any] = {
        "dependencies": list(dependencies),
        "include_in_schema": False,
        "route_class_override": OpenAIRoute,
    }
    completions = ChatCompletions(handler, shape, name)
    router.add_api_route(
        path + OWN_BASE + COMPLETIONS, completions.endpoint, methods=["POST"], **options
    )
    router.add_api_route(path + OWN_BASE + MODELS, models.lister(name), methods=["GET"], **options)
    models.add(name, path, handler.limits)


class OpenAIRoute(DirectRoute):
    """A route whose errors, its dependencies' (``HTTPException``) included, are
    answered in the OpenAI API's shape. Without dependencies its endpoint is called
    directly (``DirectRoute``), and its errors caught here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            # For FastAPI's handling (with dependencies): the handlers it looks up.
            scope["starlette.exception_handlers"] = (_HANDLERS, {})
            try:
                await inner(scope, receive, send)
            except HTTPException as exc:  # the direct call's, before any response
                await (await _http_error(Request(scope), exc))(scope, receive, send)

        self.app = app


class Models:
    """An app's OpenAI models: ``GET /v1/models`` lists them, ``POST
    /v1/chat/completions`` hands each request to its model's own endpoint."""

    def __init__(self, router: APIRouter) -> None:
        self._paths: dict[str, str] = {}
        self._found: dict[tuple[int, str], tuple[BaseRoute, Scope]] = {}
        self._created = int(time.time())
        self._limits = Limits()
        router.add_api_route(
            MODELS,
            self.lister(None),
            methods=["GET"],
            include_in_schema=False,
            route_class_override=OpenAIRoute,
        )
        # Not an APIRoute: the model's own endpoint runs the dependencies. (Nor is the
        # router's prefix added for it: add_route is Starlette's.)
        router.add_route(
            router.prefix + COMPLETIONS, self.dispatch, methods=["POST"], include_in_schema=False
        )

    def add(self, name: str, path: str, limits: Limits) -> None:
        self._paths[name] = path
        if limits.max_body_size > self._limits.max_body_size:  # each route checks its own
            self._limits = Limits(max_body_size=limits.max_body_size)

    def lister(self, only: str | None) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint listing the models (``only`` that one, for a route's own)."""

        async def list_models(request: Request) -> Response:
            names = [only] if only else list(self._paths)
            data = [
                {"id": name, "object": "model", "created": self._created, "owned_by": "chainserve"}
                for name in names
            ]
            return JSONBytesResponse(orjson.dumps({"object": "list", "data": data}))

        return list_models

    async def dispatch(self, request: Request) -> Response:
        """Read the body for its ``model``, then route the request, body and all, to
        that model's own endpoint (``{path}/openai/v1/chat/completions``)."""
        try:
            body = await read_body(request, self._limits)
        except RequestError as exc:
            return await _http_error(request, exc)
        chosen = body.get("model")
        if not isinstance(chosen, str):
            return error_response(400, "Send the model to use in `model`", param="model")
        path = self._paths.get(chosen)
        if path is None:
            return model_not_found(chosen)
        # read_body kept the bytes it parsed: they go on as they came.
        return Relay(functools.partial(self._route_to, path), request._body)

    async def _route_to(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Route the request again, to the model at ``path``'s endpoint, as the app's
        router does: the route there is the one the app serves (``include_router``
        makes copies, with the including router's dependencies). Found once per app."""
        target = scope["path"].removesuffix(COMPLETIONS) + path + OWN_BASE + COMPLETIONS
        routed = {**scope, "path": target, "raw_path": target.encode()}
        router = scope["app"].router
        key = (id(router), target)
        if key not in self._found:
            self._found[key] = _match(router, routed)
        route, child = self._found[key]
        await route.handle({**routed, **child}, receive, send)


def _match(router: Router, scope: Scope) -> tuple[BaseRoute, Scope]:
    """The route of ``router`` serving ``scope``, and what it adds to the scope."""
    for route in router.routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child
    raise LookupError(f"no route serves {scope['path']}")  # the models' endpoints exist


class ChatCompletions:
    """One route's ``POST /v1/chat/completions``."""

    def __init__(self, handler: APIHandler, shape: InputShape, name: str) -> None:
        self.handler = handler
        self.shape = shape
        self.name = name

    async def endpoint(self, request: Request) -> Response:
        body = await read_body(request, self.handler.limits)
        try:
            chat = _parse(body)
            if chat.model != self.name:
                return model_not_found(chat.model)
            value = route_input(self.shape, to_messages(chat.messages))
            runnable = self._runnable(chat)
        except BadRequest as exc:
            return error_response(400, str(exc), param=exc.param)
        config = await self.handler.run_config(request, "openai")
        value = self.handler.validate_input(value, config, ("messages",))
        head = {
            "id": f"chatcmpl-{config['run_id']}",
            "created": int(time.time()),
            "model": self.name,
        }
        if chat.stream:
            return await self._stream(request, runnable, value, config, head, chat)
        try:
            output = await self.handler.run(
                lambda: runnable.ainvoke(value, config), request.receive
            )
        except ClientDisconnect:  # the run is cancelled; nobody is left to answer
            return Response(status_code=_CLIENT_GONE)
        except RequestError:
            raise
        except Exception as exc:
            return run_failed(request, exc)
        reply = reply_of(output, self.shape, self.handler.serializer)
        return JSONBytesResponse(orjson.dumps(completion(head, reply)))

    async def _stream(
        self,
        request: Request,
        runnable: Runnable,
        value: Any,
        config: RunnableConfig,
        head: dict[str, Any],
        chat: ChatRequest,
    ) -> Response:
        frames = self._frames(runnable, value, config, head, chat.include_usage)
        try:
            queue = await self.handler.open_stream(request, frames, error_frame=_stream_error)
        except ClientDisconnect:
            return Response(status_code=_CLIENT_GONE)
        except RequestError:
            raise
        except Exception as exc:
            return run_failed(request, exc)
        return self.handler.stream_response(queue)

    async def _frames(
        self,
        runnable: Runnable,
        value: Any,
        config: RunnableConfig,
        head: dict[str, Any],
        include_usage: bool,
    ) -> AsyncIterator[bytes]:
        deltas = Deltas(self.shape, self.handler.serializer)
        head = {**head, "object": "chat.completion.chunk"}
        async for delta in _stream_deltas(runnable, value, config, deltas):
            yield _chunk(head, delta)
        for delta in deltas.end():
            yield _chunk(head, delta)
        yield _chunk(head, {}, deltas.finish_reason)
        if include_usage:
            empty = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            yield _data({**head, "choices": [], "usage": deltas.usage or empty})
        yield b"data: [DONE]\n\n"

    def _runnable(self, chat: ChatRequest) -> Runnable:
        """The route's runnable, or its chat model with the request's tools and
        sampling parameters, under the route's bindings."""
        model = chat_model(self.handler.runnable)
        if model is None or not (
            chat.tools or chat.temperature is not None or chat.token_limit or chat.stop
        ):
            return self.handler.runnable
        fields = type(model).model_fields
        update: dict[str, Any] = {}
        if chat.temperature is not None and "temperature" in fields:
            update["temperature"] = chat.temperature
        if chat.token_limit and "max_tokens" in fields:
            update["max_tokens"] = chat.token_limit
        copy = model.model_copy(update=update) if update else model
        runnable: Runnable = copy
        if chat.tools and isinstance(copy, BaseChatModel):
            choice: dict[str, Any] = (
                {} if chat.tool_choice is None else {"tool_choice": chat.tool_choice}
            )
            try:
                runnable = copy.bind_tools(chat.tools, **choice)
            except NotImplementedError:
                raise BadRequest(f"Model {self.name!r} does not take tools", "tools") from None
            except (ValueError, TypeError, KeyError) as exc:
                raise BadRequest(f"Invalid tools: {exc}", "tools") from None
        if chat.stop:
            runnable = runnable.bind(stop=[chat.stop] if isinstance(chat.stop, str) else chat.stop)
        return _rebind(self.handler.runnable, runnable)


async def _stream_deltas(
    runnable: Runnable, value: Any, config: RunnableConfig, deltas: Deltas
) -> AsyncIterator[dict[str, Any]]:
    async for kind, item in parts(runnable, value, config):
        if kind == "state":
            deltas.of_state(item)
            continue
        for delta in deltas.of_token(item) if kind == "token" else deltas.of_chunk(item):
            yield delta


def _rebind(route: Runnable, model: Runnable) -> Runnable:
    """``model`` under the bindings around the route's model: each one copied onto it,
    so that what a binding adds besides kwargs and config (retries, listeners) stays."""
    if not isinstance(route, RunnableBindingBase):
        return model
    return route.model_copy(update={"bound": _rebind(route.bound, model)})


def _parse(body: dict[str, Any]) -> ChatRequest:
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise BadRequest(f"Invalid `{where}`: {error['msg']}", where) from None


def _chunk(head: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _data({**head, "choices": [choice]})


def _data(value: Any) -> bytes:
    return b"data: " + orjson.dumps(value) + b"\n\n"


def error_body(status: int, message: str, code: str | None, param: str | None) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error in the OpenAI API's shape (FastAPI's 422 for bad input is a 400 here)."""
    status = 400 if status == 422 else status
    body = orjson.dumps(error_body(status, message, code, param))
    return Response(body, status, headers, media_type="application/json")


def model_not_found(name: str) -> Response:
    return error_response(
        404, f"The model {name!r} does not exist", code="model_not_found", param="model"
    )


def run_failed(request: Request, exc: Exception) -> Response:
    """A run that failed: logged, answered without the exception's text."""
    if isinstance(exc, RunTimeout):
        logger.warning("Run timed out on %s: %s", request.url.path, exc)
        return error_response(504, "The model took too long to answer", code="timeout")
    logger.error("runnable_error on %s", request.url.path, exc_info=exc)
    return error_response(500, "The model failed to answer", code="runnable_error")


def _stream_error(error: BaseException) -> bytes:
    """The data event of a run that failed mid-stream (the stream has logged it)."""
    timeout = isinstance(error, RunTimeout)
    message = "The model took too long to answer" if timeout else "The model failed to answer"
    code = "timeout" if timeout else "runnable_error"
    return _data(error_body(504 if timeout else 500, message, code, None))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    param = None
    if isinstance(detail, list):  # a 422's items: where and what
        first = detail[0] if detail and isinstance(detail[0], dict) else {}
        param = ".".join(str(part) for part in first.get("loc", ())) or None
        detail = "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    return error_response(exc.status_code, str(detail), param=param, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(part) for part in first.get("loc", ())) or None
    return error_response(400, str(first.get("msg", "Invalid request")), param=param)


_HANDLERS: dict[Any, Any] = {
    HTTPException: _http_error,
    RequestValidationError: _validation_error,
}
_MODELS = "_chainserve_openai_models"  # the router's Models, once it has one


def _describe(schema: dict[str, Any]) -> str:
    if not set(schema) - {"title", "description"}:  # a function without type hints
        return "any value (no input type)"
    kind = schema.get("type") or "a value of schema " + orjson.dumps(schema).decode()[:80]
    return f"{kind} {schema.get('title', '')}".strip()
