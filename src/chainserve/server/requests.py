"""Request bodies: reading JSON safely and validating inputs against the runnable.

Bodies are parsed by hand (not by FastAPI) so that every mistake gets a 422 that says
where it is, the content type is not required (LangServe clients send JSON as they
like), and validation models are built once per route, not once per request.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from langchain_core.load.serializable import Serializable
from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, RootModel, ValidationError
from starlette.requests import Request

from chainserve._protocol import LOG_FILTERS
from chainserve.schema import CustomUserType
from chainserve.serialization import decode_well_known, loads
from chainserve.server.errors import Loc, RequestError, invalid, validation_error
from chainserve.server.graphs import PartialState, input_model
from chainserve.server.limits import Limits
from chainserve.server.schemas import config_key


async def read_body(request: Request, limits: Limits) -> dict[str, Any]:
    """The request's JSON object; 413 past the size limit, 422 if not an object.

    The depth limit keeps nothing downstream (pydantic, recursive unpacking, orjson's
    254-level encoder) from overflowing on an input that the parser accepted.
    """
    max_size = limits.max_body_size
    declared = header(request, b"content-length")
    if declared and declared.isdigit() and int(declared) > max_size:
        raise _too_large(max_size)
    raw = await _read(request, max_size)
    try:
        body = loads(raw)  # integers beyond 64 bits stay exact, as in LangServe
    except json.JSONDecodeError as exc:  # orjson's too
        raise invalid("json_invalid", ("body",), f"Invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("model_type", ("body",), "The body must be a JSON object")
    # Each level opens a bracket: with few of them, no need to walk the value.
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > limits.max_json_depth and _depth_exceeds(body, limits.max_json_depth):
        raise invalid(
            "json_invalid", ("body",), f"JSON nested deeper than {limits.max_json_depth} levels"
        )
    return body


async def _read(request: Request, max_size: int) -> bytes:
    """The body, up to ``max_size`` bytes; kept as Starlette's cache of it
    (``request._body``), so a per-request modifier can read it again."""
    cached: bytes | None = getattr(request, "_body", None)
    if cached is not None:
        if len(cached) > max_size:
            raise _too_large(max_size)
        return cached
    if getattr(request, "_stream_consumed", False):
        raise RuntimeError("The request body was consumed before the handler could read it")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "Client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_size:
            raise _too_large(max_size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    request._body = raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return raw


def header(request: Request, name: bytes) -> str | None:
    """A request header by its lowercase name (as ASGI servers give them), without
    building Starlette's ``Headers``: this runs on every request."""
    for key, value in request.scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than ``limit`` (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _too_large(max_size: int) -> RequestError:
    return RequestError(413, f"Request body is larger than {max_size} bytes")


def require(body: dict[str, Any], key: str) -> Any:
    """A required top-level field of the body."""
    if key not in body:
        raise invalid("missing", (key,), "Field required")
    return body[key]


def log_filters(body: dict[str, Any]) -> dict[str, list[str] | None]:
    """The stream_log / stream_events filters: each null or a list of strings."""
    filters: dict[str, list[str] | None] = {}
    for key in LOG_FILTERS:
        value = body.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            raise invalid("list_type", (key,), "Expected null or a list of strings")
        filters[key] = value
    return filters


class InputValidator:
    """Validates inputs against the runnable's input schema.

    The schema depends on the config only when the runnable has configurable parts
    (an alternative can have another input type); it is then built per distinct
    ``configurable`` value and cached.
    """

    def __init__(self, runnable: Runnable, *, cache_size: int = 128) -> None:
        self._runnable = runnable
        self._static = not runnable.config_specs
        self._schema = input_model(runnable)
        # An input typed Any is taken as sent: validating it would only copy it.
        self._any = self._static and _root_type(self._schema) is Any
        self._cache: OrderedDict[bytes, Any] = OrderedDict()
        self._cache_size = cache_size

    def validate(self, value: Any, config: RunnableConfig, loc: Loc) -> Any:
        if self._any:
            return value
        schema = self.schema(config)
        try:
            return unpack(schema.model_validate(value))
        except ValidationError as exc:
            raise validation_error(exc, loc) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # LangChain validators can raise plain errors on odd input (ToolMessage without a
            # tool_call_id raises KeyError): still the client's mistake, not a 500.
            raise invalid(
                "value_error", loc, f"Invalid input: {type(exc).__name__}: {exc}"
            ) from None

    def schema(self, config: RunnableConfig) -> Any:
        """The input model under ``config`` (a pydantic model class)."""
        if self._static or not config.get("configurable"):
            return self._schema
        key = config_key(config["configurable"])
        schema = self._cache.get(key)
        if schema is None:
            schema = input_model(self._runnable, config)
            self._cache[key] = schema
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return schema


def _root_type(schema: Any) -> Any:
    """The type a RootModel wraps (None for other models)."""
    if isinstance(schema, type) and issubclass(schema, RootModel):
        return schema.model_fields["root"].annotation
    return None


def unpack(value: Any) -> Any:
    """Validation models back to plain values; LangChain and user types stay objects."""
    if isinstance(value, RootModel):
        return unpack(value.root)
    if type(value) in (BaseMessage, BaseMessageChunk):
        # A ``list[BaseMessage]`` schema validates into the abstract class; runnables
        # need the concrete one (HumanMessage, ...), which the ``type`` field names.
        message = decode_well_known(value.model_dump())
        if not isinstance(message, BaseMessage):
            raise ValueError(f"Unknown message type {value.type!r}")
        return message
    if isinstance(value, (Serializable, CustomUserType)):
        return value
    if isinstance(value, PartialState):  # a graph's state update: only the keys sent
        return {name: unpack(getattr(value, name)) for name in value.model_fields_set}
    if isinstance(value, BaseModel):
        return {name: unpack(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list):
        return [unpack(item) for item in value]
    if isinstance(value, dict):
        return {key: unpack(item) for key, item in value.items()}
    return value


def batch_configs(raw: Any, count: int) -> list[Any]:
    """The body's batch ``config``: one for all inputs, or exactly one per input."""
    if raw is None or isinstance(raw, dict):
        return [raw] * count
    if not isinstance(raw, list):
        raise invalid("config_type", ("config",), "Config must be an object or a list")
    if len(raw) != count:
        raise invalid(
            "config_count",
            ("config",),
            f"Number of configs ({len(raw)}) must match number of inputs ({count})",
        )
    return raw
