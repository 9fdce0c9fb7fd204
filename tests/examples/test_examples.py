"""Every example under examples/ imports and answers; every client snippet runs.

Examples are found by listing the folder, so a new example is covered as soon as it exists
(its test fails until it has an entry in ``CALLS``).
"""

from __future__ import annotations

import base64
import importlib.util
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from servers import serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SERVERS = sorted(EXAMPLES.glob("**/server.py"))
CLIENTS = sorted(EXAMPLES.glob("**/client.py"))
ALICE = {"Authorization": "Bearer token-alice"}


def name_of(path: Path) -> str:
    return path.parent.relative_to(EXAMPLES).as_posix()


def load(path: Path) -> ModuleType:
    """Import an example file under a unique module name (they are all server.py)."""
    module_name = "example_" + name_of(path).replace("/", "_") + "_" + path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Call:
    """One request to an example's route, and what its output must satisfy."""

    route: str
    body: dict[str, Any]
    check: Callable[[Any], bool]
    headers: dict[str, str] = field(default_factory=dict)


def _text(output: Any) -> str:
    return output["content"] if isinstance(output, dict) and "content" in output else output


CALLS = {
    "llm": Call("/joke/invoke", {"input": {"topic": "cats"}}, lambda o: "cats" in _text(o)),
    "retrieval": Call(
        "/search/invoke",
        {"input": "how do streams work"},
        lambda o: o[0]["metadata"]["source"] == "streaming.md",
    ),
    "conversational_retrieval": Call(
        "/conversational_retrieval/invoke",
        {"input": {"question": "what about workers?", "chat_history": [["hi", "hello"]]}},
        lambda o: o.startswith("From the documents:") and "workers" in o,
    ),
    "agent": Call(
        "/agent/invoke",
        {"input": {"input": "multiply 6 and 7"}},
        lambda o: o == {"output": "The tools answered: 42"},
    ),
    "chat_with_persistence": Call(
        "/chat/invoke",
        {"input": {"human_input": "hi"}, "config": {"configurable": {"session_id": "s1"}}},
        lambda o: _text(o) == "You said: hi",
    ),
    "chat_with_persistence_and_user": Call(
        "/chat/invoke",
        {"input": {"human_input": "hi"}, "config": {"configurable": {"conversation_id": "c"}}},
        lambda o: _text(o) == "You said: hi",
        headers={"X-User-Id": "ann"},
    ),
    "configurable_retrieval": Call(
        "/search/invoke",
        {"input": "cats", "config": {"configurable": {"index_name": "animals"}}},
        lambda o: "Cats purr" in o[0]["page_content"],
    ),
    "configurable_chain": Call(
        "/configurable/invoke",
        {"input": {"topic": "cats"}, "config": {"configurable": {"prompt": "poem"}}},
        lambda o: o == "You said: write a short poem about cats",
    ),
    "api_handler": Call("/joke/invoke", {"input": {"topic": "owls"}}, lambda o: "owls" in o),
    "passthrough_dict": Call(
        "/passthrough/invoke",
        {"input": {"topic": "cats", "audience": "kids"}},
        lambda o: o["original"]["audience"] == "kids" and o["length"] == len(o["joke"]),
    ),
    "auth/global_deps": Call(
        "/chat/invoke",
        {"input": "hi"},
        lambda o: _text(o) == "You said: hi",
        {"X-Token": "secret-token"},
    ),
    "auth/path_dependencies": Call(
        "/chat/invoke",
        {"input": "hi"},
        lambda o: _text(o) == "You said: hi",
        {"X-Token": "secret-token"},
    ),
    "auth/per_req_config_modifier": Call(
        "/my_documents/invoke",
        {"input": "cat called"},
        lambda o: [d["page_content"] for d in o] == ["Alice's cat is called Tiger."],
        ALICE,
    ),
    "auth/api_handler": Call(
        "/my_documents/invoke",
        {"input": "cat called"},
        lambda o: (
            o[0]["page_content"] == "Alice's cat is called Tiger."
            and all(d["metadata"]["owner"] == "alice" for d in o)
        ),
        ALICE,
    ),
    "widgets/chat": Call(
        "/chat/invoke",
        {"input": {"chat_history": [["hi", "hello"]], "question": "how are you?"}},
        lambda o: (
            o == {"answer": "You said: how are you? (2 earlier messages in this conversation.)"}
        ),
    ),
    "file_processing": Call(
        "/file/invoke",
        {"input": {"file": base64.b64encode(b"one\ntwo\n").decode(), "num_chars": 3}},
        lambda o: o == {"length": 8, "start": "one", "lines": 2},
    ),
    "custom_types": Call(
        "/order/invoke", {"input": {"item": "tea", "quantity": 2}}, lambda o: o == "2 x tea"
    ),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The local model, and chat histories in a fresh SQLite file."""
    monkeypatch.setenv("CHAINSERVE_MODEL", "local")
    database = tmp_path / "history.sqlite3"
    monkeypatch.setenv("CHAT_HISTORY_DB", str(database))
    return database


async def _client(path: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=load(path).app)
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        yield client


def test_the_gallery_is_complete() -> None:
    assert {name_of(path) for path in SERVERS} == set(CALLS)


@pytest.mark.parametrize("server", SERVERS, ids=name_of)
async def test_example_answers(server: Path) -> None:
    call = CALLS.get(name_of(server))
    assert call is not None, f"add a request for {name_of(server)} to CALLS"
    async for client in _client(server):
        response = await client.post(call.route, json=call.body, headers=call.headers)
        assert response.status_code == 200, response.text
        assert call.check(response.json()["output"]), response.json()["output"]
        assert (await client.get("/openapi.json")).status_code == 200


@pytest.mark.parametrize("client_file", CLIENTS, ids=name_of)
def test_client_snippet_runs_against_a_real_server(client_file: Path) -> None:
    app = load(client_file.parent / "server.py").app
    with serve(app) as base_url:
        assert load(client_file).main(base_url)


async def test_history_is_persisted_per_session(offline: Path) -> None:
    server = EXAMPLES / "chat_with_persistence" / "server.py"

    def turn(session: str, text: str) -> dict[str, Any]:
        config = {"configurable": {"session_id": session}}
        return {"input": {"human_input": text}, "config": config}

    async for client in _client(server):
        await client.post("/chat/invoke", json=turn("a", "hi"))
        second = await client.post("/chat/invoke", json=turn("a", "again"))
        other = await client.post("/chat/invoke", json=turn("b", "hi"))
    assert "(2 earlier messages" in _text(second.json()["output"])
    assert _text(other.json()["output"]) == "You said: hi"
    with sqlite3.connect(offline) as db:
        rows = db.execute("SELECT session_id, COUNT(*) FROM messages GROUP BY session_id")
        assert dict(rows.fetchall()) == {"a": 4, "b": 2}


async def test_history_is_per_user_and_conversation(offline: Path) -> None:
    server = EXAMPLES / "chat_with_persistence_and_user" / "server.py"
    body = {"input": {"human_input": "hi"}, "config": {"configurable": {"conversation_id": "c"}}}
    async for client in _client(server):
        assert (await client.post("/chat/invoke", json=body)).status_code == 401
        await client.post("/chat/invoke", json=body, headers={"X-User-Id": "ann"})
        ann = await client.post("/chat/invoke", json=body, headers={"X-User-Id": "ann"})
        bob = await client.post("/chat/invoke", json=body, headers={"X-User-Id": "bob"})
    assert "(2 earlier messages" in _text(ann.json()["output"])
    assert _text(bob.json()["output"]) == "You said: hi"


@pytest.mark.parametrize(
    "example",
    [
        "auth/global_deps",
        "auth/path_dependencies",
        "auth/per_req_config_modifier",
        "auth/api_handler",
    ],
)
async def test_auth_examples_reject_anonymous_requests(example: str) -> None:
    call = CALLS[example]
    async for client in _client(EXAMPLES / example / "server.py"):
        response = await client.post(call.route, json=call.body)
        assert response.status_code in (401, 403, 422), response.text
        bad = await client.post(
            call.route,
            json=call.body,
            headers={"X-Token": "wrong", "Authorization": "Bearer wrong"},
        )
        assert bad.status_code == 401, bad.text


async def test_per_user_auth_keeps_users_apart() -> None:
    for example in ("auth/per_req_config_modifier", "auth/api_handler"):
        async for client in _client(EXAMPLES / example / "server.py"):
            bob = {"Authorization": "Bearer token-bob"}
            response = await client.post("/my_documents/invoke", json={"input": "cat"}, headers=bob)
            contents = [d["page_content"] for d in response.json()["output"]]
            assert contents == ["Bob's cat is called Felix."], example
