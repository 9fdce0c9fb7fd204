"""The local deterministic chat model, and the choice between it and a real model."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.tools import tool

from chainserve.demo import (
    KeywordRetriever,
    LocalChatModel,
    SQLiteChatMessageHistory,
    chat_model,
    describe,
    load_documents,
)


def test_answers_depend_only_on_the_input() -> None:
    model = LocalChatModel()
    joke = model.invoke("tell me a joke about cats")
    assert joke.content == model.invoke("tell me a joke about cats").content
    assert "cats" in joke.text
    assert model.invoke("hello").content == "You said: hello"
    history = [SystemMessage(content="be nice"), HumanMessage(content="a"), AIMessage(content="b")]
    reply = model.invoke([*history, HumanMessage(content="c")])
    assert reply.content == "You said: c (2 earlier messages in this conversation.)"


def test_answers_a_question_from_the_context() -> None:
    prompt = "Context:\n- Cats purr.\n- Dogs bark loudly.\nQuestion: do dogs bark?"
    assert LocalChatModel().invoke(prompt).content == "From the documents: Dogs bark loudly."
    nothing = "Context:\n- Cats purr.\nQuestion: what about planets?"
    assert "nothing" in LocalChatModel().invoke(nothing).text


async def test_streams_token_by_token() -> None:
    model = LocalChatModel()
    sync_chunks = [chunk.content for chunk in model.stream("one two three")]
    async_chunks = [chunk.content async for chunk in model.astream("one two three")]
    expected = ["You", " said:", " one", " two", " three"]
    assert [c for c in sync_chunks if c] == expected
    assert [c for c in async_chunks if c] == expected


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def search_docs(query: str) -> str:
    """Search the docs."""
    return query


async def test_calls_the_tool_it_is_asked_for_then_summarizes() -> None:
    model = LocalChatModel().bind_tools([search_docs, multiply])
    call = (await model.ainvoke([HumanMessage(content="multiply 6 and 7")])).tool_calls[0]
    assert (call["name"], call["args"]) == ("multiply", {"a": 6, "b": 7})
    search = model.invoke("search the docs for workers").tool_calls[0]
    assert search["args"] == {"query": "search the docs for workers"}
    streamed = None
    async for chunk in model.astream("multiply 2 and 3"):
        streamed = chunk if streamed is None else streamed + chunk
    assert isinstance(streamed, AIMessageChunk)
    assert streamed.tool_calls[0]["args"] == {"a": 2, "b": 3}
    result = await multiply.ainvoke(call)
    final = model.invoke(
        [HumanMessage(content="multiply 6 and 7"), AIMessage("", tool_calls=[call]), result]
    )
    assert final.content == "The tools answered: 42"


class _FakeChatModel(LocalChatModel):
    model: str


@pytest.mark.parametrize(
    ("keys", "installed", "expected"),
    [
        ({}, {"langchain_openai", "langchain_anthropic"}, None),
        ({"OPENAI_API_KEY": "k"}, {"langchain_openai"}, "langchain_openai"),
        ({"OPENAI_API_KEY": "k"}, set(), None),
        ({"ANTHROPIC_API_KEY": "k"}, {"langchain_anthropic"}, "langchain_anthropic"),
        (
            {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"},
            {"langchain_anthropic"},
            "langchain_anthropic",
        ),
        ({"OPENAI_API_KEY": "k", "CHAINSERVE_MODEL": "local"}, {"langchain_openai"}, None),
    ],
)
def test_a_real_model_needs_its_key_and_its_package(
    monkeypatch: pytest.MonkeyPatch, keys: dict, installed: set, expected: str | None
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CHAINSERVE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    for module_name, class_name in (
        ("langchain_openai", "ChatOpenAI"),
        ("langchain_anthropic", "ChatAnthropic"),
    ):
        if module_name in installed:
            module = types.ModuleType(module_name)
            setattr(
                module, class_name, type(class_name, (_FakeChatModel,), {"__module__": module_name})
            )
            monkeypatch.setitem(sys.modules, module_name, module)
        else:
            monkeypatch.setitem(sys.modules, module_name, None)  # import fails
    model = chat_model()
    if expected is None:
        assert type(model) is LocalChatModel
        assert "local deterministic model" in describe(model)
    else:
        assert type(model).__module__ == expected
        assert model.model in ("gpt-4o-mini", "claude-3-5-haiku-latest")


def test_the_bundled_documents_are_searchable() -> None:
    documents = load_documents()
    assert len({d.metadata["source"] for d in documents}) >= 4
    found = KeywordRetriever(documents=documents, k=2).invoke("how does docker work?")
    assert found[0].metadata["source"] == "deployment.md"
    assert KeywordRetriever(documents=documents).invoke("the of and") == []


def test_sqlite_history_is_kept_in_the_file_per_session(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    SQLiteChatMessageHistory("a", path).add_messages(
        [HumanMessage(content="hi"), AIMessage(content="yo")]
    )
    SQLiteChatMessageHistory("b", path).add_messages([HumanMessage(content="other")])
    reopened = SQLiteChatMessageHistory("a", path)
    assert [(m.type, m.content) for m in reopened.messages] == [("human", "hi"), ("ai", "yo")]
    reopened.clear()
    assert reopened.messages == []
    assert [m.content for m in SQLiteChatMessageHistory("b", path).messages] == ["other"]
