"""Chat models for the demo and the examples: a local deterministic one, or a real one.

``LocalChatModel`` needs no key and no network: its answer depends only on the input, and
it streams that answer word by word. ``chat_model()`` returns a real model instead when an
API key and the matching integration package are there.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

_JOKES = (
    "Why did the {topic} join the web server? It wanted to handle more requests.",
    "What do you call {topic} served over HTTP? A RESTful {topic}.",
    "I asked the {topic} for a joke, but it was still streaming the punchline.",
)
_JOKE = re.compile(r"joke about (?P<topic>.+?)[.!?\s]*$", re.IGNORECASE | re.DOTALL)
_CONTEXT = re.compile(r"context:(?P<context>.*?)question:(?P<question>.*)", re.I | re.S)
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\s*\S+")


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _joke(topic: str) -> str:
    topic = topic.strip()
    return _JOKES[zlib.crc32(topic.lower().encode()) % len(_JOKES)].format(topic=topic)


def _answer_from_context(context: str, question: str) -> str:
    lines = [line.strip(" -") for line in context.splitlines() if line.strip(" -")]
    asked = _words(question)
    best = max(lines, key=lambda line: len(asked & _words(line)), default="")
    if not best or not asked & _words(best):
        return "I found nothing about that in the documents."
    return f"From the documents: {best}"


def _echo(messages: Sequence[BaseMessage]) -> str:
    earlier = sum(not isinstance(m, SystemMessage) for m in messages[:-1])
    reply = f"You said: {messages[-1].text}" if messages else "You said nothing."
    return f"{reply} ({earlier} earlier messages in this conversation.)" if earlier else reply


def _tool_call(text: str, tools: Sequence[dict[str, Any]], number: int) -> dict[str, Any]:
    """Call the tool whose name shares a word with ``text`` (else the first tool)."""
    said = _words(text.replace("_", " "))
    chosen = next(
        (t for t in tools if said & set(t["function"]["name"].lower().split("_"))), tools[0]
    )
    function = chosen["function"]
    numbers = iter(re.findall(r"-?\d+(?:\.\d+)?", text))
    args: dict[str, Any] = {}
    for name, spec in function.get("parameters", {}).get("properties", {}).items():
        if spec.get("type") in ("integer", "number"):
            value = next(numbers, "0")
            args[name] = int(float(value)) if spec["type"] == "integer" else float(value)
        else:
            args[name] = text
    return {"name": function["name"], "args": args, "id": f"call_{number}", "type": "tool_call"}


def local_reply(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] = ()) -> AIMessage:
    """The local model's answer to ``messages``: a pure function of its input.

    A request for a joke about X gets a joke about X; a prompt with ``Context:`` and
    ``Question:`` gets the context line that best matches the question; with tools bound,
    a user message gets a tool call and tool results get a summary; anything else is echoed,
    with the number of earlier messages (so a remembered history shows).
    """
    last = messages[-1] if messages else None
    text = last.text if last else ""
    if tools and isinstance(last, ToolMessage):
        results = [m.text for m in messages if isinstance(m, ToolMessage)]
        return AIMessage(content=f"The tools answered: {'; '.join(results)}")
    if tools and last is not None and last.type == "human":
        return AIMessage(content="", tool_calls=[_tool_call(text, tools, len(messages))])
    if match := _JOKE.search(text):
        return AIMessage(content=_joke(match["topic"]))
    if match := _CONTEXT.search(text):
        return AIMessage(content=_answer_from_context(match["context"], match["question"]))
    return AIMessage(content=_echo(messages))


def _chunks(message: AIMessage) -> Iterator[AIMessageChunk]:
    """Split a reply into streamed chunks: one per word, or one per tool call; the last
    carries the reply's token usage."""
    chunks: list[AIMessageChunk] = []
    for index, call in enumerate(message.tool_calls):
        tool_chunk = {
            "name": call["name"],
            "args": json.dumps(call["args"]),
            "id": call["id"],
            "index": index,
            "type": "tool_call_chunk",
        }
        chunks.append(AIMessageChunk(content="", tool_call_chunks=[tool_chunk]))  # type: ignore[list-item]
    if not chunks:
        chunks = [AIMessageChunk(content=token) for token in _TOKEN.findall(message.text)]
    if chunks and message.usage_metadata:
        chunks[-1].usage_metadata = message.usage_metadata
    yield from chunks


def _fit(
    reply: AIMessage,
    messages: Sequence[BaseMessage],
    stop: Sequence[str] | None,
    max_tokens: int | None,
) -> AIMessage:
    """The reply cut at the first ``stop`` string and to ``max_tokens`` words, with its
    usage counted in words (the local model's tokens)."""
    text: str = reply.text
    for marker in stop or ():
        text = text.split(marker, 1)[0]
    tokens = _TOKEN.findall(text)
    if max_tokens is not None:
        tokens = tokens[:max_tokens]
    prompt = sum(len(_TOKEN.findall(message.text)) for message in messages)
    output = len(tokens) + len(reply.tool_calls)
    usage = {"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output}
    return AIMessage(content="".join(tokens), tool_calls=reply.tool_calls, usage_metadata=usage)  # type: ignore[arg-type]


class LocalChatModel(BaseChatModel):
    """A deterministic chat model that runs offline and streams word by word.

    See ``local_reply`` for what it answers. Supports ``bind_tools`` so agents work too;
    a word is a token (``max_tokens``, ``stop`` and the usage it reports count words).
    """

    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "chainserve-local"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Make the model call ``tools`` (OpenAI-style schemas, passed as ``tools=``)."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, stop, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in _chunks(self._reply(messages, stop, kwargs)):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=generation)
            yield generation

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in _chunks(self._reply(messages, stop, kwargs)):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=generation)
            yield generation

    def _reply(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AIMessage:
        reply = local_reply(messages, kwargs.get("tools") or ())
        return _fit(reply, messages, stop, self.max_tokens)


# Real models: (API key variable, integration module, class, model variable, default model)
_PROVIDERS = (
    ("OPENAI_API_KEY", "langchain_openai", "ChatOpenAI", "OPENAI_MODEL", "gpt-4o-mini"),
    (
        "ANTHROPIC_API_KEY",
        "langchain_anthropic",
        "ChatAnthropic",
        "ANTHROPIC_MODEL",
        "claude-3-5-haiku-latest",
    ),
)


def chat_model() -> BaseChatModel:
    """The chat model to serve: a real one if a key and its package are there, else local.

    ``OPENAI_API_KEY`` with ``langchain-openai`` installed (``pip install chainserve[openai]``)
    gives ``ChatOpenAI``; else ``ANTHROPIC_API_KEY`` with ``langchain-anthropic`` gives
    ``ChatAnthropic``; else ``LocalChatModel``. ``OPENAI_MODEL`` / ``ANTHROPIC_MODEL`` pick
    the model; ``CHAINSERVE_MODEL=local`` forces the local model.
    """
    if os.environ.get("CHAINSERVE_MODEL", "").lower() == "local":
        return LocalChatModel()
    for key, module_name, class_name, model_var, default in _PROVIDERS:
        if not os.environ.get(key):
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        model: BaseChatModel = getattr(module, class_name)(model=os.environ.get(model_var, default))
        return model
    return LocalChatModel()


def describe(model: BaseChatModel) -> str:
    """A short human description of ``model`` for the server's start-up banner."""
    if isinstance(model, LocalChatModel):
        return "local deterministic model (set OPENAI_API_KEY or ANTHROPIC_API_KEY for a real one)"
    name = getattr(model, "model_name", None) or getattr(model, "model", "")
    return f"{type(model).__name__} {name}".strip()
