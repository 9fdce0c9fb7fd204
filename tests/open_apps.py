"""The app the open-protocol tests (OpenAI, MCP, A2A) talk to: routes of every input
shape, each also run locally by the tests to compare with what the protocols answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel, Field

from chainserve import Limits, add_routes
from chainserve.demo import LocalChatModel

KEY = "sk-test-key"
# An OpenAI tool, as clients send it.
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ALL = {"openai": True, "mcp": True, "a2a": True}


class Tuned(LocalChatModel):
    """The local model, with a temperature it reports in its answers (to show that a
    request's sampling parameters reach the model)."""

    temperature: float | None = None

    def _reply(self, messages: list[BaseMessage], stop: Any, kwargs: dict[str, Any]) -> AIMessage:
        reply = super()._reply(messages, stop, kwargs)
        if self.temperature is None or reply.tool_calls:
            return reply
        return AIMessage(
            content=f"{reply.text} (temperature {self.temperature})",
            usage_metadata=reply.usage_metadata,
        )


class ChatInput(BaseModel):
    messages: list[AnyMessage] = Field(..., description="The conversation")


class Question(BaseModel):
    question: str = Field(..., description="What to ask")


class Order(BaseModel):
    item: str
    quantity: int


def shout(text: str) -> str:
    """Shout the text back."""
    return text.upper()


def answer(question: dict[str, Any]) -> str:
    """Answer a question about jokes."""
    return f"A joke about {question['question']}"


def price(order: dict[str, Any]) -> dict[str, Any]:
    """Price an order."""
    return {"item": order["item"], "total": 3 * order["quantity"]}


def fail(text: str) -> str:
    raise RuntimeError("secret internals")


class Stall:
    """A runnable that waits until it is cancelled, and says when it started and ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, text: str) -> AsyncIterator[str]:
        self.loop = asyncio.get_running_loop()
        self.loop.call_soon_threadsafe(self.started.set)
        yield "waiting "
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        yield "done"


def support_graph(model: Runnable) -> Any:
    """A LangGraph graph on ``{"messages": [...]}``: one node asking the model."""

    def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    builder.add_edge("respond", END)
    return builder.compile()


def assistant(model: Runnable) -> Runnable:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are helpful."), MessagesPlaceholder("messages")]
    )
    return (prompt | model).with_types(input_type=ChatInput)  # type: ignore[arg-type]


def story(model: Runnable) -> Runnable:
    def ask(text: str) -> list[BaseMessage]:
        return [HumanMessage(text)]

    return (RunnableLambda(ask) | model | StrOutputParser()).with_types(input_type=str)


def check_key(request: Request) -> None:
    """Bearer-key auth, as an app would write it."""
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        raise HTTPException(401, "Send Authorization: Bearer <key>")
    if header.removeprefix("Bearer ") != KEY:
        raise HTTPException(403, "Wrong key")


ROUTES: dict[str, Runnable] = {
    "/chat": Tuned(),
    "/support": support_graph(LocalChatModel()),
    "/assistant": assistant(LocalChatModel()),
    "/text/shout": RunnableLambda(shout),
    "/text/story": story(LocalChatModel()),
    "/fail": RunnableLambda(fail),
}
OBJECT_ROUTES: dict[str, Runnable] = {
    "/joke": RunnableLambda(answer).with_types(input_type=Question),
    "/typed": RunnableLambda(price).with_types(input_type=Order),
}


def open_app(stall: Stall | None = None, busy: Stall | None = None) -> FastAPI:
    """Every route with every protocol it can have; ``/secure/chat`` needs ``KEY``.

    ``/slow`` runs ``stall``, if given. ``/busy`` takes one run at a time: of ``busy``
    (which holds it until cancelled) if given, else of a ``Tuned`` model.
    """
    app = FastAPI()
    for path, runnable in ROUTES.items():
        add_routes(app, runnable, path=path, **ALL)
    for path, runnable in OBJECT_ROUTES.items():
        add_routes(app, runnable, path=path, mcp=True, a2a=True)
    add_routes(
        app, LocalChatModel(), path="/secure/chat", dependencies=[Depends(check_key)], openai=True
    )
    held = Tuned() if busy is None else RunnableLambda(busy).with_types(input_type=str)
    add_routes(app, held, path="/busy", openai=True, limits=Limits(max_concurrent_runs=1))
    if stall is not None:
        add_routes(
            app,
            RunnableLambda(stall).with_types(input_type=str),
            path="/slow",
            openai=True,
            mcp=True,
            a2a=True,
        )
    return app
