"""OpenAPI descriptions of the generated routes, true to what they accept and answer.

Schemas are inlined per operation (``$ref`` resolved against the runnable's own
``$defs``), so two routes can never collide on a component name, whatever their
runnables are called.
"""

from __future__ import annotations

from typing import Any

from chainserve._protocol import LOG_FILTERS
from chainserve.server.schemas import Schema

_DEFS = "#/$defs/"

_ERROR_ITEM: Schema = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "input": {},
    },
    "required": ["type", "loc", "msg"],
}
_CLIENT_ERROR: Schema = {
    "type": "object",
    "title": "ClientError",
    "properties": {
        "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": _ERROR_ITEM}]}
    },
    "required": ["detail"],
}
_SERVER_ERROR: Schema = {
    "type": "object",
    "title": "ServerError",
    "properties": {
        "detail": {"type": "string"},
        "message": {"type": "string"},
        "type": {"type": "string", "enum": ["runnable_error", "serialization_error"]},
        "exception": {"type": "string", "description": "Only when the app runs with debug=True."},
        "traceback": {"type": "string", "description": "Only when the app runs with debug=True."},
    },
    "required": ["detail", "message", "type"],
}
_RUN_METADATA: Schema = {
    "type": "object",
    "properties": {
        "run_id": {"type": "string", "format": "uuid"},
        "feedback_tokens": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "token_url": {"type": "string"},
                    "expires_at": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
            },
        },
    },
    "required": ["run_id", "feedback_tokens"],
}
_CALLBACK_EVENTS: Schema = {
    "type": "array",
    "description": "Present when the route has include_callback_events=True.",
    "items": {"type": "object"},
}
_STRING_LIST: Schema = {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}
_LOG_FILTERS = dict.fromkeys(LOG_FILTERS, _STRING_LIST)
_SSE_EVENT: Schema = {
    "type": "object",
    "description": "One Server-Sent Event; `data` is JSON text.",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["event"],
}
_SSE_EVENTS = {
    "stream": '`metadata` (`{"run_id": ...}`) before the first chunk, one `data` per '
    "chunk (the chunk as JSON), then `end`.",
    "stream_log": 'one `data` per run-log patch (`{"ops": [JSON Patch ops]}`), then `end`.',
    "stream_events": "one `data` per LangChain stream event (v2), then `end`.",
}


def inline_refs(schema: Schema) -> Schema:
    """The schema with every ``#/$defs/...`` reference replaced by its definition.

    A recursive reference is replaced by ``{}`` (any value) where it recurs.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        rest = {
            key: walk(value, seen) for key, value in node.items() if key not in ("$ref", "$defs")
        }
        if not (isinstance(ref, str) and ref.startswith(_DEFS)):
            return rest
        name = ref[len(_DEFS) :]
        if name in seen or name not in defs:
            return rest
        return {**walk(defs[name], seen | {name}), **rest}

    return walk(schema, frozenset())


def _json(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _request_body(properties: dict[str, Schema], required: list[str], title: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "title": title,
        "properties": {**properties, "kwargs": {"type": "object", "default": {}}},
        "required": required,
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _errors(with_hash: bool) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {
        413: _json(_CLIENT_ERROR, "The request body is too large"),
        422: _json(_CLIENT_ERROR, "The body, its input or its config is invalid; `loc` says where"),
        500: _json(_SERVER_ERROR, "The runnable failed (no exception text unless debugging)"),
    }
    if with_hash:
        responses[400] = _json(_CLIENT_ERROR, "The config hash cannot be decoded")
    return responses


def run_docs(
    endpoint: str,
    input_schema: Schema,
    output_schema: Schema,
    config_schema: Schema,
    with_hash: bool,
) -> dict[str, Any]:
    """``openapi_extra`` and ``responses`` for a run endpoint's route."""
    inp, out, cfg = (
        inline_refs(input_schema),
        inline_refs(output_schema),
        inline_refs(config_schema),
    )
    config = {"anyOf": [cfg, {"type": "null"}]}
    if endpoint == "batch":
        body = _request_body(
            {
                "inputs": {"type": "array", "items": inp},
                "config": {"anyOf": [cfg, {"type": "array", "items": cfg}, {"type": "null"}]},
            },
            ["inputs"],
            "BatchRequest",
        )
        ok = _json(
            {
                "type": "object",
                "properties": {
                    "output": {"type": "array", "items": out},
                    "metadata": {
                        "type": "object",
                        "properties": {
                            "responses": {"type": "array", "items": _RUN_METADATA},
                            "run_ids": {
                                "type": "array",
                                "items": {"type": "string", "format": "uuid"},
                            },
                        },
                    },
                    "callback_events": {"type": "array", "items": _CALLBACK_EVENTS},
                },
                "required": ["output", "metadata"],
            },
            "One output per input, in order",
        )
    elif endpoint == "invoke":
        body = _request_body({"input": inp, "config": config}, ["input"], "InvokeRequest")
        ok = _json(
            {
                "type": "object",
                "properties": {
                    "output": out,
                    "metadata": _RUN_METADATA,
                    "callback_events": _CALLBACK_EVENTS,
                },
                "required": ["output", "metadata"],
            },
            "The runnable's output",
        )
    else:
        filters = {} if endpoint == "stream" else _LOG_FILTERS
        body = _request_body(
            {"input": inp, "config": config, **filters}, ["input"], f"{endpoint}Request"
        )
        ok = {
            "description": "Server-Sent Events: "
            + _SSE_EVENTS[endpoint]
            + " A failure after the first event is an `error` event "
            '(`{"status_code": 500, "message": "Internal Server Error"}`) that ends the stream.',
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        }
    return {"openapi_extra": body, "responses": {200: ok, **_errors(with_hash)}}


def schema_docs(description: str, with_hash: bool) -> dict[str, Any]:
    """``responses`` for a schema route."""
    responses: dict[int | str, dict[str, Any]] = {
        200: _json({"type": "object", "description": "A JSON Schema"}, description)
    }
    if with_hash:
        responses[400] = _json(_CLIENT_ERROR, "The config hash cannot be decoded")
        responses[422] = _json(_CLIENT_ERROR, "The config in the hash is invalid")
    return {"responses": responses}
