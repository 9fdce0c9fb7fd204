"""Local callback handlers see the server's runs (§7.3, §14.6, streaming extension)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import langserve
import orjson
import pytest
from apps import RUNNABLES
from fastapi import FastAPI
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.log_stream import RunLog
from servers import serve

import chainserve
from chainserve.client import RemoteRunnable

JOKE = {"topic": "cats"}
# A nested chain without a model: LangServe's callback-event validation rejects the
# chat model's on_llm_end event (500), so its routes cannot carry the joke chain.
NESTED = {"langserve": ("/configurable", {"name": "bob"}), "chainserve": ("/joke", JOKE)}


class Recorder(BaseCallbackHandler):
    """Records (event, name, run_id, parent_run_id) for chain and model runs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, uuid.UUID, uuid.UUID | None]] = []

    def _add(self, kind: str, run_id: uuid.UUID, parent: uuid.UUID | None, **kw: Any):
        self.events.append((kind, kw.get("name"), run_id, parent))

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
        self._add("chain_start", run_id, parent_run_id, **kw)

    def on_chain_end(self, outputs, *, run_id, parent_run_id=None, **kw):
        self._add("chain_end", run_id, parent_run_id)

    def on_chain_error(self, error, *, run_id, parent_run_id=None, **kw):
        self._add("chain_error", run_id, parent_run_id)

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw):
        self._add("chat_model_start", run_id, parent_run_id)

    def on_llm_end(self, response, *, run_id, parent_run_id=None, **kw):
        self._add("llm_end", run_id, parent_run_id)

    def kinds(self) -> list[str]:
        return [event[0] for event in self.events]


class AsyncRecorder(AsyncCallbackHandler, Recorder):
    """The same, through async handler methods."""

    async def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
        self._add("chain_start", run_id, parent_run_id, **kw)

    async def on_chain_end(self, outputs, *, run_id, parent_run_id=None, **kw):
        self._add("chain_end", run_id, parent_run_id)


def callback_app(add_routes: Callable[..., Any]) -> FastAPI:
    app = FastAPI()
    for path in ("/joke", "/add_one", "/configurable"):
        add_routes(app, RUNNABLES[path](), path=path, include_callback_events=True)
    return app


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with (
        serve(callback_app(langserve.add_routes)) as ls,
        serve(callback_app(chainserve.add_routes)) as cs,
    ):
        yield {"langserve": ls, "chainserve": cs}


@pytest.fixture(params=["langserve", "chainserve"])
def package(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def base_url(package: str, urls: dict[str, str]) -> str:
    return urls[package]


def local_kinds(path: str, input: Any, method: str = "invoke") -> list[str]:
    recorder = Recorder()
    runnable = RUNNABLES[path]()
    if method == "stream":
        list(runnable.stream(input, {"callbacks": [recorder]}))
    else:
        runnable.invoke(input, {"callbacks": [recorder]})
    return recorder.kinds()


def assert_nested_under_remote(recorder: Recorder) -> None:
    """The first and last events are the RemoteRunnable run; the rest hang below it."""
    kind, name, root_id, parent = recorder.events[0]
    assert (kind, name, parent) == ("chain_start", "RemoteRunnable", None)
    assert recorder.events[-1][:3] == ("chain_end", None, root_id)
    started = {root_id}
    for kind, _, run_id, parent in recorder.events[1:-1]:
        if kind.endswith("_start"):
            assert parent in started, "replayed run is not below a known run"
            started.add(run_id)
        else:
            assert run_id in started


def test_invoke_replays_server_events(base_url: str, package: str) -> None:
    path, input = NESTED[package]
    recorder = Recorder()
    with RemoteRunnable(base_url + path) as remote:
        remote.invoke(input, {"callbacks": [recorder]})
    assert recorder.kinds()[1:-1] == local_kinds(path, input)
    assert_nested_under_remote(recorder)
    server_root = recorder.events[1]
    assert server_root[3] == recorder.events[0][2]  # re-parented under the local run


async def test_ainvoke_replays_into_async_handlers(base_url: str) -> None:
    recorder = AsyncRecorder()
    async with RemoteRunnable(base_url + "/add_one") as remote:
        assert await remote.ainvoke(1, {"callbacks": [recorder]}) == 2
    assert recorder.kinds() == ["chain_start"] * 2 + ["chain_end"] * 2
    assert_nested_under_remote(recorder)


@pytest.mark.parametrize("method", ["batch", "abatch"])
async def test_batch_replays_per_item(base_url: str, method: str) -> None:
    recorders = [Recorder(), Recorder()]
    configs = [{"callbacks": [r]} for r in recorders]
    async with RemoteRunnable(base_url + "/add_one") as remote:
        if method == "batch":
            assert remote.batch([1, 2], configs) == [2, 3]
        else:
            assert await remote.abatch([1, 2], configs) == [2, 3]
    for recorder in recorders:
        assert recorder.kinds() == ["chain_start"] * 2 + ["chain_end"] * 2
        assert_nested_under_remote(recorder)
    ids = {event[2] for recorder in recorders for event in recorder.events}
    assert len(ids) == 4  # fresh ids per item, none shared


def test_server_events_can_be_turned_off(base_url: str) -> None:
    recorder = Recorder()
    remote = RemoteRunnable(base_url + "/add_one", use_server_callback_events=False)
    with remote:
        remote.invoke(1, {"callbacks": [recorder]})
    assert recorder.kinds() == ["chain_start", "chain_end"]


def test_stream_replays_server_events_from_chainserve(urls: dict[str, str]) -> None:
    recorder = Recorder()
    with RemoteRunnable(urls["chainserve"] + "/joke") as remote:
        chunks = list(remote.stream(JOKE, {"callbacks": [recorder]}))
    assert "".join(chunks) == RUNNABLES["/joke"]().invoke(JOKE)
    assert recorder.kinds()[1:-1] == local_kinds("/joke", JOKE, "stream")
    assert_nested_under_remote(recorder)


async def test_astream_replays_server_events_from_chainserve(urls: dict[str, str]) -> None:
    recorder = AsyncRecorder()
    async with RemoteRunnable(urls["chainserve"] + "/add_one") as remote:
        assert [c async for c in remote.astream(1, {"callbacks": [recorder]})] == [2]
    assert recorder.kinds() == ["chain_start"] * 2 + ["chain_end"] * 2
    assert_nested_under_remote(recorder)


def test_stream_from_langserve_ignores_the_extension(urls: dict[str, str]) -> None:
    recorder = Recorder()
    with RemoteRunnable(urls["langserve"] + "/joke") as remote:
        chunks = list(remote.stream(JOKE, {"callbacks": [recorder]}))
    assert "".join(chunks) == RUNNABLES["/joke"]().invoke(JOKE)
    assert recorder.kinds() == ["chain_start", "chain_end"]


def recording_client(bodies: list[dict]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(orjson.loads(request.content))
        sse = b"event: data\r\ndata: 2\r\n\r\nevent: end\r\n\r\n"
        return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_stream_asks_for_callback_events_only_when_handlers_listen() -> None:
    bodies: list[dict] = []
    remote = RemoteRunnable("http://server/add_one")
    remote.sync_client = recording_client(bodies)
    assert list(remote.stream(1)) == [2]
    assert list(remote.stream(1, {"callbacks": [Recorder()]})) == [2]
    remote.use_server_callback_events = False
    assert list(remote.stream(1, {"callbacks": [Recorder()]})) == [2]
    flags = [body.get("stream_callback_events") for body in bodies]
    assert flags == [None, True, None]


async def test_local_astream_events_show_the_server_runs(urls: dict[str, str]) -> None:
    async with RemoteRunnable(urls["chainserve"] + "/joke") as remote:
        chain = RunnableLambda(lambda topic: {"topic": topic}) | remote
        events = [e async for e in chain.astream_events("cats", version="v2")]
    names = {(e["event"], e["name"]) for e in events}
    assert ("on_chain_start", "RemoteRunnable") in names
    assert ("on_chat_model_start", "FakeListChatModel") in names  # replayed from the server
    assert events[-1]["data"]["output"] == RUNNABLES["/joke"]().invoke(JOKE)


async def test_local_astream_log_is_not_fed_server_runs(urls: dict[str, str]) -> None:
    # langchain-core would build JSON-patch paths like "/logs//configurable" from them.
    config = {"configurable": {"template": "hear {name}"}}
    async with RemoteRunnable(urls["chainserve"] + "/configurable") as remote:
        log = RunLog(state=None)  # type: ignore[arg-type]
        async for patch in remote.with_config(config).astream_log({"name": "bob"}):
            log = log + patch
    assert log.state["final_output"] == "hear bob"
