"""OpenAI chat completions to and from LangChain values.

In: the request's messages, as LangChain messages (langchain-core converts them), put
where the route's input takes them. Out: a run's output or chunks as a completion or
completion chunks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from langchain_core.messages import (
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    convert_to_messages,
)
from langchain_core.messages.ai import UsageMetadata, add_usage
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chainserve.protocols._shapes import InputShape
from chainserve.protocols._streams import add, ai_text
from chainserve.serialization import Serializer


class BadRequest(ValueError):
    """A request the OpenAI API answers with 400; ``param`` names the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of a chat completion request that a route uses; others are ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None

    @field_validator("tools")
    @classmethod
    def _named_functions(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """Each function tool names its function: a model given one that does not
        fails when it runs, a 500 for what is the request's mistake."""
        for index, tool in enumerate(tools or ()):
            function = tool.get("function")
            named = isinstance(function, dict) and isinstance(function.get("name"), str)
            if tool.get("type") == "function" and not named:
                raise ValueError(f"tools[{index}] is a function tool without `function.name`")
        return tools

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def to_messages(raw: list[dict[str, Any]]) -> list[BaseMessage]:
    """The request's messages as LangChain messages (a ``BadRequest`` naming the first
    one that is not a chat message)."""
    messages = []
    for index, item in enumerate(raw):
        if item.get("role") == "assistant" and item.get("content") is None:
            item = {**item, "content": ""}  # an assistant turn of only tool calls
        try:
            messages.extend(convert_to_messages([item]))
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            reason = str(exc).splitlines()[0]
            raise BadRequest(
                f"Invalid message at messages[{index}]: {reason}", "messages"
            ) from None
    return messages


def route_input(shape: InputShape, messages: list[BaseMessage]) -> Any:
    """What the route's runnable takes for these messages."""
    if shape.kind == "field":
        return {shape.field: messages}
    if shape.kind == "text":
        for message in reversed(messages):
            if isinstance(message, HumanMessage):
                return message.text
        raise BadRequest("This model takes text: send at least one user message", "messages")
    return messages


@dataclasses.dataclass
class Reply:
    """The assistant's answer in a run's output: text, tool calls, token usage."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    usage: UsageMetadata | None = None

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


def reply_of(output: Any, shape: InputShape, serializer: Serializer) -> Reply:
    """The reply in a run's output: a string, a message, the last message of a
    message list (a graph's state, say), or else the output as JSON text."""
    message = last_message(output, shape)
    if message is not None:
        return Reply(
            message.text,
            list(getattr(message, "tool_calls", None) or ()),
            getattr(message, "usage_metadata", None),
        )
    if isinstance(output, str):
        return Reply(output)
    return Reply(serializer.dumps(output).decode())


def last_message(output: Any, shape: InputShape) -> BaseMessage | None:
    if isinstance(output, BaseMessage):
        return output
    if isinstance(output, dict):
        output = output.get(shape.field or "messages")
    if isinstance(output, list) and output and isinstance(output[-1], BaseMessage):
        return output[-1]
    return None


def tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A LangChain tool call as an OpenAI one (its id kept)."""
    return {
        "id": call.get("id") or "",
        "type": "function",
        "function": {"name": call["name"], "arguments": orjson.dumps(call["args"]).decode()},
    }


def usage(metadata: UsageMetadata) -> dict[str, int]:
    return {
        "prompt_tokens": metadata.get("input_tokens", 0),
        "completion_tokens": metadata.get("output_tokens", 0),
        "total_tokens": metadata.get("total_tokens", 0),
    }


def completion(head: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A ``chat.completion`` (``head``: its id, created time and model)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [tool_call(call) for call in reply.tool_calls]
        message["content"] = reply.text or None
    body: dict[str, Any] = {
        **head,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
    }
    if reply.usage:
        body["usage"] = usage(reply.usage)
    return body


class Deltas:
    """Turns stream chunks into ``chat.completion.chunk`` deltas.

    Text and tool-call chunks go out as they come; other chunks are added up and,
    with a graph's last state, give the reply once the stream is over (its text, if
    no text was streamed, and its tool calls).
    """

    def __init__(self, shape: InputShape, serializer: Serializer) -> None:
        self._shape = shape
        self._serializer = serializer
        self._role_sent = False
        self._streamed_text = False
        self._tool_calls: set[int] = set()
        self._usage: UsageMetadata | None = None
        self._rest: Any = None
        self.finish_reason = "stop"

    def of_chunk(self, chunk: Any) -> list[dict[str, Any]]:
        """The deltas for one chunk of ``astream``."""
        if isinstance(chunk, str):
            return self._text(chunk)
        if isinstance(chunk, BaseMessageChunk):
            return self._message_chunk(chunk)
        if isinstance(chunk, BaseMessage):
            return self._message(chunk)
        self._rest = add(self._rest, chunk)
        return []

    def of_token(self, message: Any) -> list[dict[str, Any]]:
        """The deltas for a token of a graph's ``messages`` stream: AI text only (the
        graph runs its own tool calls)."""
        text = ai_text(message)
        if text:
            self._count_usage(message)
        return self._text(text)

    def of_state(self, state: Any) -> None:
        """A graph's state (``values`` stream): its last message is the reply."""
        self._rest = state

    def end(self) -> list[dict[str, Any]]:
        """The deltas left once the stream is over."""
        if self._rest is None:
            return []
        reply = reply_of(self._rest, self._shape, self._serializer)
        if self._usage is None:
            self._usage = reply.usage
        deltas = [] if self._streamed_text else self._text(reply.text)
        if reply.tool_calls and not self._tool_calls:
            deltas += self._calls(reply.tool_calls)
        return deltas

    @property
    def usage(self) -> dict[str, int] | None:
        return usage(self._usage) if self._usage else None

    def _message_chunk(self, chunk: BaseMessageChunk) -> list[dict[str, Any]]:
        self._count_usage(chunk)
        deltas = self._text(chunk.text)
        for position, call in enumerate(getattr(chunk, "tool_call_chunks", None) or ()):
            index = call.get("index")
            index = position if index is None else index
            self._tool_calls.add(index)
            deltas.append(
                self._delta(
                    tool_calls=[
                        {
                            "index": index,
                            **({"id": call["id"], "type": "function"} if call.get("id") else {}),
                            "function": {
                                **({"name": call["name"]} if call.get("name") else {}),
                                "arguments": call.get("args") or "",
                            },
                        }
                    ]
                )
            )
        return deltas

    def _message(self, message: BaseMessage) -> list[dict[str, Any]]:
        self._count_usage(message)
        return self._text(message.text) + self._calls(getattr(message, "tool_calls", None) or [])

    def _calls(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        first = len(self._tool_calls)
        self._tool_calls.update(range(first, first + len(calls)))
        return [
            self._delta(tool_calls=[{"index": first + offset, **tool_call(call)}])
            for offset, call in enumerate(calls)
        ]

    def _text(self, text: str) -> list[dict[str, Any]]:
        if not text:
            return []
        self._streamed_text = True
        return [self._delta(content=text)]

    def _delta(self, **delta: Any) -> dict[str, Any]:
        if self._tool_calls:
            self.finish_reason = "tool_calls"
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return delta

    def _count_usage(self, message: BaseMessage) -> None:
        metadata = getattr(message, "usage_metadata", None)
        if metadata:
            self._usage = add_usage(self._usage, metadata)
