"""Runnables served by the tests, buildable with chainserve's or LangServe's add_routes.

Building the same app with both packages lets interop tests compare a chainserve server
with the real LangServe one, and both with running the runnable locally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from langchain_core.callbacks import (
    CallbackManagerForLLMRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel, FakeListChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import ConfigurableField, Runnable, RunnableLambda

DOCS = [
    Document(page_content="cats purr", metadata={"id": 1}),
    Document(page_content="dogs bark", metadata={"id": 2}),
    Document(page_content="cows moo", metadata={"id": 3}),
]


class KeywordRetriever(BaseRetriever):
    """Returns the bundled documents that share a word with the query."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().split())
        return [d for d in DOCS if words & set(d.page_content.split())]


class EchoChatModel(BaseChatModel):
    """Replies ``You said: <last message>``, streamed one word per chunk.

    Unlike ``FakeListChatModel``, which cycles through its responses, its answer
    depends only on the input, so a served instance and a local one always agree.
    """

    @property
    def _llm_type(self) -> str:
        return "echo-chat"

    @staticmethod
    def _reply(messages: list[BaseMessage]) -> str:
        return f"You said: {messages[-1].text}" if messages else "You said nothing"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = AIMessage(content=self._reply(messages))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for index, word in enumerate(self._reply(messages).split(" ")):
            content = f" {word}" if index else word
            yield ChatGenerationChunk(message=AIMessageChunk(content=content))


def joke_chain() -> Runnable:
    prompt = ChatPromptTemplate.from_template("tell me a joke about {topic}")
    model = FakeListChatModel(responses=["Why did the chicken cross the road?"])
    return prompt | model | StrOutputParser()


def chat_model() -> Runnable:
    return FakeListChatModel(responses=["Hello there!", "Nice to meet you."]).with_types(
        input_type=list[BaseMessage]
    )


def echo_chat_model() -> Runnable:
    # AnyMessage, not BaseMessage: a list[BaseMessage] input is decoded into bare
    # BaseMessage objects, which LangChain's tracers reject ("unsupported message type").
    return EchoChatModel().with_types(input_type=list[AnyMessage])


def configurable_chain() -> Runnable:
    prompt = PromptTemplate.from_template("say {name}").configurable_fields(
        template=ConfigurableField(id="template", name="Template", description="The template")
    )
    return prompt | RunnableLambda(lambda p: p.to_string())


def _add_one(x: int) -> int:
    return x + 1


def _fail(x: Any) -> Any:
    raise ValueError("secret failure detail")


async def _fail_mid_stream(x):
    yield 1
    raise ValueError("secret failure detail")


async def _words(text):
    for word in text.split():
        yield word + "|"


RUNNABLES: dict[str, Callable[[], Runnable]] = {
    "/joke": joke_chain,
    "/chat": chat_model,
    "/echo_chat": echo_chat_model,
    "/retriever": KeywordRetriever,
    "/configurable": configurable_chain,
    "/add_one": lambda: RunnableLambda(_add_one),
    "/fail": lambda: RunnableLambda(_fail),
    "/fail_mid_stream": lambda: RunnableLambda(_fail_mid_stream),
    "/words": lambda: RunnableLambda(_words),
}


def build_app(add_routes: Callable[..., Any]) -> FastAPI:
    """An app serving every runnable of ``RUNNABLES`` at its path."""
    app = FastAPI()
    for path, factory in RUNNABLES.items():
        add_routes(app, factory(), path=path)
    return app
