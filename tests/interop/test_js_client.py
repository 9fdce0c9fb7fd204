"""LangChain.js's ``RemoteRunnable`` (@langchain/core 0.3) against a chainserve server.

``js/client.mjs`` runs every operation below in one node process; each test checks
one result, against a local run of the same runnable (``local_runs``) where it can.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import local_runs
import pytest
from fastapi import FastAPI
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableLambda
from local_runs import ADD_ONE, CHAT, CONFIGURABLE, JOKE, RETRIEVER, SECRET, Case
from servers import node_script, serve

from chainserve import Limits, add_routes

JS_DIR = Path(__file__).parent / "js"

# The server's stream_log runs astream_log, deprecated in langchain-core; pytest's
# warning capture undoes chainserve's filter for it.
pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")

Operation = dict[str, Any]
Result = dict[str, Any]

# client.mjs operation -> the local run it must agree with, and how to read its value.
LOCAL_RUNS: dict[str, Callable[[Case], Awaitable[Any]]] = {
    "invoke": local_runs.invoke,
    "batch": local_runs.batch,
    "stream": local_runs.stream,
    "streamLog": local_runs.stream_log,
    "streamEvents": local_runs.stream_events,
}
SUMMARIES: dict[str, Callable[[Any], Any]] = {
    "streamLog": local_runs.log_summary,
    "streamEvents": local_runs.events_summary,
}

CASES = [JOKE, ADD_ONE, RETRIEVER, CONFIGURABLE, CHAT]
COMPARED = [(case, op) for case in CASES for op in LOCAL_RUNS]


def js_value(value: Any) -> tuple[Any, bool]:
    """``value`` as client.mjs takes it, and whether it is a message list."""
    if isinstance(value, list) and value and isinstance(value[0], BaseMessage):
        return [[message.type, message.text] for message in value], True
    return value, False


def case_operation(case: Case, op: str) -> Operation:
    input_, messages = js_value(case.input)
    operation: Operation = {
        "id": f"{case.id}-{op}",
        "path": case.path,
        "op": op,
        "input": input_,
        "inputs": [js_value(value)[0] for value in case.inputs],
        "messages": messages,
    }
    if case.config:
        operation["config"] = case.config
    return operation


ERROR_OPERATIONS: list[Operation] = [
    {"id": "fail-invoke", "path": "/fail", "op": "invoke", "input": 1},
    {"id": "fail-batch", "path": "/fail", "op": "batch", "inputs": [1, 2]},
    {"id": "fail-stream", "path": "/fail", "op": "stream", "input": 1},
    {"id": "fail-streamLog", "path": "/fail", "op": "streamLog", "input": 1},
    {"id": "fail_mid-stream", "path": "/fail_mid_stream", "op": "stream", "input": 1},
    {
        "id": "fail_mid-streamEvents",
        "path": "/fail_mid_stream",
        "op": "streamEvents",
        "input": 1,
    },
    {"id": "bad_input-invoke", "path": ADD_ONE.path, "op": "invoke", "input": "x"},
]
OPERATIONS = [case_operation(case, op) for case, op in COMPARED] + ERROR_OPERATIONS


@pytest.fixture(scope="session")
def js_client() -> list[str]:
    return node_script(JS_DIR, "@langchain/core")


@pytest.fixture(scope="module")
def js_results(js_client: list[str], server_url: str) -> dict[str, Result]:
    """Every operation's result, by id, from one run of client.mjs."""
    done = subprocess.run(
        [*js_client, server_url],
        input=json.dumps(OPERATIONS),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=JS_DIR,
    )
    assert done.returncode == 0, done.stderr
    results: list[Result] = json.loads(done.stdout)
    assert [result["id"] for result in results] == [op["id"] for op in OPERATIONS]
    return {result["id"]: result for result in results}


def failure(results: dict[str, Result], id_: str) -> Result:
    """The result ``id_``, which must be a rejection that does not leak the exception."""
    result = results[id_]
    assert not result["ok"], result
    assert SECRET not in result["error"]
    return result


@pytest.mark.parametrize(("case", "op"), COMPARED, ids=[f"{case.id}-{op}" for case, op in COMPARED])
async def test_matches_local_run(js_results: dict[str, Result], case: Case, op: str) -> None:
    result = js_results[f"{case.id}-{op}"]
    assert result["ok"], result.get("error")
    summary = SUMMARIES.get(op, lambda value: value)
    assert summary(result["value"]) == await LOCAL_RUNS[op](case)


@pytest.mark.parametrize("id_", ["fail-invoke", "fail-batch", "fail-streamLog"])
def test_failed_run_rejects_with_500(js_results: dict[str, Result], id_: str) -> None:
    # client.mjs reports the rejection's message: "<status> Error: <body>".
    assert failure(js_results, id_)["error"].startswith("500 Error: ")


def test_stream_of_a_run_failing_at_once_rejects(js_results: dict[str, Result]) -> None:
    result = failure(js_results, "fail-stream")
    assert result["value"] == []
    assert "status code 500" in result["error"]


def test_stream_rejects_after_its_first_chunk(js_results: dict[str, Result]) -> None:
    result = failure(js_results, "fail_mid-stream")
    assert result["value"] == [1]
    # The rejection's message is the data of the stream's error event.
    assert json.loads(result["error"]) == {
        "status_code": 500,
        "message": "Internal Server Error",
    }


def test_stream_events_reject_after_the_first_chunk(
    js_results: dict[str, Result],
) -> None:
    result = failure(js_results, "fail_mid-streamEvents")
    assert [event["event"] for event in result["value"]] == [
        "on_chain_start",
        "on_chain_stream",
    ]
    assert json.loads(result["error"])["status_code"] == 500


def test_input_of_the_wrong_type_rejects_with_422(
    js_results: dict[str, Result],
) -> None:
    assert js_results["bad_input-invoke"]["error"].startswith("422 Error: ")


async def _thinking(text: str) -> Any:
    """Silent for several keep-alive intervals before each word, as a model thinking."""
    for word in text.split():
        await asyncio.sleep(0.3)
        yield word


def test_streams_with_keep_alive_comments(js_client: list[str]) -> None:
    app = FastAPI()
    limits = Limits(header_wait=0.05, keepalive_interval=0.05)
    add_routes(app, RunnableLambda(_thinking), path="/thinking", limits=limits)
    operations = [
        {"id": "stream", "path": "/thinking", "op": "stream", "input": "slow words"},
        {"id": "events", "path": "/thinking", "op": "streamEvents", "input": "slow words"},
    ]
    with serve(app) as url:
        done = subprocess.run(
            [*js_client, url],
            input=json.dumps(operations),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=JS_DIR,
        )
        # The comments were really sent: the raw stream has them before its data.
        raw = httpx.post(f"{url}/thinking/stream", json={"input": "slow"}).text
    assert raw.index(": keep-alive") < raw.index("event: data"), raw
    assert done.returncode == 0, done.stderr
    stream, events = json.loads(done.stdout)
    assert stream == {"id": "stream", "ok": True, "value": ["slow", "words"]}
    chunks = [e["data"]["chunk"] for e in events["value"] if e["event"] == "on_chain_stream"]
    assert events["ok"] and chunks == ["slow", "words"]
