"""What RemoteRunnable puts on the wire, its options, and its lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import langserve
import orjson
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from servers import serve

import chainserve
from chainserve.client import DEFAULT_TIMEOUT, RemoteRunnable
from chainserve.client._remote import config_for_server
from chainserve.serialization import Serializer, WellKnownLCSerializer

SSE_TYPE = "text/event-stream"
OUTPUT = {"output": 2, "metadata": {"run_id": str(uuid.uuid4()), "feedback_tokens": []}}
SSE = "event: data\r\ndata: {}\r\n\r\nevent: end\r\n\r\n"
EVENT = {"event": "on_chain_end", "data": {"output": 2}, "parent_ids": []}
PAYLOADS = {"stream": 2, "stream_log": {"ops": []}, "stream_events": EVENT}


class Wire:
    """A mock transport (sync and async) recording requests, answering like a server."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        endpoint = request.url.path.rsplit("/", 1)[-1]
        if endpoint == "invoke":
            return httpx.Response(200, json=OUTPUT)
        if endpoint == "batch":
            count = len(orjson.loads(request.content)["inputs"])
            return httpx.Response(200, json={"output": [2] * count, "metadata": {}})
        content = SSE.format(orjson.dumps(PAYLOADS[endpoint]).decode())
        return httpx.Response(200, text=content, headers={"content-type": SSE_TYPE})

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.content) for r in self.requests]


@pytest.fixture
def wire() -> Wire:
    return Wire()


def wired(wire: Wire, url: str = "http://server/add_one", **kwargs: Any) -> RemoteRunnable:
    remote: RemoteRunnable = RemoteRunnable(url, **kwargs)
    # No base_url: the client builds absolute URLs itself.
    remote.sync_client = httpx.Client(transport=httpx.MockTransport(wire.handler))
    remote.async_client = httpx.AsyncClient(transport=httpx.MockTransport(wire.handler))
    return remote


def test_config_is_cleaned_for_the_server() -> None:
    class Local:  # e.g. a langgraph channel object
        pass

    config = {
        "callbacks": [object()],
        "run_name": "mine",
        "run_id": uuid.uuid4(),
        "tags": ["t"],
        "metadata": {"m": 1, "obj": Local()},
        "recursion_limit": 25,
        "configurable": {"a": 1, "nested": {"b": [1, Local()], 3: "int key"}, "o": Local()},
    }
    assert config_for_server(config) == {
        "tags": ["t"],
        "metadata": {"m": 1},
        "recursion_limit": 25,
        "configurable": {"a": 1, "nested": {"b": [1]}},
    }


def test_invoke_request(wire: Wire) -> None:
    remote = wired(wire, "http://server/base/c/N4Ig", headers={"X-Team": "a"})
    assert remote.with_config(tags=["t"], configurable={"k": "v"}).invoke(1) == 2
    (request,) = wire.requests
    assert str(request.url) == "http://server/base/c/N4Ig/invoke"
    assert request.headers["content-type"] == "application/json"
    body = orjson.loads(request.content)
    assert body["input"] == 1 and body["kwargs"] == {}
    assert body["config"]["tags"] == ["t"]
    assert body["config"]["configurable"] == {"k": "v"}
    assert "callbacks" not in body["config"] and "run_name" not in body["config"]


async def test_batch_sends_one_config_per_input(wire: Wire) -> None:
    remote = wired(wire)
    configs = [{"configurable": {"k": 1}}, {"configurable": {"k": 2}}]
    assert await remote.abatch([1, 2], configs) == [2, 2]
    assert remote.batch([]) == []  # no request for nothing
    (body,) = wire.bodies()
    assert body["inputs"] == [1, 2]
    assert [c["configurable"] for c in body["config"]] == [{"k": 1}, {"k": 2}]


async def test_stream_requests(wire: Wire) -> None:
    remote = wired(wire)
    assert list(remote.stream(1)) == [2]
    assert [c async for c in remote.astream(1)] == [2]
    assert [p.ops async for p in remote.astream_log(1, include_names=["x"])] == [[]]
    assert [e async for e in remote.astream_events(1, exclude_tags=("t",))] == [EVENT]
    paths = [r.url.path for r in wire.requests]
    assert paths == ["/add_one/" + e for e in ("stream", "stream", "stream_log", "stream_events")]
    for request in wire.requests:
        assert request.headers["accept"] == "text/event-stream"
        assert request.headers["cache-control"] == "no-store"
    log_body, events_body = wire.bodies()[2:]
    assert log_body["diff"] is True and log_body["include_names"] == ["x"]
    assert events_body["exclude_tags"] == ["t"] and events_body["include_names"] is None


async def test_keyword_arguments_are_refused_before_any_request(wire: Wire) -> None:
    remote = wired(wire)
    with pytest.raises(NotImplementedError):
        remote.invoke(1, stop=["x"])
    with pytest.raises(NotImplementedError):
        await remote.abatch([1], stop=["x"])
    assert wire.requests == []


def test_timeouts() -> None:
    assert RemoteRunnable("http://s").sync_client.timeout == DEFAULT_TIMEOUT
    assert DEFAULT_TIMEOUT.connect == 10 and DEFAULT_TIMEOUT.read is None
    assert RemoteRunnable("http://s", timeout=None).async_client.timeout == httpx.Timeout(None)
    assert RemoteRunnable("http://s", timeout=3).sync_client.timeout == httpx.Timeout(3)


def test_client_options() -> None:
    remote = RemoteRunnable(
        "http://s/path",
        headers={"X-A": "1"},
        cookies={"c": "v"},
        auth=("u", "p"),
        client_kwargs={"follow_redirects": True},
    )
    assert remote.url == "http://s/path/"
    for client in (remote.sync_client, remote.async_client):
        assert client.headers["x-a"] == "1"
        assert client.cookies["c"] == "v"
        assert client.follow_redirects is True
        assert isinstance(client.auth, httpx.BasicAuth)


def test_sync_context_manager_closes_the_sync_client() -> None:
    with RemoteRunnable("http://s") as remote:
        pass
    assert remote.sync_client.is_closed


async def test_async_context_manager_closes_both_clients() -> None:
    async with RemoteRunnable("http://s") as remote:
        pass
    assert remote.sync_client.is_closed and remote.async_client.is_closed


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class PointSerializer(Serializer):
    """Round-trips ``Point`` objects, everything else as the default serializer."""

    def dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=lambda p: {"__point__": [p.x, p.y]})

    def loadd(self, obj: Any) -> Any:
        if isinstance(obj, dict) and "__point__" in obj:
            return Point(*obj["__point__"])
        return WellKnownLCSerializer().loadd(obj)


def to_point(x):
    return Point(x, x + 1)


@pytest.fixture(params=["langserve", "chainserve"], scope="module")
def point_url(request: pytest.FixtureRequest) -> Iterator[str]:
    add_routes = {"langserve": langserve.add_routes, "chainserve": chainserve.add_routes}
    app = FastAPI()
    add_routes[request.param](
        app, RunnableLambda(to_point), path="/point", serializer=PointSerializer()
    )
    with serve(app) as url:
        yield url + "/point"


async def test_custom_serializer_round_trip(point_url: str) -> None:
    async with RemoteRunnable(point_url, serializer=PointSerializer()) as remote:
        for point in [remote.invoke(1), await remote.ainvoke(1), *remote.stream(1)]:
            assert isinstance(point, Point) and (point.x, point.y) == (1, 2)


async def test_an_async_transport_in_client_kwargs_goes_to_the_async_client() -> None:
    import httpx
    from fastapi import FastAPI
    from langchain_core.runnables import RunnableLambda

    from chainserve import RemoteRunnable, add_routes

    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x + 1), path="/add")
    remote = RemoteRunnable(
        "http://test/add", client_kwargs={"transport": httpx.ASGITransport(app=app)}
    )
    assert await remote.ainvoke(1) == 2
    await remote.aclose()  # closing the sync client must not touch the ASGI transport
