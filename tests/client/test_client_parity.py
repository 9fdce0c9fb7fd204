"""Every RemoteRunnable method against every server kind, compared with a local run."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable

import pytest
from apps import RUNNABLES
from langchain_core.runnables import Runnable
from remote_cases import (
    ASYNC_METHODS,
    CASES,
    SYNC_METHODS,
    Case,
    Server,
    run_async,
    run_sync,
    summarize,
)

from chainserve.client import RemoteRunnable
from chainserve.exceptions import InternalServerError


def reset_chat_model(server: Server) -> None:
    # FakeListChatModel hands out its replies in turn; start both sides at the first.
    server.served.runnables["/chat"].bound.i = 0


def pair(
    case: Case, server: Server, make_remote: Callable[..., RemoteRunnable]
) -> tuple[Runnable, Runnable]:
    reset_chat_model(server)
    remote = case.wrap(make_remote(case.path))
    local = case.wrap(RUNNABLES[case.path]())
    return remote, local


# Server behaviour that differs from a local run, asserted so that a fix shows up.
# "fails": LangServe answers 500: for a ``list[BaseMessage]`` input it hands the
#   model bare ``BaseMessage`` objects, which LangChain's run-log tracer rejects.
# "no_partial_events": chainserve answers a plain JSON 500 when the runnable fails
#   before its first output, dropping the events already produced (LangServe streams
#   them, then an ``error`` event).
LOG = ("astream_log", "astream_log_accumulated")
KNOWN_DEVIATIONS = {
    **{("langserve", "/chat", m): "fails" for m in LOG},
    **{("chainserve", "/fail", m): "no_partial_events" for m in (*LOG, "astream_events")},
}


def local_sync_reference(case: Case, method: str, local: Runnable) -> tuple:
    if case.async_only:  # the remote is sync either way; only the reference is not
        return asyncio.run(run_async(case, "a" + method, local))
    return run_sync(case, method, local)


@pytest.fixture(autouse=True)
def _quiet_deprecations() -> None:
    # astream_log is deprecated in langchain-core; the local reference run uses it.
    warnings.filterwarnings("ignore", message=".*astream_log.*")


@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize("name", CASES)
def test_sync_method_matches_local(server, make_remote, name, method) -> None:
    case = CASES[name]
    remote, local = pair(case, server, make_remote)
    remote_result, remote_error = run_sync(case, method, remote)
    local_result, local_error = local_sync_reference(case, method, local)
    assert remote_error is None and local_error is None
    assert summarize(case, method, remote_result) == summarize(case, method, local_result)


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("name", CASES)
async def test_async_method_matches_local(server, make_remote, name, method) -> None:
    case = CASES[name]
    remote, local = pair(case, server, make_remote)
    remote_result, remote_error = await run_async(case, method, remote)
    local_result, local_error = await run_async(case, method, local)
    if KNOWN_DEVIATIONS.get((server.package, case.path, method)) == "fails":
        assert isinstance(remote_error, InternalServerError)
        return
    assert remote_error is None and local_error is None
    assert summarize(case, method, remote_result) == summarize(case, method, local_result)


FAILING = {
    "fail": Case("/fail", 1, [1, 2]),
    "fail_mid_stream": Case("/fail_mid_stream", 1, [1, 2], async_only=True),
}


def assert_same_failure(
    server: Server, case: Case, method: str, remote: tuple, local: tuple
) -> None:
    (remote_result, remote_error), (local_result, local_error) = remote, local
    assert isinstance(local_error, ValueError)
    assert isinstance(remote_error, InternalServerError)
    assert remote_error.status_code == 500
    if KNOWN_DEVIATIONS.get((server.package, case.path, method)):
        assert remote_result == []
        return
    # Chunks streamed before the failure still arrive.
    if "invoke" not in method and "batch" not in method:
        assert summarize(case, method, remote_result) == summarize(case, method, local_result)


@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize("name", FAILING)
def test_sync_failure_matches_local(server, make_remote, name, method) -> None:
    case = FAILING[name]
    remote = run_sync(case, method, make_remote(case.path))
    local = local_sync_reference(case, method, RUNNABLES[case.path]())
    assert_same_failure(server, case, method, remote, local)


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("name", FAILING)
async def test_async_failure_matches_local(server, make_remote, name, method) -> None:
    case = FAILING[name]
    remote = await run_async(case, method, make_remote(case.path))
    local = await run_async(case, method, RUNNABLES[case.path]())
    assert_same_failure(server, case, method, remote, local)
