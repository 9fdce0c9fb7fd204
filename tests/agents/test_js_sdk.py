"""The official JS client ``@langchain/langgraph-sdk`` against a loopback chainserve
server speaking the Agent Protocol.

``js/client.mjs`` runs every operation below, in order, in one node process. Each test
checks some of their results against the values the graphs must give. The Python client
``langgraph_sdk`` also makes the calls of ``SHARED`` (on threads of its own): its results
must be the JS client's but for ids and times. ``JS_ONLY`` are calls the Python client
makes differently, and background runs on ``Slow`` nodes that the JS client releases or
cancels while it follows them.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graph_apps import stateless_counter_graph
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import APIStatusError
from protocol_apps import (
    NEW_THREAD_KEYS,
    Slow,
    ask_graph,
    chat_model_graph,
    inc,
    one_node_graph,
    parent_graph,
    serve_with_lifespan,
)
from servers import node_script

from chainserve.agents import add_graphs

JS_DIR = Path(__file__).parent / "js"
REPLY = "Hello from the fake model, token by token."
HI = {"messages": [{"role": "user", "content": "hi"}]}
GRAPH_IDS = {"inc", "ask", "parent", "counter", "slow", "stuck", "chat"}
UNKNOWN = str(uuid.uuid4())

Operation = dict[str, Any]
Result = dict[str, Any]


def sdk_app(folder: Path, slow: Slow, stuck: Slow) -> FastAPI:
    """The graphs ``GRAPH_IDS`` on ``folder/db.sqlite``: ``slow`` runs until a client
    posts ``/_test/release``, ``stuck`` until it is cancelled."""
    app = FastAPI()

    @app.post("/_test/release")
    def release() -> dict[str, bool]:
        slow.release.set()
        return {"released": True}

    graphs = {
        "inc": one_node_graph(inc),
        "ask": ask_graph(),
        "parent": parent_graph(),
        "counter": stateless_counter_graph(),
        "slow": one_node_graph(slow, "slow_step"),
        "stuck": one_node_graph(stuck, "stuck_step"),
        "chat": chat_model_graph(REPLY, "chat"),
    }
    add_graphs(app, graphs, database=f"sqlite:///{folder / 'db.sqlite'}")
    return app


def ref(path: str) -> dict[str, str]:
    """In an operation's args: part of an earlier operation's value (see client.mjs)."""
    return {"$ref": path}


def tid(name: str) -> dict[str, str]:
    """The thread id of the thread operation ``name`` created."""
    return ref(f"{name}.thread_id")


def op(id_: str, call: str, *args: Any, **options: Any) -> Operation:
    """An operation of client.mjs; ``options`` are its ``during`` and ``onRunCreated``."""
    return {"id": id_, "call": call, "args": list(args), **options}


@dataclass(frozen=True)
class Ids:
    """What one client's operations make their own: the metadata tag of its searched
    threads, the id it chooses for a thread, and the id of a thread a run creates."""

    suite: str
    chosen: str
    created: str

    @classmethod
    def new(cls) -> Ids:
        return cls(uuid.uuid4().hex, str(uuid.uuid4()), str(uuid.uuid4()))


def shared_operations(ids: Ids) -> list[Operation]:
    """The operations both clients make, in client.mjs's terms."""
    suite = ids.suite
    return [
        # Threads: create, get, search.
        *(
            op(f"thread-{n}", "threads.create", {"metadata": {"suite": suite, "n": n}})
            for n in (0, 1, 2)
        ),
        op("chosen", "threads.create", {"threadId": ids.chosen, "metadata": {"v": 1}}),
        op(
            "chosen-kept",
            "threads.create",
            {"threadId": ids.chosen, "metadata": {"v": 2}, "ifExists": "do_nothing"},
        ),
        op("chosen-conflict", "threads.create", {"threadId": ids.chosen}),
        op("get-thread-0", "threads.get", tid("thread-0")),
        op("search-suite", "threads.search", {"metadata": {"suite": suite}, "limit": 2}),
        op("search-n", "threads.search", {"metadata": {"suite": suite, "n": 1}}),
        op("count-suite", "threads.count", {"metadata": {"suite": suite}}),
        op("get-unknown", "threads.get", UNKNOWN),
        op("get-invalid", "threads.get", "not-a-uuid"),
        # runs.wait on a thread, on a thread it creates, and stateless.
        op("wait-thread", "threads.create", {"metadata": {"purpose": "wait"}}),
        op("wait-1", "runs.wait", tid("wait-thread"), "inc", {"input": {"count": 1}}),
        op("wait-2", "runs.wait", tid("wait-thread"), "inc", {"input": {"count": 10}}),
        op("wait-thread-after", "threads.get", tid("wait-thread")),
        op("wait-runs", "runs.list", tid("wait-thread")),
        op(
            "wait-create",
            "runs.wait",
            ids.created,
            "inc",
            {"input": {"count": 0}, "ifNotExists": "create"},
        ),
        op("wait-stateless", "runs.wait", None, "inc", {"input": {"count": 4}}),
        op("wait-failing", "runs.wait", None, "inc", {"input": {"count": -1}}),
        op(
            "wait-failing-quiet",
            "runs.wait",
            None,
            "inc",
            {"input": {"count": -1}, "raiseError": False},
        ),
        # An interrupt, the state it leaves, and resuming it.
        op("ask-thread", "threads.create"),
        op("ask-wait", "runs.wait", tid("ask-thread"), "ask", {"input": {"question": "q"}}),
        op("ask-thread-interrupted", "threads.get", tid("ask-thread")),
        op("ask-state", "threads.getState", tid("ask-thread")),
        op(
            "ask-resume",
            "runs.wait",
            tid("ask-thread"),
            "ask",
            {"command": {"resume": {"ok": True}}},
        ),
        op("ask-state-after", "threads.getState", tid("ask-thread")),
        op("ask-history", "threads.getHistory", tid("ask-thread")),
        op(
            "ask-history-before",
            "threads.getHistory",
            tid("ask-thread"),
            {
                "limit": 1,
                "before": {"configurable": {"checkpoint_id": ref("ask-state-after.checkpoint_id")}},
            },
        ),
        op("ask-thread-after", "threads.get", tid("ask-thread")),
        # The same through runs.stream.
        op("ask2-thread", "threads.create"),
        op(
            "ask2-stream",
            "runs.stream",
            tid("ask2-thread"),
            "ask",
            {"input": {"question": "q2"}, "streamMode": "values"},
        ),
        op(
            "ask2-resume",
            "runs.stream",
            tid("ask2-thread"),
            "ask",
            {"command": {"resume": "yes"}, "streamMode": "updates"},
        ),
        # runs.stream with each kind of stream mode, on threads and stateless.
        op("stream-thread", "threads.create"),
        op(
            "stream-values",
            "runs.stream",
            tid("stream-thread"),
            "counter",
            {"input": HI, "streamMode": "values"},
        ),
        op(
            "stream-modes",
            "runs.stream",
            tid("stream-thread"),
            "inc",
            {"input": {"count": 1}, "streamMode": ["values", "updates", "custom"]},
        ),
        op("stream-stateless", "runs.stream", None, "inc", {"input": {"count": 5}}),
        op("chat-thread", "threads.create"),
        op(
            "stream-chat",
            "runs.stream",
            tid("chat-thread"),
            "chat",
            {"input": HI, "streamMode": "messages-tuple"},
        ),
        op("chat-state", "threads.getState", tid("chat-thread")),
        op(
            "stream-chat-messages",
            "runs.stream",
            tid("chat-thread"),
            "chat",
            {"input": HI, "streamMode": "messages"},
        ),
        op("sub-thread", "threads.create"),
        op(
            "stream-subgraphs",
            "runs.stream",
            tid("sub-thread"),
            "parent",
            {"input": {"messages": "a"}, "streamMode": "updates", "streamSubgraphs": True},
        ),
        op("stream-failing", "runs.stream", None, "inc", {"input": {"count": -3}}),
        op(
            "stream-bogus",
            "runs.stream",
            tid("stream-thread"),
            "inc",
            {"input": {}, "streamMode": "bogus"},
        ),
        # Assistants.
        op("assistants", "assistants.search"),
        op("assistant-chat", "assistants.get", "chat"),
        op("assistant-by-id", "assistants.get", ref("assistant-chat.assistant_id")),
        op("graph-counter", "assistants.getGraph", "counter"),
        op("graph-parent-xray", "assistants.getGraph", "parent", {"xray": True}),
        op("schemas-counter", "assistants.getSchemas", "counter"),
        op("assistant-unknown", "assistants.get", UNKNOWN),
    ]


def bg(name: str) -> list[Any]:
    """The thread and run ids of the background run ``name``-run on thread ``name``-thread."""
    return [tid(f"{name}-thread"), ref(f"{name}-run.run_id")]


RELEASE = op("release", "http", "POST", "/_test/release")
CANCEL = op("cancel", "runs.cancel", *bg("cancel"), True)

# What the JS client alone does: calls the Python client makes otherwise (reading a
# state at a checkpoint, paging, onRunCreated), and runs that wait on ``Slow`` nodes.
JS_ONLY: list[Operation] = [
    op("ask-state-at-id", "threads.getState", tid("ask-thread"), ref("ask-state.checkpoint_id")),
    op(
        "ask-state-at-checkpoint",
        "threads.getState",
        tid("ask-thread"),
        ref("ask-state.checkpoint"),
    ),
    op("assistants-page", "assistants.search", {"limit": 2, "includePagination": True}),
    # A background run followed live, joined, then replayed from its start, from an
    # event, and for one mode only.
    op("bg-thread", "threads.create"),
    op(
        "bg-run",
        "runs.create",
        tid("bg-thread"),
        "slow",
        {"input": {"count": 3}, "streamMode": ["values", "custom"], "streamResumable": True},
        onRunCreated=True,
    ),
    op("bg-follow", "runs.joinStream", *bg("bg"), during={"event": "custom", "op": RELEASE}),
    op("bg-join", "runs.join", *bg("bg")),
    op("bg-get", "runs.get", *bg("bg")),
    op("bg-replay", "runs.joinStream", *bg("bg"), {"lastEventId": "-1"}),
    op("bg-replay-after", "runs.joinStream", *bg("bg"), {"lastEventId": ref("bg-replay.1.id")}),
    op(
        "bg-replay-values",
        "runs.joinStream",
        *bg("bg"),
        {"lastEventId": "-1", "streamMode": "values"},
    ),
    # Cancelling a run while following it.
    op("cancel-thread", "threads.create"),
    op(
        "cancel-run",
        "runs.create",
        tid("cancel-thread"),
        "stuck",
        {"input": {"count": 1}, "streamMode": "custom"},
    ),
    op("cancel-follow", "runs.joinStream", *bg("cancel"), during={"event": "custom", "op": CANCEL}),
    op("cancel-get", "runs.get", *bg("cancel")),
    op("cancel-thread-after", "threads.get", tid("cancel-thread")),
    op("cancel-again", "runs.cancel", *bg("cancel")),
    # What the SDK reads of the run from the response's Content-Location.
    op(
        "created-wait",
        "runs.wait",
        tid("bg-thread"),
        "inc",
        {"input": {"count": 0}},
        onRunCreated=True,
    ),
    op("created-stream", "runs.stream", None, "inc", {"input": {"count": 0}}, onRunCreated=True),
]

JS_IDS, PY_IDS = Ids.new(), Ids.new()
SHARED = shared_operations(JS_IDS)
OPERATIONS = SHARED + JS_ONLY


def _all_ids(operations: list[Operation]) -> list[str]:
    ids = []
    for operation in operations:
        if "during" in operation:
            ids += _all_ids([operation["during"]["op"]])
        ids.append(operation["id"])
    return ids


@dataclass
class Server:
    url: str
    slow: Slow
    stuck: Slow

    def client(self) -> SyncLangGraphClient:
        return get_sync_client(url=self.url)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    slow, stuck = Slow(), Slow()
    with serve_with_lifespan(sdk_app(tmp_path_factory.mktemp("js_sdk"), slow, stuck)) as url:
        try:
            yield Server(url, slow, stuck)
        finally:
            slow.release.set()
            stuck.release.set()


@pytest.fixture(scope="session")
def js_sdk() -> list[str]:
    return node_script(JS_DIR, "@langchain/langgraph-sdk")


@pytest.fixture(scope="module")
def js(js_sdk: list[str], server: Server) -> dict[str, Result]:
    """Every operation's result, by id, from one run of client.mjs."""
    done = subprocess.run(
        [*js_sdk, server.url],
        input=json.dumps(OPERATIONS),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=JS_DIR,
    )
    assert done.returncode == 0, done.stderr
    results: list[Result] = json.loads(done.stdout)
    assert [result["id"] for result in results] == _all_ids(OPERATIONS)
    return {result["id"]: result for result in results}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _resolve(value: Any, values: dict[str, Any]) -> Any:
    """``value`` with its ``$ref``s replaced, as client.mjs does."""
    if isinstance(value, list):
        return [_resolve(item, values) for item in value]
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            first, *path = value["$ref"].split(".")
            found = values[first]
            for key in path:
                found = found[int(key)] if isinstance(found, list) else found[key]
            return found
        return {key: _resolve(item, values) for key, item in value.items()}
    return value


def python_results(client: SyncLangGraphClient, operations: list[Operation]) -> dict[str, Result]:
    """Each operation made with ``langgraph_sdk`` (``runs.joinStream(t, r, {"lastEventId":
    i})`` as ``runs.join_stream(t, r, last_event_id=i)``), its result shaped as client.mjs
    shapes the JS client's."""
    values: dict[str, Any] = {}
    results: dict[str, Result] = {}
    for operation in operations:
        group, method = operation["call"].split(".")
        args = _resolve(operation["args"], values)
        payload = args.pop() if args and isinstance(args[-1], dict) else {}
        call = getattr(getattr(client, group), _snake(method))
        result: Result = {"id": operation["id"]}
        try:
            value = call(*args, **{_snake(key): item for key, item in payload.items()})
            if isinstance(value, Iterator):
                value = [_part(part) for part in value]
        except (APIStatusError, httpx.HTTPStatusError) as exc:
            status, body = exc.response.status_code, exc.response.json()
            result.update(ok=False, error=str(exc), status=status, body=body)
        except Exception as exc:
            result.update(ok=False, error=str(exc), status=None, body=None)
        else:
            values[operation["id"]] = value
            result.update(ok=True, value=value)
        results[operation["id"]] = result
    return results


def _part(part: Any) -> dict[str, Any]:
    shaped = {"event": part.event, "data": part.data}
    return shaped if part.id is None else {**shaped, "id": part.id}


@pytest.fixture(scope="module")
def py(server: Server) -> dict[str, Result]:
    """The results of ``SHARED`` made with the Python client, on threads of its own."""
    return python_results(server.client(), shared_operations(PY_IDS))


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile(r"\b[0-9a-f]{32}\b")  # interrupt ids, Ids.suite
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")
_EVENT_ID = re.compile(r"^\d+-\d+$")


def shape(value: Any) -> Any:
    """``value`` but for what two runs of the same calls make differently: ids, times."""
    if isinstance(value, dict):
        return {shape(key): shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, str):
        value = _UUID.sub("<uuid>", _EVENT_ID.sub("<event>", value))
        return _TIME.sub("<time>", _HEX.sub("<hex>", value))
    return value


def outcome(result: Result) -> dict[str, Any]:
    """What must be the same of a call's result in both clients."""
    if result["ok"]:
        return {"value": shape(result["value"])}
    if result["status"] is None:  # not an HTTP error: its message
        return {"error": result["error"]}
    return {"status": result["status"], "body": shape(result["body"])}


def ok(js: dict[str, Result], id_: str) -> Any:
    """The value of the operation ``id_``, which must have succeeded."""
    result = js[id_]
    assert result["ok"], result
    return result["value"]


def failed(js: dict[str, Result], id_: str) -> Result:
    result = js[id_]
    assert not result["ok"], result
    return result


def events(parts: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(part["event"], part["data"]) for part in parts]


@pytest.mark.parametrize("id_", [operation["id"] for operation in SHARED])
def test_same_result_as_the_python_sdk(
    js: dict[str, Result], py: dict[str, Result], id_: str
) -> None:
    assert outcome(js[id_]) == outcome(py[id_])


def test_threads_create_get_and_if_exists(js: dict[str, Result]) -> None:
    thread = ok(js, "thread-0")
    assert set(thread) == NEW_THREAD_KEYS
    assert thread["metadata"] == {"suite": JS_IDS.suite, "n": 0}
    assert (thread["status"], thread["config"], thread["values"]) == ("idle", {}, None)
    assert ok(js, "get-thread-0") == thread
    chosen = ok(js, "chosen")
    assert (chosen["thread_id"], chosen["metadata"]) == (JS_IDS.chosen, {"v": 1})
    assert ok(js, "chosen-kept") == chosen  # do_nothing: the thread as it was
    conflict = failed(js, "chosen-conflict")
    assert conflict["status"] == 409
    assert conflict["body"] == {"detail": f"Thread with ID {JS_IDS.chosen} already exists"}


def test_threads_search_by_metadata_with_a_limit(js: dict[str, Result]) -> None:
    newest = [ok(js, "thread-2")["thread_id"], ok(js, "thread-1")["thread_id"]]
    assert [thread["thread_id"] for thread in ok(js, "search-suite")] == newest
    assert ok(js, "search-n") == [ok(js, "thread-1")]
    assert ok(js, "count-suite") == 3


def test_http_errors_reject_with_their_status(js: dict[str, Result]) -> None:
    unknown = failed(js, "get-unknown")
    assert unknown["status"] == 404
    assert unknown["body"] == {"detail": f"Thread with ID {UNKNOWN} not found"}
    assert unknown["error"] == f"HTTP 404: {json.dumps(unknown['body'], separators=(',', ':'))}"
    assert failed(js, "get-invalid")["body"] == {"detail": "Invalid thread ID: must be a UUID"}
    assert failed(js, "get-invalid")["status"] == 422
    assert failed(js, "assistant-unknown")["status"] == 404
    bogus = failed(js, "stream-bogus")
    assert (bogus["status"], bogus["value"]) == (422, [])
    assert "stream_mode" in bogus["body"]["detail"]


def test_wait(js: dict[str, Result]) -> None:
    assert ok(js, "wait-1") == {"count": 2}
    assert ok(js, "wait-2") == {"count": 11}
    thread = ok(js, "wait-thread-after")
    assert (thread["status"], thread["values"]) == ("idle", {"count": 11})
    assert thread["metadata"]["purpose"] == "wait"
    assert thread["metadata"]["graph_id"] == "inc"
    runs = ok(js, "wait-runs")
    assert [run["status"] for run in runs] == ["success", "success"]
    assert [run["kwargs"]["input"] for run in runs] == [{"count": 10}, {"count": 1}]
    assert ok(js, "wait-create") == {"count": 1}
    assert ok(js, "wait-stateless") == {"count": 5}
    # The SDK throws the run's error, unless told not to.
    assert failed(js, "wait-failing")["error"] == "ValueError: negative count"
    assert ok(js, "wait-failing-quiet") == {
        "__error__": {"error": "ValueError", "message": "negative count"}
    }


def test_interrupt_state_and_resume(js: dict[str, Result]) -> None:
    asked = ok(js, "ask-wait")
    assert asked["question"] == "q"
    (interrupt,) = asked["__interrupt__"]
    assert interrupt["value"] == {"question": "ok?"}
    thread = ok(js, "ask-thread-interrupted")
    assert thread["status"] == "interrupted"
    (task_id,) = thread["interrupts"]
    assert thread["interrupts"][task_id] == [{"id": interrupt["id"], "value": {"question": "ok?"}}]

    state = ok(js, "ask-state")
    assert state["values"] == {"question": "q"}
    assert state["next"] == ["ask"]
    (task,) = state["tasks"]
    assert (task["id"], task["name"]) == (task_id, "ask")
    assert task["interrupts"] == [{"id": interrupt["id"], "value": {"question": "ok?"}}]
    assert state["interrupts"] == task["interrupts"]

    assert ok(js, "ask-resume") == {"question": "q", "answer": {"ok": True}}
    after = ok(js, "ask-state-after")
    assert (after["values"], after["next"], after["tasks"]) == (
        {"question": "q", "answer": {"ok": True}},
        [],
        [],
    )
    assert after["parent_checkpoint_id"] == state["checkpoint_id"]
    history = ok(js, "ask-history")
    assert history[:2] == [
        after,
        {**state, "tasks": [{**task, "result": {"answer": {"ok": True}}}]},
    ]
    assert [(h["metadata"]["step"], h["next"]) for h in history] == [
        (1, []),
        (0, ["ask"]),
        (-1, ["__start__"]),
    ]
    assert ok(js, "ask-history-before") == [history[1]]
    # Read at the interrupt's checkpoint, by its id (GET) or as a checkpoint (POST).
    assert ok(js, "ask-state-at-id") == history[1]
    assert ok(js, "ask-state-at-checkpoint") == history[1]
    assert ok(js, "ask-thread-after")["status"] == "idle"


def test_interrupt_and_resume_streamed(js: dict[str, Result]) -> None:
    asked = events(ok(js, "ask2-stream"))
    assert [event for event, _ in asked] == ["metadata", "values", "values"]
    assert asked[1][1] == {"question": "q2"}
    assert asked[2][1]["__interrupt__"][0]["value"] == {"question": "ok?"}
    resumed = events(ok(js, "ask2-resume"))
    assert resumed[1:] == [("updates", {"ask": {"answer": "yes"}})]


def test_stream_values(js: dict[str, Result]) -> None:
    parts = ok(js, "stream-values")
    assert all("id" not in part for part in parts)  # not resumable: no event ids
    (metadata, first, last) = events(parts)
    assert metadata[0] == "metadata" and set(metadata[1]) == {"run_id", "attempt"}
    assert first[0] == last[0] == "values"
    assert [(m["type"], m["content"]) for m in last[1]["messages"]] == [
        ("human", "hi"),
        ("ai", "reply 1 to hi"),
    ]
    assert (last[1]["count"], last[1]["seen"]) == (1, ["hi"])


def test_stream_a_list_of_modes(js: dict[str, Result]) -> None:
    assert events(ok(js, "stream-modes"))[1:] == [
        ("values", {"count": 1}),
        ("custom", {"progress": "start", "count": 1}),
        ("updates", {"inc": {"count": 2}}),
        ("values", {"count": 2}),
    ]


def test_stateless_stream(js: dict[str, Result]) -> None:
    parts = events(ok(js, "stream-stateless"))
    assert [event for event, _ in parts] == ["metadata", "values", "values"]
    assert [data for _, data in parts[1:]] == [{"count": 5}, {"count": 6}]


def test_messages_tuple_streams_the_model_tokens(js: dict[str, Result]) -> None:
    parts = events(ok(js, "stream-chat"))
    assert parts[0][0] == "metadata"
    assert {event for event, _ in parts[1:]} == {"messages"}
    chunks = [data[0] for _, data in parts[1:]]
    assert len(chunks) > 1  # token by token, not one message
    assert "".join(chunk["content"] for chunk in chunks) == REPLY
    assert {chunk["type"] for chunk in chunks} == {"AIMessageChunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    thread_id = ok(js, "chat-thread")["thread_id"]
    for _, (_, metadata) in parts[1:]:
        assert (metadata["langgraph_node"], metadata["thread_id"]) == ("chat", thread_id)
    messages = ok(js, "chat-state")["values"]["messages"]
    assert [(m["type"], m["content"]) for m in messages] == [("human", "hi"), ("ai", REPLY)]
    assert messages[1]["id"] == chunks[0]["id"]


def test_messages_mode_streams_the_message_so_far(js: dict[str, Result]) -> None:
    parts = events(ok(js, "stream-chat-messages"))
    names = [event for event, _ in parts]
    assert names[:2] == ["metadata", "messages/metadata"]
    assert set(names[2:]) == {"messages/partial"}  # no messages/complete after a streamed one
    ((message_id, about),) = parts[1][1].items()
    assert about["metadata"]["langgraph_node"] == "chat"
    so_far = [data for _, (data,) in parts[2:]]
    assert {(message["id"], message["type"]) for message in so_far} == {(message_id, "ai")}
    contents = [message["content"] for message in so_far]
    assert contents == sorted(contents, key=len) and contents[-1] == REPLY
    assert all(REPLY.startswith(content) for content in contents)


def test_stream_subgraphs(js: dict[str, Result]) -> None:
    parts = events(ok(js, "stream-subgraphs"))
    assert [event.split(":")[0] for event, _ in parts] == [
        "metadata",
        "updates",
        "updates|child",
        "updates",
    ]
    assert parts[1][1] == {"prep": {"seen": ["prep"]}}
    assert parts[2][1]["reply"]["count"] == 1
    assert parts[3][1]["child"]["seen"] == ["prep", "a"]


def test_a_failing_run_streams_an_error_event(js: dict[str, Result]) -> None:
    assert events(ok(js, "stream-failing"))[1:] == [
        ("values", {"count": -3}),
        ("error", {"error": "ValueError", "message": "negative count"}),
    ]


def test_background_run_followed_joined_and_replayed(js: dict[str, Result]) -> None:
    run = ok(js, "bg-run")
    assert run["status"] == "pending"
    assert run["kwargs"]["stream_mode"] == ["values", "custom"]
    assert run["kwargs"]["resumable"] is True
    assert ok(js, "release") == {"released": True}  # sent on the first custom event
    assert ok(js, "bg-join") == {"count": 4}
    assert ok(js, "bg-get")["status"] == "success"

    replay = ok(js, "bg-replay")
    assert all(part["id"] for part in replay)
    assert len({part["id"] for part in replay}) == len(replay)
    assert events(replay[:1]) == [("metadata", {"run_id": run["run_id"], "attempt": 1})]
    assert events(replay[1:2]) == [("values", {"count": 3})]
    assert events(replay[-1:]) == [("values", {"count": 4})]
    assert {(event, json.dumps(data)) for event, data in events(replay[2:-1])} == {
        ("custom", '{"waiting": true}')
    }
    # Followed live from its start or later, with the same events and ids.
    follow = ok(js, "bg-follow")
    assert ("custom", {"waiting": True}) in events(follow)
    assert follow == replay[-len(follow) :]
    assert ok(js, "bg-replay-after") == replay[2:]
    assert ok(js, "bg-replay-values") == [
        part for part in replay if part["event"] in ("metadata", "values")
    ]


def test_python_sdk_replays_the_same_events(js: dict[str, Result], server: Server) -> None:
    run = ok(js, "bg-run")
    replay = server.client().runs.join_stream(run["thread_id"], run["run_id"], last_event_id="-1")
    assert [_part(part) for part in replay] == ok(js, "bg-replay")


def test_cancel_while_following(js: dict[str, Result], server: Server) -> None:
    assert ok(js, "cancel") == {}
    assert server.stuck.cancelled.is_set()
    follow = events(ok(js, "cancel-follow"))  # from where it was when joined; ends with it
    assert ("custom", {"waiting": True}) in follow
    assert {event for event, _ in follow} <= {"metadata", "custom"}
    assert ok(js, "cancel-get")["status"] == "interrupted"
    thread = ok(js, "cancel-thread-after")
    assert thread["status"] == "interrupted"
    assert thread["error"]["error"] == "UserInterrupt"
    again = failed(js, "cancel-again")
    assert again["status"] == 404
    assert again["body"]["detail"].startswith("No matching runs to cancel.")


def test_on_run_created_reads_the_run_ids(js: dict[str, Result]) -> None:
    run = ok(js, "bg-run")
    assert js["bg-run"]["runCreated"] == [{"run_id": run["run_id"], "thread_id": run["thread_id"]}]
    (created,) = js["created-wait"]["runCreated"]  # a run on the same thread, after it
    assert created["thread_id"] == run["thread_id"]
    assert uuid.UUID(created["run_id"]) != uuid.UUID(run["run_id"])
    (stateless,) = js["created-stream"]["runCreated"]
    assert stateless == {"run_id": ok(js, "created-stream")[0]["data"]["run_id"]}


def test_assistants(js: dict[str, Result]) -> None:
    found = ok(js, "assistants")
    assert {assistant["graph_id"] for assistant in found} == GRAPH_IDS
    for assistant in found:
        assert assistant["name"] == assistant["graph_id"]
        assert assistant["metadata"] == {"created_by": "system"}
        assert uuid.UUID(assistant["assistant_id"]).version == 5
    assert ok(js, "assistants-page") == {"assistants": found[:2], "next": "2"}
    chat = ok(js, "assistant-chat")
    assert chat in found and chat["graph_id"] == "chat"
    assert ok(js, "assistant-by-id") == chat
    assert ok(js, "graph-counter") == {
        "nodes": [
            {"id": "__start__", "type": "runnable", "data": {"name": "__start__"}},
            {"id": "reply", "type": "runnable", "data": {"name": "reply"}},
            {"id": "__end__"},
        ],
        "edges": [
            {"source": "__start__", "target": "reply"},
            {"source": "reply", "target": "__end__"},
        ],
    }
    xray = ok(js, "graph-parent-xray")
    assert [node["id"] for node in xray["nodes"]] == ["__start__", "prep", "__end__", "child:reply"]
    assert {"source": "prep", "target": "child:reply"} in xray["edges"]
    schemas = ok(js, "schemas-counter")
    assert schemas["graph_id"] == "counter"
    assert set(schemas["state_schema"]["properties"]) == {"messages", "count", "seen"}
    assert schemas["config_schema"] == {} and schemas["context_schema"] is None
