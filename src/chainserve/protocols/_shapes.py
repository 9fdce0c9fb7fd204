"""What the protocols read off a route: the shape of its input (from its JSON Schema)
and a description of it.

OpenAI clients send chat messages, MCP and A2A clients send arguments or parts: each
adapter maps what it gets onto the input by its shape.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.base import RunnableBindingBase

from chainserve.server.handler import APIHandler

Kind = Literal["messages", "field", "text", "object", "other"]


@dataclasses.dataclass(frozen=True)
class InputShape:
    """``messages``: a list of messages; ``field``: an object whose one message-list
    field is ``field``; ``text``: a string; ``object``: any other object; ``other``."""

    kind: Kind
    schema: dict[str, Any]
    field: str = ""

    @property
    def chat(self) -> bool:
        """Whether chat messages map onto the input (what the OpenAI API sends)."""
        return self.kind in ("messages", "field", "text")


def input_shape(handler: APIHandler) -> InputShape:
    """The shape of ``handler``'s input (under the default config)."""
    schema = handler.schemas.input({})
    if chat_model(handler.runnable) is not None:
        return InputShape("messages", schema)
    if _is_message_list(schema):
        return InputShape("messages", schema)
    if schema.get("type") == "string":
        return InputShape("text", schema)
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        fields = [name for name, field in (properties or {}).items() if _is_message_list(field)]
        others = set(schema.get("required", ())) - set(fields)
        if len(fields) == 1 and not others:
            return InputShape("field", schema, fields[0])
        return InputShape("object", schema)
    return InputShape("other", schema)


def chat_model(runnable: Runnable) -> BaseLanguageModel | None:
    """The language model a route serves, under its bindings (``with_types``, ...)."""
    while isinstance(runnable, RunnableBindingBase):
        runnable = runnable.bound
    return runnable if isinstance(runnable, BaseLanguageModel) else None


def _is_message_list(schema: dict[str, Any]) -> bool:
    if schema.get("type") != "array" and "items" not in schema:
        return any(_is_message_list(option) for option in _options(schema))
    return _names_messages(schema.get("items") or {})


def _names_messages(schema: dict[str, Any]) -> bool:
    ref = schema.get("$ref", "")
    if ref:
        return ref.rpartition("/")[2].endswith(("Message", "MessageChunk"))
    return any(_names_messages(option) for option in _options(schema))


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())]


def wrap_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A non-object input's schema as an object's: ``{"input": <schema>}``."""
    inner = {key: value for key, value in schema.items() if key != "$defs"}
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {"input": inner},
        "required": ["input"],
    }
    if "$defs" in schema:
        wrapped["$defs"] = schema["$defs"]
    return wrapped


def describe(handler: APIHandler, path: str) -> str:
    """A route's description: its function's docstring, its input's description, or
    what it is and where."""
    runnable = handler.runnable
    while isinstance(runnable, RunnableBindingBase):
        runnable = runnable.bound
    if isinstance(runnable, RunnableLambda):
        doc = inspect.getdoc(getattr(runnable, "func", None) or getattr(runnable, "afunc", None))
        if doc:
            return doc
    description = handler.schemas.input({}).get("description")
    if isinstance(description, str) and description:
        return description
    return f"Runs {runnable.get_name()}, served at {path or '/'}"
