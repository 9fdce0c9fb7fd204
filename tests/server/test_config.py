"""Config handling (contract §5): keys, merge order, modifier, server fields."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from langchain_core.runnables import RunnableConfig, RunnableLambda
from servers import asgi_client

from chainserve import add_routes
from chainserve.server.lzstring import compress_to_encoded_uri_component


def _echo(_: Any, config: RunnableConfig) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key != "callbacks"}


async def echo(app: FastAPI, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    async with asgi_client(app) as client:
        response = await client.post(path, json=body, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["output"]


async def test_disallowed_keys_are_dropped_and_server_fields_set() -> None:
    app = FastAPI()
    add_routes(app, RunnableLambda(_echo), path="/echo")
    config = {
        "tags": ["t"],
        "metadata": {"m": 1},
        "run_name": "evil",
        "recursion_limit": 3,
        "callbacks": "x",
        "run_id": str(uuid.uuid4()),
    }
    seen = await echo(
        app, "/echo/invoke", {"input": 1, "config": config}, headers={"user-agent": "ua/1"}
    )
    assert seen["tags"] == []
    assert seen["recursion_limit"] == 25
    assert seen["metadata"] == {
        "__useragent": "ua/1",
        "__chainserve_version": seen["metadata"]["__chainserve_version"],
        "__langserve_endpoint": "invoke",
    }


async def test_allowed_keys_pass_and_merge_with_hash() -> None:
    app = FastAPI()
    add_routes(app, RunnableLambda(_echo), path="/echo", config_keys=["tags", "metadata", "run_id"])
    hashed = compress_to_encoded_uri_component(
        json.dumps({"tags": ["from-hash"], "metadata": {"a": 1, "b": 1}})
    )
    run_id = str(uuid.uuid4())
    body = {
        "input": 1,
        "config": {"tags": ["body"], "metadata": {"b": 2, "__mine": 3}, "run_id": run_id},
    }
    async with asgi_client(app) as client:
        response = await client.post(f"/echo/c/{hashed}/invoke", json=body)
    output = response.json()["output"]
    assert output["tags"] == ["body", "from-hash"]
    assert {"a": 1, "b": 2, "__mine": 3}.items() <= output["metadata"].items()
    assert response.json()["metadata"]["run_id"] == run_id


async def test_run_id_not_allowed_is_replaced() -> None:
    app = FastAPI()
    add_routes(app, RunnableLambda(_echo), path="/echo")
    run_id = str(uuid.uuid4())
    async with asgi_client(app) as client:
        response = await client.post(
            "/echo/invoke", json={"input": 1, "config": {"run_id": run_id}}
        )
    assert response.json()["metadata"]["run_id"] != run_id


async def test_shared_batch_config_run_id_names_first_run_only() -> None:
    app = FastAPI()
    add_routes(app, RunnableLambda(_echo), path="/echo", config_keys=["run_id"])
    run_id = str(uuid.uuid4())
    async with asgi_client(app) as client:
        response = await client.post(
            "/echo/batch", json={"inputs": [1, 2], "config": {"run_id": run_id}}
        )
    run_ids = response.json()["metadata"]["run_ids"]
    assert run_ids[0] == run_id and run_ids[1] != run_id


async def test_sync_and_async_modifiers_see_the_request() -> None:
    def sync_modifier(config: dict[str, Any], request: Request) -> dict[str, Any]:
        return {
            **config,
            "metadata": {**config.get("metadata", {}), "user": request.headers["x-user"]},
        }

    async def async_modifier(config: dict[str, Any], request: Request) -> dict[str, Any]:
        body = await request.json()  # the body can be read again
        return {**config, "metadata": {"user": request.headers["x-user"], "input": body["input"]}}

    app = FastAPI()
    add_routes(
        app,
        RunnableLambda(_echo),
        path="/sync",
        per_req_config_modifier=sync_modifier,
        config_keys=["metadata"],
    )
    add_routes(app, RunnableLambda(_echo), path="/async", per_req_config_modifier=async_modifier)
    headers = {"x-user": "ann"}
    seen = await echo(
        app, "/sync/invoke", {"input": 1, "config": {"metadata": {"m": 1}}}, headers=headers
    )
    assert seen["metadata"]["user"] == "ann" and seen["metadata"]["m"] == 1
    seen = await echo(app, "/async/invoke", {"input": 7}, headers=headers)
    assert seen["metadata"]["user"] == "ann" and seen["metadata"]["input"] == 7
    # The modifier cannot override what the server sets.
    assert seen["metadata"]["__langserve_endpoint"] == "invoke"


async def test_modifier_http_exception_keeps_its_status() -> None:
    def deny(config: dict[str, Any], request: Request) -> dict[str, Any]:
        raise HTTPException(403, "no")

    app = FastAPI()
    add_routes(app, RunnableLambda(_echo), path="/echo", per_req_config_modifier=deny)
    async with asgi_client(app) as client:
        response = await client.post("/echo/invoke", json={"input": 1})
        schema = await client.get("/echo/input_schema")
    assert response.status_code == 403
    assert schema.status_code == 200  # never applied to schema routes


async def test_run_name_is_the_mount_path_under_a_router_prefix() -> None:
    from fastapi import APIRouter

    router = APIRouter(prefix="/api")
    add_routes(router, RunnableLambda(lambda x: x), path="/named")
    app = FastAPI()
    app.include_router(router)
    async with asgi_client(app) as client:
        response = await client.post("/api/named/stream_events", json={"input": 1})
    assert '"name":"/api/named"' in response.text


async def test_configurable_validated_against_the_runnable() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from apps import configurable_chain

    app = FastAPI()
    add_routes(app, configurable_chain(), path="/c")
    async with asgi_client(app) as client:
        unknown = await client.post(
            "/c/invoke", json={"input": {"name": "x"}, "config": {"configurable": {"nope": 1}}}
        )
        wrong = await client.post(
            "/c/invoke", json={"input": {"name": "x"}, "config": {"configurable": {"template": []}}}
        )
    assert unknown.json()["output"] == "say x"  # unknown configurable keys are dropped
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["config", "configurable", "template"]


async def test_modifier_callbacks_survive_include_callback_events() -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    class Counter(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts = 0

        def on_chain_start(self, *args: Any, **kwargs: Any) -> None:
            self.starts += 1

    counter = Counter()

    def add_handler(config: dict[str, Any], request: Request) -> dict[str, Any]:
        return {**config, "callbacks": [counter]}

    app = FastAPI()
    add_routes(
        app,
        RunnableLambda(lambda x: x),
        path="/cb",
        include_callback_events=True,
        per_req_config_modifier=add_handler,
    )
    async with asgi_client(app) as client:
        response = await client.post("/cb/invoke", json={"input": 1})
    assert [e["type"] for e in response.json()["callback_events"]] == [
        "on_chain_start",
        "on_chain_end",
    ]
    assert counter.starts == 1
