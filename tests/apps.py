"""Runnables served by the tests, buildable with chainserve's or LangServe's add_routes.

Building the same app with both packages lets interop tests compare a chainserve server
with the real LangServe one, and both with running the runnable locally.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from langchain_core.callbacks import (
    CallbackManagerForLLMRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel, FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    ConfigurableField,
    Runnable,
    RunnableLambda,
    RunnableParallel,
)
from pydantic import BaseModel, Field

from chainserve import CustomUserType

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


# Runnables for the playground's browser tests (not in RUNNABLES: LangServe need not
# serve them).


class FileRequest(CustomUserType):
    """A file, uploaded through the playground's base64file widget."""

    file: str = Field(..., json_schema_extra={"extra": {"widget": {"type": "base64file"}}})
    num_chars: int = 20


def _describe_file(request: FileRequest) -> str:
    content = base64.b64decode(request.file).decode("utf-8", errors="replace")
    return f"{len(content)} characters, starting with: {content[: request.num_chars]}"


def file_chain() -> Runnable:
    return RunnableLambda(_describe_file).with_types(input_type=FileRequest, output_type=str)


class ChatHistoryInput(BaseModel):
    """A chat widget over (human, ai) pairs, with the new question in its own field."""

    chat_history: list[tuple[str, str]] = Field(
        ...,
        examples=[[("hi", "hello")]],
        json_schema_extra={
            "extra": {"widget": {"type": "chat", "input": "question", "output": "answer"}}
        },
    )
    question: str


def _history_to_messages(request: dict[str, Any]) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for human, ai in request["chat_history"]:
        messages += [HumanMessage(content=human), AIMessage(content=ai)]
    return [*messages, HumanMessage(content=request["question"])]


def chat_widget_chain() -> Runnable:
    answer = RunnableLambda(_history_to_messages) | EchoChatModel() | StrOutputParser()
    return RunnableParallel(answer=answer).with_types(input_type=ChatHistoryInput)


class MessagesInput(BaseModel):
    """The chat playground's recommended input: one list of messages."""

    messages: list[AnyMessage]


def chat_messages_chain() -> Runnable:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful echo."), MessagesPlaceholder("messages")]
    )
    return (prompt | EchoChatModel()).with_types(input_type=MessagesInput)


def alternatives_chain() -> Runnable:
    """A chain whose model is a configurable alternative."""
    model = FakeListChatModel(
        responses=["Answer from the default model"]
    ).configurable_alternatives(
        ConfigurableField(id="model", name="Model", description="Which model answers"),
        default_key="default",
        other=FakeListChatModel(responses=["Answer from the other model"]),
    )
    prompt = ChatPromptTemplate.from_template("{question}")
    return prompt | model | StrOutputParser()
