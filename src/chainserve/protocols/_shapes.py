"""The shape of a route's input, as the protocols see it, read off its JSON Schema.

OpenAI clients send chat messages, MCP and A2A clients send arguments or parts: each
adapter maps what it gets onto the input by its shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import Runnable
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
