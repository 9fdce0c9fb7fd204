"""Wire encoding of LangChain objects, shared by the server and the client.

Encoding is orjson with pydantic models dumped through ``model_dump()``, so LangChain
objects (messages, documents, prompt values, ...) carry their ``type`` discriminator.
Decoding walks the JSON bottom-up and turns every dict whose ``type`` names a
well-known LangChain class back into that class.

``Serializer`` and ``WellKnownLCSerializer`` keep LangServe's names and methods so that
code passing ``serializer=`` keeps working after changing its import.
"""

from __future__ import annotations

import abc
import json
from typing import Any

import orjson
from langchain_core.agents import AgentAction, AgentActionMessageLog, AgentFinish
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    Generation,
    LLMResult,
)
from langchain_core.prompt_values import ChatPromptValueConcrete, StringPromptValue
from pydantic import BaseModel, ValidationError

__all__ = ["SerializationError", "Serializer", "WellKnownLCSerializer", "dumps", "loads"]

_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

WELL_KNOWN_TYPES: dict[str, type[BaseModel]] = {
    "ai": AIMessage,
    "human": HumanMessage,
    "chat": ChatMessage,
    "system": SystemMessage,
    "function": FunctionMessage,
    "tool": ToolMessage,
    "AIMessageChunk": AIMessageChunk,
    "HumanMessageChunk": HumanMessageChunk,
    "ChatMessageChunk": ChatMessageChunk,
    "SystemMessageChunk": SystemMessageChunk,
    "FunctionMessageChunk": FunctionMessageChunk,
    "ToolMessageChunk": ToolMessageChunk,
    "Document": Document,
    "StringPromptValue": StringPromptValue,
    "ChatPromptValueConcrete": ChatPromptValueConcrete,
    "AgentAction": AgentAction,
    "AgentFinish": AgentFinish,
    "AgentActionMessageLog": AgentActionMessageLog,
    "Generation": Generation,
    "ChatGeneration": ChatGeneration,
    "ChatGenerationChunk": ChatGenerationChunk,
    "LLMResult": LLMResult,
}


class SerializationError(TypeError):
    """An object could not be encoded for the wire."""


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    raise SerializationError(f"Object of type {type(obj).__name__} is not serializable")


# orjson holds integers in 64 bits: a number of 19 digits or more may not fit (it would
# be read as a float, or refused), so such text is read again by the json module. The
# check maps every digit to "0" and looks for 19 in a row: a C-speed pass, unlike a regex.
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_DIGITS_TO_ZERO_TEXT = str.maketrans("0123456789", "0" * 10)
_INT64 = range(-(2**63), 2**64)


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON bytes (pydantic models via ``model_dump()``);
    integers of any size are written exactly."""
    try:
        return orjson.dumps(obj, default=_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise SerializationError(str(exc)) from exc
    try:  # rare: the long integers become pre-encoded fragments, the rest is as usual
        return orjson.dumps(
            _exact_ints(obj),
            default=lambda value: _exact_ints(_default(value)),
            option=_ORJSON_OPTIONS,
        )
    except orjson.JSONEncodeError as exc:
        raise SerializationError(str(exc)) from exc


def _exact_ints(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return orjson.Fragment(str(value).encode())
    if isinstance(value, dict):
        return {key: _exact_ints(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_exact_ints(item) for item in value]
    return value


def loads(data: bytes | str) -> Any:
    """Decode JSON; integers beyond 64 bits stay exact, as LangServe reads them."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        if not has_long_numbers(data):
            raise
        try:
            return json.loads(data)  # orjson refuses integers of hundreds of digits
        except RecursionError:
            raise orjson.JSONDecodeError("JSON nested too deep", "", 0) from None
    return exact(data, value)


def has_long_numbers(data: bytes | str) -> bool:
    """Whether ``data`` holds a run of 19 digits or more."""
    if isinstance(data, bytes):
        return b"0000000000000000000" in data.translate(_DIGITS_TO_ZERO)
    return "0000000000000000000" in data.translate(_DIGITS_TO_ZERO_TEXT)


def exact(data: bytes | str, value: Any) -> Any:
    """``value``, orjson's reading of ``data``, or ``data`` read again by the json
    module when it holds a number too long for orjson to keep exact."""
    if not has_long_numbers(data):
        return value
    try:
        return json.loads(data)
    except RecursionError:  # deeper than the json module goes: keep orjson's floats
        return value


def decode_well_known(value: Any) -> Any:
    """Turn dicts that look like well-known LangChain objects back into objects."""
    if isinstance(value, list):
        return [decode_well_known(item) for item in value]
    if not isinstance(value, dict):
        return value
    decoded = {key: decode_well_known(item) for key, item in value.items()}
    cls = WELL_KNOWN_TYPES.get(decoded.get("type"))  # type: ignore[arg-type]
    if cls is None:
        return decoded
    try:
        return cls.model_validate(decoded)
    except (ValidationError, TypeError, ValueError):
        return decoded


class Serializer(abc.ABC):
    """Encodes objects for the wire and decodes them back.

    Subclasses implement ``dumps`` and ``loadd``; ``dumpd`` and ``loads`` follow.
    """

    @abc.abstractmethod
    def dumps(self, obj: Any) -> bytes:
        """Encode an object as JSON bytes."""

    @abc.abstractmethod
    def loadd(self, obj: Any) -> Any:
        """Decode an already-parsed JSON value."""

    def dumpd(self, obj: Any) -> Any:
        """Encode an object to a JSON-compatible value."""
        return loads(self.dumps(obj))

    def loads(self, s: bytes | str) -> Any:
        """Decode JSON text."""
        return self.loadd(loads(s))


class WellKnownLCSerializer(Serializer):
    """The default serializer: orjson plus LangChain's well-known types."""

    def dumps(self, obj: Any) -> bytes:
        return dumps(obj)

    def loadd(self, obj: Any) -> Any:
        return decode_well_known(obj)
