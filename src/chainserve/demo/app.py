"""The built-in demo app: what ``chainserve serve`` runs when it is given no target."""

from __future__ import annotations

from fastapi import FastAPI
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.runnables import ConfigurableField, Runnable, RunnableLambda
from pydantic import BaseModel, Field

from chainserve.demo.model import chat_model
from chainserve.demo.retriever import KeywordRetriever, load_documents
from chainserve.protocols import installed
from chainserve.server import add_routes

ROUTES = {
    "/chat": "a chat model: send a list of messages",
    "/joke": 'prompt | model | parser: {"topic": "cats"}',
    "/search": "a retriever over the bundled documents: send a query string",
    "/ask": 'retrieval-augmented answers: {"question": "how do streams work?"}',
    "/configurable": "a configurable chain: fields (template) and alternatives (style)",
    "/assistant": 'a chat-playground route: {"messages": [...]}',
}


class ChatInput(BaseModel):
    """The conversation so far, newest message last."""

    messages: list[AnyMessage] = Field(..., description="The chat messages")


class AskInput(BaseModel):
    """A question about chainserve, answered from the bundled documents."""

    question: str = Field(
        ...,
        description="A question about chainserve",
        examples=["how do streams work?", "what are workers?"],
    )


def _format_documents(documents: list) -> str:
    return "\n".join(f"- {doc.page_content}" for doc in documents)


def _ask_chain(model: BaseChatModel, retriever: KeywordRetriever) -> Runnable:
    prompt = ChatPromptTemplate.from_template(
        "Answer from this context only.\nContext:\n{context}\nQuestion: {question}"
    )
    context = RunnableLambda(lambda x: x["question"]) | retriever | _format_documents
    chain = {"context": context, "question": lambda x: x["question"]} | prompt | model
    # Typed input: the untyped ``question`` of the mapping would be a raw JSON field.
    return (chain | StrOutputParser()).with_types(input_type=AskInput)


def _configurable_chain(model: BaseChatModel) -> Runnable:
    prompt = PromptTemplate.from_template("tell me a joke about {topic}").configurable_fields(
        template=ConfigurableField(id="template", name="Prompt", description="The prompt")
    )
    style = StrOutputParser().configurable_alternatives(
        ConfigurableField(id="style", name="Style", description="plain or shout"),
        default_key="plain",
        shout=StrOutputParser() | RunnableLambda(str.upper),
    )
    return prompt | model | style


def _assistant(model: BaseChatModel) -> Runnable:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful assistant."), MessagesPlaceholder("messages")]
    )
    return (prompt | model).with_types(input_type=ChatInput)  # type: ignore[arg-type]


def create_app(model: BaseChatModel | None = None) -> FastAPI:
    """The demo: the routes of ``ROUTES``, all answering offline with the local model."""
    model = model or chat_model()
    retriever = KeywordRetriever(documents=load_documents())
    app = FastAPI(
        title="chainserve demo",
        description="Routes that work with no API key: " + "; ".join(ROUTES),
    )
    joke = ChatPromptTemplate.from_template("tell me a joke about {topic}") | model
    # The chat routes also speak the open protocols (MCP and A2A when their SDKs are in).
    mcp, a2a = installed("mcp"), installed("a2a")
    chat = model.with_types(input_type=list[AnyMessage])
    add_routes(app, chat, path="/chat", openai=True, mcp=mcp, a2a=a2a)
    add_routes(app, joke | StrOutputParser(), path="/joke")
    add_routes(app, retriever, path="/search")
    add_routes(app, _ask_chain(model, retriever), path="/ask")
    add_routes(app, _configurable_chain(model), path="/configurable")
    assistant = _assistant(model)
    add_routes(
        app, assistant, path="/assistant", playground_type="chat", openai=True, mcp=mcp, a2a=a2a
    )
    return app
