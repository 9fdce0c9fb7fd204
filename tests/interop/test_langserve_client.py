"""LangServe's own ``RemoteRunnable`` (0.3.3) against a chainserve server.

Every result is compared with a local run of the same runnable (``local_runs``). The
tests are async even for the sync client methods, to await the local run; the sync
client blocks the test's event loop while it waits, which is fine as the server runs
in its own thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import local_runs
import pytest
from langchain_core.runnables import Runnable
from langchain_core.tracers.log_stream import RunLog, RunLogPatch
from langserve import RemoteRunnable
from local_runs import ADD_ONE, CHAT, CONFIGURABLE, JOKE, RETRIEVER, SECRET, Case, plain

CASES = [JOKE, RETRIEVER, CONFIGURABLE, CHAT]

# The server's stream_log runs astream_log, deprecated in langchain-core; pytest's
# warning capture undoes chainserve's filter for it.
pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")

RemoteFactory = Callable[[str], RemoteRunnable]


@pytest.fixture
async def remote(server_url: str) -> AsyncIterator[RemoteFactory]:
    """``remote(path)``: a LangServe client for the runnable served at ``path``.

    The clients are closed on the test's event loop: left to their garbage-collection
    finaliser, the async ones would close their connections on a loop already closed.
    """
    clients: list[RemoteRunnable] = []

    def factory(path: str) -> RemoteRunnable:
        clients.append(RemoteRunnable(server_url + path))
        return clients[-1]

    yield factory
    for client in clients:
        client.sync_client.close()
        await client.async_client.aclose()


def client_for(remote: RemoteFactory, case: Case) -> Runnable:
    """The client as a user would call this case: configured with ``with_config``."""
    return remote(case.path).with_config(case.config)


def assert_hidden(error: httpx.HTTPStatusError, status: int) -> None:
    """``error`` has ``status`` and does not reveal the server-side exception."""
    assert error.response.status_code == status
    assert SECRET not in str(error)
    try:
        text = error.response.text
    except httpx.ResponseNotRead:
        # The client raises for an error status of a streaming call before reading
        # the body. (LangServe answers a run that fails before its first chunk with
        # a 200 stream and an error event, which the client turns into a response
        # with a text; chainserve answers with the 500 itself.)
        return
    assert SECRET not in text


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
class TestAgainstLocalRuns:
    async def test_invoke(self, remote: RemoteFactory, case: Case) -> None:
        output = client_for(remote, case).invoke(case.input)
        assert plain(output) == await local_runs.invoke(case)

    async def test_ainvoke(self, remote: RemoteFactory, case: Case) -> None:
        output = await client_for(remote, case).ainvoke(case.input)
        assert plain(output) == await local_runs.invoke(case)

    async def test_batch(self, remote: RemoteFactory, case: Case) -> None:
        outputs = client_for(remote, case).batch(case.inputs)
        assert plain(outputs) == await local_runs.batch(case)

    async def test_abatch(self, remote: RemoteFactory, case: Case) -> None:
        outputs = await client_for(remote, case).abatch(case.inputs)
        assert plain(outputs) == await local_runs.batch(case)

    async def test_stream(self, remote: RemoteFactory, case: Case) -> None:
        chunks = list(client_for(remote, case).stream(case.input))
        assert plain(chunks) == await local_runs.stream(case)

    async def test_astream(self, remote: RemoteFactory, case: Case) -> None:
        chunks = [chunk async for chunk in client_for(remote, case).astream(case.input)]
        assert plain(chunks) == await local_runs.stream(case)

    async def test_astream_log(self, remote: RemoteFactory, case: Case) -> None:
        log: RunLogPatch | None = None
        async for patch in client_for(remote, case).astream_log(case.input):
            assert isinstance(patch, RunLogPatch)
            log = patch if log is None else log + patch
        assert isinstance(log, RunLog)
        assert local_runs.log_summary(log.state) == await local_runs.stream_log(case)

    async def test_astream_events(self, remote: RemoteFactory, case: Case) -> None:
        client = client_for(remote, case)
        events = [event async for event in client.astream_events(case.input, version="v2")]
        assert local_runs.events_summary(events) == await local_runs.stream_events(case)


class TestErrors:
    def test_invoke_hides_the_exception(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            remote("/fail").invoke(1)
        assert_hidden(info.value, 500)

    async def test_ainvoke_hides_the_exception(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            await remote("/fail").ainvoke(1)
        assert_hidden(info.value, 500)

    def test_batch_fails_as_a_whole(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            remote("/fail").batch([1, 2])
        assert_hidden(info.value, 500)

    async def test_abatch_fails_as_a_whole(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            await remote("/fail").abatch([1, 2])
        assert_hidden(info.value, 500)

    def test_stream_fails_after_its_first_chunk(self, remote: RemoteFactory) -> None:
        chunks: list[Any] = []
        with pytest.raises(httpx.HTTPStatusError) as info:
            chunks.extend(remote("/fail_mid_stream").stream(1))
        assert chunks == [1]
        assert_hidden(info.value, 500)

    async def test_astream_fails_after_its_first_chunk(self, remote: RemoteFactory) -> None:
        chunks: list[Any] = []
        with pytest.raises(httpx.HTTPStatusError) as info:
            async for chunk in remote("/fail_mid_stream").astream(1):
                chunks.append(chunk)
        assert chunks == [1]
        assert_hidden(info.value, 500)

    def test_stream_of_a_run_failing_at_once(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            list(remote("/fail").stream(1))
        assert_hidden(info.value, 500)

    async def test_astream_log_of_a_failing_run(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            async for _ in remote("/fail").astream_log(1):
                pass
        assert_hidden(info.value, 500)

    async def test_astream_events_fail_after_the_first_chunk(self, remote: RemoteFactory) -> None:
        kinds: list[str] = []
        with pytest.raises(httpx.HTTPStatusError) as info:
            async for event in remote("/fail_mid_stream").astream_events(1, version="v2"):
                kinds.append(event["event"])
        assert kinds == ["on_chain_start", "on_chain_stream"]
        assert_hidden(info.value, 500)

    def test_invoke_with_an_input_of_the_wrong_type(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            remote(ADD_ONE.path).invoke("not a number")
        assert info.value.response.status_code == 422

    async def test_astream_with_an_input_of_the_wrong_type(self, remote: RemoteFactory) -> None:
        with pytest.raises(httpx.HTTPStatusError) as info:
            async for _ in remote(ADD_ONE.path).astream("not a number"):
                pass
        assert info.value.response.status_code == 422

    def test_batch_with_an_input_of_the_wrong_type(self, remote: RemoteFactory) -> None:
        # LangServe itself answers 500 here (its spec §2.3); chainserve says 422.
        with pytest.raises(httpx.HTTPStatusError) as info:
            remote(ADD_ONE.path).batch([1, "not a number"])
        assert info.value.response.status_code == 422
