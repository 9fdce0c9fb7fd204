"""Error answers: clear 4xx for client mistakes, opaque 500s for server failures."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from chainserve.serialization import SerializationError

logger = logging.getLogger("chainserve")

Loc = tuple[str | int, ...]

# The fixed payload of a stream's ``error`` event (LangServe clients parse it).
STREAM_ERROR = {"status_code": 500, "message": "Internal Server Error"}


class RequestError(HTTPException):
    """A client mistake, answered with its status and a JSON ``detail``."""


class RunTimeout(TimeoutError):
    """A run took longer than ``Limits.run_timeout``."""


def error_item(kind: str, loc: Loc, msg: str) -> dict[str, Any]:
    """One entry of a 422 ``detail`` list, shaped like pydantic's."""
    return {"type": kind, "loc": list(loc), "msg": msg}


def invalid(kind: str, loc: Loc, msg: str) -> RequestError:
    """A 422 for a single problem at ``loc``."""
    return RequestError(422, [error_item(kind, loc, msg)])


def validation_items(exc: ValidationError, loc: Loc) -> list[dict[str, Any]]:
    """Pydantic errors with their ``loc`` prefixed by where the value sat."""
    return [
        {
            "type": error["type"],
            "loc": [*loc, *error["loc"]],
            "msg": error["msg"],
            "input": error.get("input"),
        }
        for error in exc.errors(include_url=False, include_context=False)
    ]


def problems(exc: Exception) -> str:
    """A request error's detail (or any error's text) as one line, each problem with
    where it is: for protocols whose errors are text."""
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    if not isinstance(detail, list):
        return str(detail)
    found = []
    for item in detail:
        where = ".".join(str(part) for part in item.get("loc", ()))
        found.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return "Invalid input: " + "; ".join(found)


def validation_error(exc: ValidationError, loc: Loc) -> RequestError:
    return RequestError(422, validation_items(exc, loc))


def failure_response(request: Request, exc: BaseException) -> JSONResponse:
    """The answer for a run that failed before its response began."""
    if isinstance(exc, RunTimeout):
        logger.warning("Run timed out on %s: %s", request.url.path, exc)
        body = {"detail": str(exc), "message": "Gateway Timeout", "type": "timeout"}
        return JSONResponse(body, status_code=504)
    kind = "serialization_error" if isinstance(exc, SerializationError) else "runnable_error"
    return server_error(request, exc, kind)


def server_error(request: Request, exc: BaseException, kind: str) -> JSONResponse:
    """A 500 naming the kind of failure; exception text only when the app debugs."""
    logger.error("%s on %s", kind, request.url.path, exc_info=exc)
    # ``message`` is what LangChain.js's RemoteRunnable shows for a failed call.
    body: dict[str, Any] = {
        "detail": "Internal Server Error",
        "message": "Internal Server Error",
        "type": kind,
    }
    if _debugging(request):
        body["exception"] = f"{type(exc).__name__}: {exc}"
        body["traceback"] = "".join(traceback.format_exception(exc))
    return JSONResponse(body, status_code=500)


def _debugging(request: Request) -> bool:
    app = request.scope.get("app")
    return bool(getattr(app, "debug", False))
