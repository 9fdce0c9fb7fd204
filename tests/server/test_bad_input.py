"""Bad requests get their documented 4xx (or opaque 500) JSON answer, and the server
keeps serving: every bad request below is followed by a good invoke that must succeed.

Each test runs twice through conftest's ``client`` fixture: in-process (ASGI) and over
a real uvicorn socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import httpx
import pytest
from apps import configurable_chain
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from sse import parse_events

from chainserve import add_routes
from chainserve.server.limits import Limits
from chainserve.server.lzstring import compress_to_encoded_uri_component

SECRET = "do-not-leak-4b1d"
SMALL_LIMIT = 1000
DEFAULT_LIMIT = 10 * 1024 * 1024
RUN_ENDPOINTS = ("invoke", "batch", "stream", "stream_log", "stream_events")
SINGLE_INPUT_ENDPOINTS = ("invoke", "stream", "stream_log", "stream_events")
STREAM_ENDPOINTS = ("stream", "stream_log", "stream_events")
STREAM_ERROR = {"status_code": 500, "message": "Internal Server Error"}


def _raise(_: Any) -> Any:
    raise RuntimeError(SECRET)


async def _raise_after_first_chunk(_: Any) -> AsyncIterator[int]:
    yield 1
    raise RuntimeError(SECRET)


@pytest.fixture(scope="module")
def app(app: FastAPI) -> FastAPI:
    """conftest's app plus the routes these tests need (conftest's fixtures serve it)."""
    add_routes(
        app, RunnableLambda(lambda x: x), path="/small", limits=Limits(max_body_size=SMALL_LIMIT)
    )
    add_routes(app, configurable_chain(), path="/no_configurable", config_keys=[])
    add_routes(
        app, RunnableLambda(lambda x: x + 1), path="/invoke_only", enabled_endpoints=["invoke"]
    )
    add_routes(app, RunnableLambda(_raise), path="/raises")
    add_routes(app, RunnableLambda(_raise_after_first_chunk), path="/raises_mid_stream")
    add_routes(app, RunnableLambda(lambda x: {1, 2}), path="/returns_set")
    add_routes(app, RunnableLambda(lambda x: object()), path="/returns_object")
    debug_app = FastAPI(debug=True)
    add_routes(debug_app, RunnableLambda(_raise), path="/raises")
    app.mount("/debug", debug_app)
    return app


# Helpers ----------------------------------------------------------------------------


async def assert_serving(client: httpx.AsyncClient) -> None:
    response = await client.post("/add_one/invoke", json={"input": 1})
    assert response.status_code == 200
    assert response.json()["output"] == 2


async def bad(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a bad request, check the server still serves, return the bad answer."""
    response = await client.request(method, url, **kwargs)
    await assert_serving(client)
    return response


def error_items(response: httpx.Response, status: int = 422) -> list[dict[str, Any]]:
    """The ``detail`` list of a JSON error answer, each item pydantic-shaped."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for item in detail:
        assert {"type", "loc", "msg"} <= set(item)
    return detail


def locs(response: httpx.Response) -> list[list[Any]]:
    return [item["loc"] for item in error_items(response)]


def config_hash(value: Any) -> str:
    return compress_to_encoded_uri_component(json.dumps(value))


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_opaque_500(response: httpx.Response, kind: str = "runnable_error") -> None:
    """A 500 that names the kind of failure and nothing else about it."""
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["detail"] == "Internal Server Error"
    assert body["type"] == kind
    # Other fields (LangChain.js reads ``message``) may only repeat fixed text.
    assert set(body.values()) <= {"Internal Server Error", kind}
    assert SECRET not in response.text


# Malformed bodies -------------------------------------------------------------------

INVALID_JSON = {
    "empty": b"",
    "truncated": b'{"input": 1',
    "unquoted_key": b"{input: 1}",
    "trailing_data": b'{"input": 1} {"input": 2}',
    "nan": b'{"input": NaN}',
    "not_utf8": b'{"input": "\xff\xfe"}',
}


@pytest.mark.parametrize("endpoint", RUN_ENDPOINTS)
@pytest.mark.parametrize("body", INVALID_JSON.values(), ids=INVALID_JSON.keys())
async def test_invalid_json(client: httpx.AsyncClient, endpoint: str, body: bytes) -> None:
    response = await bad(client, "POST", f"/add_one/{endpoint}", content=body)
    items = error_items(response)
    assert [(item["type"], item["loc"]) for item in items] == [("json_invalid", ["body"])]


@pytest.mark.parametrize("endpoint", RUN_ENDPOINTS)
@pytest.mark.parametrize("body", [b"[]", b'[{"input": 1}]', b"5", b'"input"', b"null", b"true"])
async def test_body_not_an_object(client: httpx.AsyncClient, endpoint: str, body: bytes) -> None:
    response = await bad(client, "POST", f"/add_one/{endpoint}", content=body)
    assert len(error_items(response)) == 1


@pytest.mark.parametrize(
    "body",
    [nested_lists(100_000), f'{{"input": {nested_lists(100_000)}}}'],
    ids=["whole_body", "input"],
)
@pytest.mark.parametrize("endpoint", ["invoke", "stream_events"])
async def test_deeply_nested_json(client: httpx.AsyncClient, endpoint: str, body: str) -> None:
    response = await bad(client, "POST", f"/add_one/{endpoint}", content=body)
    assert [item["type"] for item in error_items(response)] == ["json_invalid"]


# Nesting that JSON parsers accept (orjson reads 1,024 levels) but that would overflow
# recursive validation or orjson's 254-level encoder further down.
@pytest.mark.parametrize("depth", [65, 260, 500, 1000])
@pytest.mark.parametrize("endpoint", RUN_ENDPOINTS)
async def test_nesting_past_the_depth_limit(
    client: httpx.AsyncClient, endpoint: str, depth: int
) -> None:
    field = "inputs" if endpoint == "batch" else "input"
    value = nested_lists(depth) if endpoint != "batch" else f"[{nested_lists(depth)}]"
    response = await bad(client, "POST", f"/add_one/{endpoint}", content=f'{{"{field}": {value}}}')
    assert [(i["type"], i["loc"]) for i in error_items(response)] == [("json_invalid", ["body"])]


async def test_nesting_within_the_depth_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/small/invoke", content=f'{{"input": {nested_lists(60)}}}')
    assert response.status_code == 200
    assert response.text.startswith('{"output":' + "[" * 60)


# Missing or mistyped fields ---------------------------------------------------------


@pytest.mark.parametrize("endpoint", SINGLE_INPUT_ENDPOINTS)
@pytest.mark.parametrize("body", [{}, {"inputs": [1]}, {"config": {}}])
async def test_missing_input(client: httpx.AsyncClient, endpoint: str, body: dict) -> None:
    response = await bad(client, "POST", f"/add_one/{endpoint}", json=body)
    assert [(i["type"], i["loc"]) for i in error_items(response)] == [("missing", ["input"])]


@pytest.mark.parametrize("body", [{}, {"input": 1}])
async def test_missing_batch_inputs(client: httpx.AsyncClient, body: dict) -> None:
    response = await bad(client, "POST", "/add_one/batch", json=body)
    assert [(i["type"], i["loc"]) for i in error_items(response)] == [("missing", ["inputs"])]


@pytest.mark.parametrize("endpoint", SINGLE_INPUT_ENDPOINTS)
@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        ("/add_one", "x", ["input"]),
        ("/add_one", [1], ["input"]),
        ("/joke", {"topik": "cats"}, ["input", "topic"]),
    ],
)
async def test_input_of_wrong_type(
    client: httpx.AsyncClient, endpoint: str, path: str, value: Any, loc: list
) -> None:
    response = await bad(client, "POST", f"{path}/{endpoint}", json={"input": value})
    assert locs(response) == [loc]


async def test_bad_batch_items_are_located(client: httpx.AsyncClient) -> None:
    one = await bad(client, "POST", "/add_one/batch", json={"inputs": [1, "x", 3]})
    assert locs(one) == [["inputs", 1]]
    two = await bad(client, "POST", "/add_one/batch", json={"inputs": ["x", 2, []]})
    assert locs(two) == [["inputs", 0], ["inputs", 2]]


@pytest.mark.parametrize("inputs", [5, "abc", {"0": 1}, None])
async def test_batch_inputs_not_a_list(client: httpx.AsyncClient, inputs: Any) -> None:
    response = await bad(client, "POST", "/add_one/batch", json={"inputs": inputs})
    assert locs(response) == [["inputs"]]


@pytest.mark.parametrize("configs", [[{}], [{}, {}, {}], []])
async def test_batch_config_count_mismatch(client: httpx.AsyncClient, configs: list) -> None:
    response = await bad(
        client, "POST", "/add_one/batch", json={"inputs": [1, 2], "config": configs}
    )
    assert locs(response) == [["config"]]


# Config -----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", SINGLE_INPUT_ENDPOINTS)
@pytest.mark.parametrize("config", [5, "tags", [], [{}], True])
async def test_config_not_an_object(client: httpx.AsyncClient, endpoint: str, config: Any) -> None:
    response = await bad(
        client, "POST", f"/add_one/{endpoint}", json={"input": 1, "config": config}
    )
    assert locs(response) == [["config"]]


@pytest.mark.parametrize("config", [5, "tags", True])
async def test_batch_config_not_an_object_or_list(client: httpx.AsyncClient, config: Any) -> None:
    response = await bad(client, "POST", "/add_one/batch", json={"inputs": [1], "config": config})
    assert locs(response) == [["config"]]


@pytest.mark.parametrize("endpoint", RUN_ENDPOINTS)
async def test_null_config_means_no_config(client: httpx.AsyncClient, endpoint: str) -> None:
    body = {"inputs": [1]} if endpoint == "batch" else {"input": 1}
    response = await client.post(f"/add_one/{endpoint}", json={**body, "config": None})
    assert response.status_code == 200
    if endpoint in STREAM_ENDPOINTS:
        assert parse_events(response.text)[-1] == ("end", None)
    else:
        assert response.json()["output"] in (2, [2])


@pytest.mark.parametrize(
    ("path", "config", "loc"),
    [
        ("/echo_config", {"run_id": "not-a-uuid"}, ["config", "run_id"]),
        ("/echo_config", {"tags": [[]]}, ["config", "tags", 0]),
        ("/echo_config", {"metadata": "m"}, ["config", "metadata"]),
        (
            "/configurable",
            {"configurable": {"template": 5}},
            ["config", "configurable", "template"],
        ),
        ("/configurable", {"configurable": "template"}, ["config", "configurable"]),
    ],
)
async def test_invalid_config_field(
    client: httpx.AsyncClient, path: str, config: dict, loc: list
) -> None:
    value = {"name": "x"} if path == "/configurable" else 1
    response = await bad(client, "POST", f"{path}/invoke", json={"input": value, "config": config})
    assert locs(response) == [loc]


async def test_invalid_config_in_a_batch_config_list(client: httpx.AsyncClient) -> None:
    response = await bad(
        client,
        "POST",
        "/echo_config/batch",
        json={"inputs": [1, 2], "config": [{}, {"run_id": "not-a-uuid"}]},
    )
    assert locs(response) == [["config", 1, "run_id"]]


async def test_disallowed_configurable(client: httpx.AsyncClient) -> None:
    configurable = {"configurable": {"template": "hello {name}"}}
    in_body = await bad(
        client,
        "POST",
        "/no_configurable/invoke",
        json={"input": {"name": "x"}, "config": configurable},
    )
    in_hash = await bad(
        client,
        "POST",
        f"/no_configurable/c/{config_hash(configurable)}/invoke",
        json={"input": {"name": "x"}},
    )
    for response in (in_body, in_hash):
        assert response.status_code == 422
        assert "configurable" in response.json()["detail"]
    # Without a configurable the same route answers.
    allowed = await client.post("/no_configurable/invoke", json={"input": {"name": "x"}})
    assert allowed.json()["output"] == "say x"


BAD_HASHES = {
    "garbage": "zzz",
    "punctuation": "!!!",
    "empty_text": compress_to_encoded_uri_component(""),
    "not_json": compress_to_encoded_uri_component("tags: a"),
    "json_list": config_hash([{"tags": ["a"]}]),
    "json_string": config_hash("tags"),
}


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [
        ("POST", "invoke"),
        ("POST", "batch"),
        ("POST", "stream"),
        ("GET", "input_schema"),
        ("GET", "config_schema"),
    ],
)
@pytest.mark.parametrize("config_hash_", BAD_HASHES.values(), ids=BAD_HASHES.keys())
async def test_undecodable_config_hash(
    client: httpx.AsyncClient, method: str, endpoint: str, config_hash_: str
) -> None:
    body = {"json": {"inputs": [1]} if endpoint == "batch" else {"input": 1}}
    response = await bad(
        client,
        method,
        f"/add_one/c/{config_hash_}/{endpoint}",
        **(body if method == "POST" else {}),
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid config hash"}


async def test_invalid_config_in_hash(client: httpx.AsyncClient) -> None:
    hashed = config_hash({"configurable": {"template": 5}})
    response = await bad(
        client, "POST", f"/configurable/c/{hashed}/invoke", json={"input": {"name": "x"}}
    )
    [loc] = locs(response)
    assert loc[-2:] == ["configurable", "template"]


@pytest.mark.parametrize("endpoint", ["stream_log", "stream_events"])
@pytest.mark.parametrize(
    "filters",
    [
        {"include_names": "x"},
        {"include_names": [[]]},
        {"include_types": "chain"},
        {"exclude_tags": [1]},
        {"include_tags": {"a": 1}},
    ],
)
async def test_invalid_stream_filters(
    client: httpx.AsyncClient, endpoint: str, filters: dict
) -> None:
    response = await bad(client, "POST", f"/add_one/{endpoint}", json={"input": 1, **filters})
    [loc] = locs(response)
    assert loc[0] == next(iter(filters))


# Body size --------------------------------------------------------------------------


async def test_body_over_the_default_limit(client: httpx.AsyncClient) -> None:
    body = b'{"input": "' + b"a" * DEFAULT_LIMIT + b'"}'
    response = await bad(client, "POST", "/add_one/invoke", content=body)
    assert response.status_code == 413
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("endpoint", RUN_ENDPOINTS)
async def test_body_over_a_route_limit(client: httpx.AsyncClient, endpoint: str) -> None:
    key = "inputs" if endpoint == "batch" else "input"
    body = json.dumps({key: "a" * SMALL_LIMIT})
    response = await bad(client, "POST", f"/small/{endpoint}", content=body)
    assert response.status_code == 413
    # Just under the limit is fine.
    fits = json.dumps({"input": "a" * (SMALL_LIMIT - 20)})
    assert (await client.post("/small/invoke", content=fits)).status_code == 200


class EarlyAnswer(NamedTuple):
    status: int
    body: Any
    body_finished: bool  # whether the server received the whole body before answering


async def post_unfinishable(
    client: httpx.AsyncClient, path: str, parts: list[bytes], content_length: int | None
) -> EarlyAnswer:
    """POST ``parts`` (chunked when ``content_length`` is None) and return the answer.

    In-process, the body is an async generator the server pulls from, so we can see
    how much of it the server read. Over the socket, the body is never finished (no
    last chunk, or fewer bytes than declared): an answer proves the server did not
    wait for the rest.
    """
    if client.base_url.port is None:  # in-process: conftest's ASGI client
        pulled = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal pulled
            for part in parts:
                pulled += 1
                yield part

        headers = {} if content_length is None else {"content-length": str(content_length)}
        response = await client.post(path, content=body(), headers=headers)
        return EarlyAnswer(response.status_code, response.json(), pulled == len(parts))
    host, port = client.base_url.host, client.base_url.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async with asyncio.timeout(60):  # a hang guard, not a timing assertion
            framing = (
                "transfer-encoding: chunked"
                if content_length is None
                else f"content-length: {content_length}"
            )
            writer.write(
                f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n{framing}\r\n\r\n".encode()
            )
            for part in parts:
                writer.write(
                    part if content_length is not None else b"%x\r\n%s\r\n" % (len(part), part)
                )
                await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            headers = dict(
                line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
            )
            body = await reader.readexactly(int(headers[b"content-length"]))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return EarlyAnswer(status, json.loads(body), False)


OPENING = b'{"input": "'


@pytest.mark.parametrize(
    ("path", "limit"), [("/small/invoke", SMALL_LIMIT), ("/add_one/invoke", DEFAULT_LIMIT)]
)
async def test_chunked_body_over_limit_is_refused_early(
    client: httpx.AsyncClient, path: str, limit: int
) -> None:
    part = b"a" * min(limit // 4, 64 * 1024)
    parts = [OPENING] + [part] * (limit // len(part) + 8)
    answer = await post_unfinishable(client, path, parts, content_length=None)
    assert answer.status == 413
    assert not answer.body_finished
    await assert_serving(client)


async def test_declared_length_over_limit_is_refused_before_the_body(
    client: httpx.AsyncClient,
) -> None:
    answer = await post_unfinishable(
        client, "/small/invoke", [OPENING, b"a" * 10], content_length=SMALL_LIMIT * 50
    )
    assert answer.status == 413
    assert not answer.body_finished
    await assert_serving(client)


async def test_understated_content_length_is_not_trusted(
    app: FastAPI, asgi_client: Callable[..., httpx.AsyncClient]
) -> None:
    """In-process only: over HTTP the server frames the body by its content-length,
    so only an ASGI peer can deliver more bytes than the header claims."""
    async with asgi_client(app) as client:
        parts = [OPENING] + [b"a" * 500] * 40
        answer = await post_unfinishable(client, "/small/invoke", parts, content_length=20)
        assert answer.status == 413
        assert not answer.body_finished
        await assert_serving(client)


# Routing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/add_one/invoke", "POST"),
        ("GET", "/add_one/batch", "POST"),
        ("GET", "/add_one/stream", "POST"),
        ("PUT", "/add_one/stream_log", "POST"),
        ("DELETE", "/add_one/stream_events", "POST"),
        ("GET", "/add_one/c/N4XyA/invoke", "POST"),
        ("POST", "/add_one/input_schema", "GET"),
        ("PUT", "/add_one/output_schema", "GET"),
        ("POST", "/add_one/config_schema", "GET"),
    ],
)
async def test_wrong_method(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await bad(client, method, path, json={"input": 1})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert allowed in response.headers["allow"]


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [
        ("POST", "batch"),
        ("POST", "stream"),
        ("POST", "stream_log"),
        ("POST", "stream_events"),
        ("GET", "input_schema"),
        ("POST", f"c/{config_hash({'tags': ['a']})}/invoke"),
    ],
)
async def test_disabled_endpoints_are_not_found(
    client: httpx.AsyncClient, method: str, endpoint: str
) -> None:
    response = await bad(
        client, method, f"/invoke_only/{endpoint}", json={"input": 1, "inputs": [1]}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    enabled = await client.post("/invoke_only/invoke", json={"input": 1})
    assert enabled.json()["output"] == 2


# Server-side failures ---------------------------------------------------------------


@pytest.mark.parametrize("endpoint", RUN_ENDPOINTS)
async def test_runnable_error_is_an_opaque_500(client: httpx.AsyncClient, endpoint: str) -> None:
    """Streams fail before their first chunk here, so they too get a real HTTP 500."""
    body = {"inputs": [1, 2]} if endpoint == "batch" else {"input": 1}
    response = await bad(client, "POST", f"/raises/{endpoint}", json=body)
    assert_opaque_500(response)
    assert "RuntimeError" not in response.text


@pytest.mark.parametrize("endpoint", ["invoke", "batch", "stream"])
async def test_debug_app_500_names_the_exception(client: httpx.AsyncClient, endpoint: str) -> None:
    body = {"inputs": [1]} if endpoint == "batch" else {"input": 1}
    response = await bad(client, "POST", f"/debug/raises/{endpoint}", json=body)
    assert response.status_code == 500
    assert response.json()["type"] == "runnable_error"
    assert SECRET in response.json()["exception"]


@pytest.mark.parametrize("endpoint", ["invoke", "batch", "stream"])
@pytest.mark.parametrize("path", ["/returns_set", "/returns_object"])
async def test_unserializable_output(client: httpx.AsyncClient, path: str, endpoint: str) -> None:
    # For /stream the first chunk fails to encode before anything was sent: a real 500.
    body = {"inputs": [1]} if endpoint == "batch" else {"input": 1}
    response = await bad(client, "POST", f"{path}/{endpoint}", json=body)
    assert_opaque_500(response, "serialization_error")


@pytest.mark.parametrize("endpoint", STREAM_ENDPOINTS)
async def test_failure_after_first_chunk_is_an_error_event(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    response = await bad(client, "POST", f"/raises_mid_stream/{endpoint}", json={"input": 1})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    names = [name for name, _ in events]
    assert "data" in names[:-1]
    assert events[-1] == ("error", STREAM_ERROR)
    assert "end" not in names
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
