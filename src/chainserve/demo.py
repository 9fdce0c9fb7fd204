"""The built-in demo: a few routes that work with no API key and no network.

Run it with ``python -m chainserve`` (``--port`` to choose the port).
"""

from __future__ import annotations

from fastapi import FastAPI
from langchain_core.documents import Document
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import ConfigurableField, Runnable, RunnableLambda

from chainserve.server import add_routes

_DOCS = [
    Document(page_content="chainserve serves LangChain runnables over HTTP."),
    Document(page_content="LangServe clients keep working against chainserve."),
    Document(page_content="Streams are Server-Sent Events."),
]


def local_model() -> FakeListChatModel:
    """A deterministic chat model that streams its answers character by character."""
    return FakeListChatModel(
        responses=[
            "Why did the robot cross the road? It was programmed to.",
            "Hello! I am a local model: no API key needed.",
        ]
    )


def _search(query: str) -> list[Document]:
    words = set(query.lower().split())
    return [doc for doc in _DOCS if words & set(doc.page_content.lower().split())]


def create_app() -> FastAPI:
    """The demo app: joke chain, chat model, retriever, configurable prompt."""
    app = FastAPI(title="chainserve demo")
    joke: Runnable = (
        ChatPromptTemplate.from_template("tell me a joke about {topic}")
        | local_model()
        | StrOutputParser()
    )
    add_routes(app, joke, path="/joke")
    add_routes(app, local_model().with_types(input_type=list[BaseMessage]), path="/chat")
    add_routes(app, RunnableLambda(_search).with_types(input_type=str), path="/search")
    prompt = PromptTemplate.from_template("Say hello to {name}.").configurable_fields(
        template=ConfigurableField(id="template", name="Template", description="The prompt")
    )
    add_routes(app, prompt | RunnableLambda(lambda p: p.to_string()), path="/greet")
    return app
