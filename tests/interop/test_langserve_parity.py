"""The same app served by LangServe 0.3.3 and by chainserve answers alike.

Each test builds one app with either package's ``add_routes`` and compares what the
two send back, for behaviour where chainserve once differed: callback events' keys,
the order of a run's tags, ``HEAD`` on the feedback routes with tracing off, and the
error for endpoint names given as a string.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import langserve
import pytest
from apps import KeywordRetriever
from fastapi import FastAPI
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from servers import asgi_client, serve
from sse import parse_events
from sse_starlette.sse import AppStatus

import chainserve

pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")

PACKAGES = {"chainserve": chainserve.add_routes, "langserve": langserve.add_routes}


@pytest.fixture(autouse=True)
def _fresh_sse_exit_event() -> None:
    # sse-starlette (LangServe's streams) keeps one process-global exit event, bound to
    # the first event loop that waits on it; each test has its own loop.
    AppStatus.should_exit_event = None


def _fail(x: Any) -> Any:
    raise ValueError("inner failure")


def _seen_tags(x: Any, config: RunnableConfig) -> Any:
    return config.get("tags")


def recovering() -> Runnable:
    """A chain whose first step fails and whose fallback answers: an error event, then
    a successful run, so invoke succeeds and returns both kinds of events."""
    return RunnableLambda(_fail).with_fallbacks([RunnableLambda(lambda x: x + 1)])


def parity_app(add_routes: Callable[..., Any]) -> FastAPI:
    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x + 1), path="/add", include_callback_events=True)
    add_routes(app, recovering(), path="/recovering", include_callback_events=True)
    add_routes(app, KeywordRetriever(), path="/retriever", include_callback_events=True)
    keys = ["tags", "configurable"]
    add_routes(app, RunnableLambda(lambda x: x), path="/tags", config_keys=keys)
    add_routes(
        app,
        RunnableLambda(lambda x: x).with_config(tags=["route"]),
        path="/route_tags",
        config_keys=keys,
    )
    add_routes(app, RunnableLambda(_seen_tags), path="/seen_tags", config_keys=keys)
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    add_routes(app, RunnableLambda(repr), path="/repr")
    add_routes(
        app,
        RunnableLambda(lambda x: x),
        path="/rated",
        enable_feedback_endpoint=True,
        enable_public_trace_link_endpoint=True,
    )
    return app


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    return {name: parity_app(add_routes) for name, add_routes in PACKAGES.items()}


@pytest.fixture
async def clients(apps: dict[str, FastAPI]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    clients = {name: asgi_client(app, raise_app_exceptions=False) for name, app in apps.items()}
    yield clients
    for client in clients.values():
        await client.aclose()


async def both(
    clients: dict[str, httpx.AsyncClient], method: str, url: str, **kw: Any
) -> dict[str, httpx.Response]:
    """The same request to each server: chainserve's answer, then LangServe's."""
    return {name: await client.request(method, url, **kw) for name, client in clients.items()}


def shapes(events: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Each event's type and its keys, in order."""
    return [(event["type"], list(event)) for event in events]


@pytest.mark.parametrize(
    ("path", "input"),
    [("/add", 1), ("/recovering", 1), ("/retriever", "cats purr")],
    ids=["chain", "error_then_fallback", "retriever"],
)
async def test_callback_events_have_langserve_keys(
    clients: dict[str, httpx.AsyncClient], path: str, input: Any
) -> None:
    invoked = await both(clients, "POST", f"{path}/invoke", json={"input": input})
    batched = await both(clients, "POST", f"{path}/batch", json={"inputs": [input]})
    ours, theirs = (invoked[name].json()["callback_events"] for name in PACKAGES)
    assert shapes(ours) == shapes(theirs)
    [ours_batch], [theirs_batch] = (batched[name].json()["callback_events"] for name in PACKAGES)
    assert shapes(ours_batch) == shapes(theirs_batch)
    ends = [event for event in ours if event["type"].endswith(("_end", "_error"))]
    assert ends and all(event["metadata"] is None for event in ends)


TAGS = [["t0", "t1"], ["t1", "t0"], ["b", "a", "c", "a"]]


def start_tags(response: httpx.Response) -> list[list[str]]:
    return [
        data["tags"]
        for name, data in parse_events(response.text)
        if name == "data" and data["event"] == "on_chain_start"
    ]


@pytest.mark.parametrize("tags", TAGS, ids=["sorted", "reversed", "repeated"])
@pytest.mark.parametrize("path", ["/tags", "/route_tags"])
async def test_stream_events_tags_in_langserve_order(
    clients: dict[str, httpx.AsyncClient], path: str, tags: list[str]
) -> None:
    body = {"input": 1, "config": {"tags": tags}}
    streamed = await both(clients, "POST", f"{path}/stream_events", json=body)
    ours, theirs = (start_tags(streamed[name]) for name in PACKAGES)
    assert ours == theirs
    expected = sorted({*tags, "route"} if path == "/route_tags" else set(tags))
    assert ours == [expected]


@pytest.mark.parametrize("tags", TAGS, ids=["sorted", "reversed", "repeated"])
async def test_the_run_sees_tags_in_langserve_order(
    clients: dict[str, httpx.AsyncClient], tags: list[str]
) -> None:
    body = {"input": None, "config": {"tags": tags}}
    invoked = await both(clients, "POST", "/seen_tags/invoke", json=body)
    ours, theirs = (invoked[name].json()["output"] for name in PACKAGES)
    assert ours == theirs == sorted(set(tags))


@pytest.mark.parametrize("route", ["feedback", "public_trace_link"])
async def test_head_on_feedback_routes_with_tracing_off(
    clients: dict[str, httpx.AsyncClient], route: str
) -> None:
    answers = await both(clients, "HEAD", f"/rated/{route}")
    assert {name: r.status_code for name, r in answers.items()} == {
        "langserve": 200,
        "chainserve": 200,
    }
    # The write itself says why it cannot record.
    zero = "00000000-0000-0000-0000-000000000000"
    method, body = (
        ("POST", {"run_id": zero, "key": "k"}) if route == "feedback" else ("PUT", {"run_id": zero})
    )
    written = await both(clients, method, f"/rated/{route}", json=body)
    assert {name: r.status_code for name, r in written.items()} == {
        "langserve": 400,
        "chainserve": 400,
    }
    assert "tracing" in written["chainserve"].json()["detail"]


@pytest.mark.parametrize(
    ("option", "value"),
    itertools.product(["enabled_endpoints", "disabled_endpoints"], ["invoke", "bogus"]),
)
@pytest.mark.parametrize("package", PACKAGES)
def test_endpoint_names_given_as_a_string(package: str, option: str, value: str) -> None:
    with pytest.raises(ValueError):
        PACKAGES[package](FastAPI(), RunnableLambda(lambda x: x), **{option: value})


def test_endpoint_names_error_is_also_a_type_error() -> None:
    with pytest.raises(TypeError) as info:
        chainserve.add_routes(FastAPI(), RunnableLambda(lambda x: x), disabled_endpoints="invoke")
    assert isinstance(info.value, chainserve.exceptions.EndpointNamesError)


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**63) - 1, 123456789012345678901234567890, [1.25, 10**30, {"n": -(10**40)}]],
    ids=["2**64", "-2**63-1", "30_digits", "nested"],
)
async def test_integers_beyond_64_bits_stay_exact(
    clients: dict[str, httpx.AsyncClient], value: Any
) -> None:
    # As LangServe, the runnable gets them exact.
    read = await both(clients, "POST", "/repr/invoke", content=json.dumps({"input": value}))
    ours, theirs = (read[name].json()["output"] for name in PACKAGES)
    assert ours == theirs == repr(value)
    # And, unlike LangServe (whose orjson encoder answers 500), outputs are written exact.
    client = clients["chainserve"]
    invoked = await client.post("/echo/invoke", content=json.dumps({"input": value}))
    batched = await client.post("/echo/batch", content=json.dumps({"inputs": [value, 1]}))
    streamed = await client.post("/echo/stream", content=json.dumps({"input": value}))
    assert json.loads(invoked.text)["output"] == value
    assert json.loads(batched.text)["output"] == [value, 1]
    assert ("data", value) in parse_events(streamed.text)


def test_remote_runnable_keeps_integers_beyond_64_bits(apps: dict[str, FastAPI]) -> None:
    with serve(apps["chainserve"]) as url:
        remote = chainserve.RemoteRunnable(f"{url}/echo")
        value = {"n": 10**30, "m": [-(2**64)]}
        assert remote.invoke(value) == value
        assert remote.batch([value]) == [value]
        assert list(remote.stream(value)) == [value]
        remote.close()
