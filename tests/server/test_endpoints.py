"""Each endpoint's success answers, in-process and over a real socket."""

from __future__ import annotations

import uuid

import httpx
from sse import parse_events

from chainserve.server.lzstring import compress_to_encoded_uri_component


def config_hash(config: dict) -> str:
    import json

    return compress_to_encoded_uri_component(json.dumps(config))


async def test_invoke(client: httpx.AsyncClient) -> None:
    response = await client.post("/add_one/invoke", json={"input": 1})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["output", "metadata"]
    assert body["output"] == 2
    assert uuid.UUID(body["metadata"]["run_id"])
    assert body["metadata"]["feedback_tokens"] == []


async def test_invoke_chain_and_objects(client: httpx.AsyncClient) -> None:
    joke = await client.post("/joke/invoke", json={"input": {"topic": "cats"}})
    assert joke.json()["output"] == "Why did the chicken cross the road?"
    chat = await client.post("/chat/invoke", json={"input": [{"type": "human", "content": "hi"}]})
    assert chat.json()["output"]["type"] == "ai"
    # The fake model cycles through its answers, shared by every test of the module.
    assert chat.json()["output"]["content"] in ("Hello there!", "Nice to meet you.")
    docs = await client.post("/retriever/invoke", json={"input": "cats"})
    assert docs.json()["output"] == [
        {"id": None, "metadata": {"id": 1}, "page_content": "cats purr", "type": "Document"}
    ]


async def test_batch(client: httpx.AsyncClient) -> None:
    response = await client.post("/add_one/batch", json={"inputs": [1, 2, 3]})
    body = response.json()
    assert response.status_code == 200
    assert body["output"] == [2, 3, 4]
    run_ids = [item["run_id"] for item in body["metadata"]["responses"]]
    assert run_ids == body["metadata"]["run_ids"]
    assert len(set(run_ids)) == 3


async def test_batch_empty(client: httpx.AsyncClient) -> None:
    response = await client.post("/add_one/batch", json={"inputs": []})
    assert response.json() == {"output": [], "metadata": {"responses": [], "run_ids": []}}


async def test_batch_per_item_configs(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo_config/batch",
        json={"inputs": [1, 2], "config": [{"tags": ["a"]}, {"tags": ["b"]}]},
    )
    assert [out["tags"] for out in response.json()["output"]] == [["a"], ["b"]]


async def test_stream_framing(client: httpx.AsyncClient) -> None:
    response = await client.post("/words/stream", json={"input": "hello big world"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert "\r\n\r\n" in response.text
    events = parse_events(response.text)
    assert events[0][0] == "metadata"
    assert uuid.UUID(events[0][1]["run_id"])
    assert events[1:] == [
        ("data", "hello|"),
        ("data", "big|"),
        ("data", "world|"),
        ("end", None),
    ]
    assert response.text.endswith("event: end\r\n\r\n")


async def test_stream_chat_chunks(client: httpx.AsyncClient) -> None:
    response = await client.post("/joke/stream", json={"input": {"topic": "x"}})
    chunks = [data for name, data in parse_events(response.text) if name == "data"]
    assert "".join(chunks) == "Why did the chicken cross the road?"
    assert len(chunks) > 5


async def test_stream_log(client: httpx.AsyncClient) -> None:
    response = await client.post("/add_one/stream_log", json={"input": 1})
    events = parse_events(response.text)
    assert [name for name, _ in events] == ["data", "data", "end"]
    first = events[0][1]["ops"][0]
    assert first["op"] == "replace" and first["path"] == ""
    assert first["value"]["name"] == "/add_one"
    ops = events[1][1]["ops"]
    assert {"op": "add", "path": "/streamed_output/-", "value": 2} in ops
    assert {"op": "replace", "path": "/final_output", "value": 2} in ops


async def test_stream_log_filters_select_inner_runs(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/joke/stream_log",
        json={"input": {"topic": "x"}, "include_types": ["llm"]},
    )
    paths = {
        op["path"]
        for name, data in parse_events(response.text)
        if name == "data"
        for op in data["ops"]
    }
    assert any(path.startswith("/logs/FakeListChatModel") for path in paths)
    assert not any("ChatPromptTemplate" in path for path in paths)


async def test_stream_events(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo_config/stream_events",
        json={"input": 1, "config": {"metadata": {"mine": 1}}},
    )
    events = [data for name, data in parse_events(response.text) if name == "data"]
    assert [e["event"] for e in events] == ["on_chain_start", "on_chain_stream", "on_chain_end"]
    assert events[0]["name"] == "/echo_config"
    # Server-internal metadata is stripped from events; the client's is kept.
    assert events[0]["metadata"] == {"mine": 1}
    # ... but the runnable itself saw it.
    assert events[2]["data"]["output"]["metadata"]["__langserve_endpoint"] == "stream_events"


async def test_stream_events_chat_model(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/joke/stream_events",
        json={"input": {"topic": "x"}, "include_types": ["chat_model"]},
    )
    events = [data for name, data in parse_events(response.text) if name == "data"]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "on_chat_model_start" and kinds[-1] == "on_chat_model_end"
    text = "".join(
        e["data"]["chunk"]["content"] for e in events if e["event"] == "on_chat_model_stream"
    )
    assert text == "Why did the chicken cross the road?"
    assert events[1]["data"]["chunk"]["type"] == "AIMessageChunk"


async def test_schemas(client: httpx.AsyncClient) -> None:
    assert (await client.get("/add_one/input_schema")).json() == {
        "title": "_add_one_input",
        "type": "integer",
    }
    assert (await client.get("/add_one/output_schema")).json()["type"] == "integer"
    joke_input = (await client.get("/joke/input_schema")).json()
    assert joke_input["properties"]["topic"]["type"] == "string"
    config = (await client.get("/configurable/config_schema")).json()
    template = config["$defs"]["Configurable"]["properties"]["template"]
    assert template["default"] == "say {name}"


async def test_config_hash_twins(client: httpx.AsyncClient) -> None:
    hashed = config_hash({"configurable": {"template": "hash {name}"}})
    response = await client.post(f"/configurable/c/{hashed}/invoke", json={"input": {"name": "x"}})
    assert response.json()["output"] == "hash x"
    body_wins = await client.post(
        f"/configurable/c/{hashed}/invoke",
        json={"input": {"name": "x"}, "config": {"configurable": {"template": "body {name}"}}},
    )
    assert body_wins.json()["output"] == "body x"
    stream = await client.post(f"/configurable/c/{hashed}/stream", json={"input": {"name": "y"}})
    assert ("data", "hash y") in parse_events(stream.text)
    schema = await client.get(f"/configurable/c/{hashed}/config_schema")
    assert schema.status_code == 200


async def test_known_lz_string_vector_is_accepted(client: httpx.AsyncClient) -> None:
    # Made by the JavaScript lz-string library (contract §5.3).
    hashed = (
        "N4Igxg9gdgZglgcwK4CcCGAjANgUxALgAJQAXHAWwAcs0yDCQALNAZ0eKjXJwF8QeANAxJoELegG0"
        "QMFBHIBaZmxABdHkA"
    )
    response = await client.post(f"/echo_config/c/{hashed}/invoke", json={"input": 1})
    assert response.json()["output"]["tags"] == ["from-hash"]


async def test_callback_events(client: httpx.AsyncClient) -> None:
    response = await client.post("/add_one_cb/invoke", json={"input": 1})
    body = response.json()
    assert list(body) == ["output", "metadata", "callback_events"]
    types = [event["type"] for event in body["callback_events"]]
    assert types == ["on_chain_start", "on_chain_end"]
    start = body["callback_events"][0]
    assert start["inputs"] == 1 and start["parent_run_id"] is None
    assert body["callback_events"][1]["outputs"] == 2
    batch = await client.post("/add_one_cb/batch", json={"inputs": [1, 2]})
    assert [len(events) for events in batch.json()["callback_events"]] == [2, 2]


async def test_stream_callback_events_on_request(client: httpx.AsyncClient) -> None:
    plain = await client.post("/add_one_cb/stream", json={"input": 1})
    assert "callback_events" not in [name for name, _ in parse_events(plain.text)]
    asked = await client.post(
        "/add_one_cb/stream", json={"input": 1, "stream_callback_events": True}
    )
    events = parse_events(asked.text)
    recorded = [e["type"] for name, data in events if name == "callback_events" for e in data]
    assert recorded == ["on_chain_start", "on_chain_end"]
    assert ("data", 2) in events and events[-1] == ("end", None)


async def test_unknown_keys_and_kwargs_are_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/add_one/invoke", json={"input": 1, "kwargs": {"x": 1}, "surprise": True}
    )
    assert response.json()["output"] == 2


async def test_json_without_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/add_one/invoke", content=b'{"input": 41}', headers={"content-type": "text/plain"}
    )
    assert response.json()["output"] == 42


async def test_base_message_list_input_reaches_the_runnable_as_concrete_messages(
    client: httpx.AsyncClient,
) -> None:
    # /chat is typed list[BaseMessage]; stream_log's tracer needs concrete classes.
    response = await client.post(
        "/chat/stream_log", json={"input": [{"type": "human", "content": "hi"}]}
    )
    assert response.status_code == 200
    assert parse_events(response.text)[-1] == ("end", None)
    assert "event: error" not in response.text


async def test_stream_log_does_not_warn_about_its_deprecation(app: object) -> None:
    import warnings

    from langchain_core._api.deprecation import LangChainDeprecationWarning

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                response = await client.post("/add_one/stream_log", json={"input": 1})
                assert response.status_code == 200
    assert not [w for w in caught if issubclass(w.category, LangChainDeprecationWarning)]
