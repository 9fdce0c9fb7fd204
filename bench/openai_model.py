"""The fake chat model ``bench/openai.py`` serves with every server: ``TOKENS`` short
tokens (``"t0 "``, ``"t1 "``, ...) per answer, whatever it is asked, with no sleep.

A LangChain chat model (``BaseChatModel``, both ``_stream`` and ``_astream``), so that
every server streams it through the same langchain-core code: chainserve's routes call
``astream``, the LitServe app's ``predict`` calls ``stream`` (or ``astream``).

With ``BENCH_TOKEN_YIELD=1`` in the server's environment, ``_astream`` awaits
``asyncio.sleep(0)`` after each token: it still takes no time, but each token comes in
a turn of the event loop of its own, as a real model's tokens come from network reads
(without it, a server's writer gets its turn only when the run waits for room).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

TOKENS = 200
PROMPT = "Count for me."


def token(index: int) -> str:
    return f"t{index} "


ANSWER = "".join(token(index) for index in range(TOKENS))


class TokenModel(BaseChatModel):
    """Answers every prompt with ``tokens`` tokens, streamed one by one."""

    tokens: int = TOKENS
    pause: bool = Field(default_factory=lambda: os.environ.get("BENCH_TOKEN_YIELD") == "1")

    @property
    def _llm_type(self) -> str:
        return "bench-tokens"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(token(index) for index in range(self.tokens))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for index in range(self.tokens):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token(index)))
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for index in range(self.tokens):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token(index)))
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
            if self.pause:
                await asyncio.sleep(0)
