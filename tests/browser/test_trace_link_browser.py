"""The chat playground's "Public trace" button, in headless Chromium, end to end.

The server runs with LangSmith tracing on, pointed at the fake LangSmith of
tests/langsmith_fake.py (served on loopback). A person chats, clicks "Public
trace" under the answer, and the page asks the route to share the run
(``PUT <route>/public_trace_link``); chainserve asks LangSmith to share that run and
the page opens the public URL it gets back in a new tab.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from apps import echo_chat_model
from fastapi import FastAPI
from langsmith_fake import FakeLangSmith, langsmith_tracing
from pages import screenshot
from playwright.sync_api import Page, Request, Response, Route, expect
from servers import serve
from sse import parse_events

from chainserve import add_routes

TRACE_BUTTON = "Public trace"


@dataclass
class TracedServer:
    url: str
    langsmith: FakeLangSmith


def traced_app() -> FastAPI:
    app = FastAPI()
    add_routes(
        app,
        echo_chat_model(),
        path="/traced_chat",
        playground_type="chat",
        enable_public_trace_link_endpoint=True,
    )
    # Feedback on, trace links off: the thumbs show that the page has finished asking
    # the route what it offers, so the missing trace button is not a race.
    add_routes(
        app,
        echo_chat_model(),
        path="/untraced_chat",
        playground_type="chat",
        enable_feedback_endpoint=True,
    )
    return app


@pytest.fixture(scope="module")
def traced_server() -> Iterator[TracedServer]:
    """chainserve with LangSmith tracing on, talking to a fake LangSmith on loopback.

    The environment and langsmith's caches are restored at the end of the module, so
    nothing leaks into other tests (the uvicorn thread shares this process).
    """
    from langchain_core.tracers.langchain import wait_for_all_tracers

    fake = FakeLangSmith()
    with serve(fake.app()) as langsmith_url:
        fake.url = langsmith_url
        with (
            langsmith_tracing(langsmith_url, "chainserve-browser-tests"),
            serve(traced_app()) as url,
        ):
            yield TracedServer(url=url, langsmith=fake)
            wait_for_all_tracers()  # uploads reach the fake before it stops


def _send(page: Page, text: str) -> str:
    """Send one chat message; return the run id the stream's metadata event announced."""
    with page.expect_response(lambda r: r.url.endswith("/stream")) as streamed:
        page.locator("textarea.composer-input").fill(text)
        page.get_by_role("button", name="Send").click()
    expect(page.locator(".bubble-ai")).to_contain_text(f"You said: {text}")
    expect(page.locator(".bubble.streaming")).to_have_count(0)
    events = dict(parse_events(streamed.value.text()))
    return str(events["metadata"]["run_id"])


def test_public_trace_button_opens_the_shared_trace(
    page: Page, traced_server: TracedServer
) -> None:
    langsmith = traced_server.langsmith

    def public_page(route: Route) -> None:  # the public URL is LangSmith's web app
        route.fulfill(
            status=200,
            content_type="text/html",
            body=f"<title>Shared trace</title><h1>Shared trace</h1><p>{route.request.url}</p>",
        )

    page.context.route("**/public/*/r", public_page)
    page.goto(f"{traced_server.url}/traced_chat/playground/")
    expect(page.get_by_role("button", name=TRACE_BUTTON)).to_have_count(0)  # nothing run yet
    run_id = _send(page, "share this run")

    button = page.locator(".bubble-ai").get_by_role("button", name=TRACE_BUTTON)
    expect(button).to_have_count(1)
    expect(page.locator(".bubble-human").get_by_role("button", name=TRACE_BUTTON)).to_have_count(0)
    screenshot(page, "chat-public-trace-button")

    def is_share(response: Response) -> bool:
        return (
            response.url == f"{traced_server.url}/traced_chat/public_trace_link"
            and response.request.method == "PUT"
        )

    with (
        page.context.expect_page(timeout=10_000) as opened,
        page.expect_response(is_share) as shared,
    ):
        button.click()
    assert shared.value.status == 200, shared.value.text()
    assert shared.value.request.post_data_json == {"run_id": run_id}
    public_url = shared.value.json()["public_url"]

    # chainserve asked LangSmith to share exactly this run, and the URL it answered
    # with carries the share token LangSmith stored.
    [share] = langsmith.sent("PUT", f"/runs/{run_id}/share")
    assert share["run_id"] == run_id
    assert public_url.endswith(f"/public/{share['share_token']}/r")

    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == public_url
    expect(tab.locator("h1")).to_have_text("Shared trace")
    screenshot(tab, "chat-public-trace-opened")
    tab.close()
    assert page.locator(".toast-error").count() == 0


def test_no_public_trace_button_without_the_endpoint(
    page: Page, traced_server: TracedServer
) -> None:
    asked: list[str] = []

    def record(request: Request) -> None:
        if "public_trace_link" in request.url:
            asked.append(f"{request.method} {request.url}")

    page.on("request", record)
    langsmith = traced_server.langsmith
    calls_before = len(langsmith.calls)
    index = page.goto(f"{traced_server.url}/untraced_chat/playground/")
    assert index is not None and '"publicTraceLink": false' in index.text()
    _send(page, "keep this private")
    answer = page.locator(".bubble-ai")
    expect(answer.get_by_role("button", name="Thumbs up")).to_have_count(1)
    expect(page.get_by_role("button", name="Regenerate")).to_have_count(1)
    expect(page.get_by_role("button", name=TRACE_BUTTON)).to_have_count(0)
    screenshot(page, "chat-no-public-trace-button")
    assert asked == []
    new_calls = langsmith.calls[calls_before:]
    assert not [path for _, path, _ in new_calls if path.endswith("/share")], json.dumps(
        new_calls, default=str
    )


def test_thumbs_record_feedback_in_langsmith(page: Page, traced_server: TracedServer) -> None:
    langsmith = traced_server.langsmith
    index = page.goto(f"{traced_server.url}/untraced_chat/playground/")
    assert index is not None and '"feedback": true' in index.text()
    run_id = _send(page, "rate me")
    with page.expect_response(lambda r: r.url.endswith("/untraced_chat/feedback")) as rated:
        page.get_by_role("button", name="Thumbs up").click()
    assert rated.value.status == 200, rated.value.text()
    expect(page.locator(".thumb.chosen")).to_have_count(1)
    screenshot(page, "chat-feedback")
    sent = [body for body in langsmith.sent("POST", "/feedback") if body["run_id"] == run_id]
    assert [(body["key"], body["score"]) for body in sent] == [("correctness", 1)]
    assert page.locator(".toast-error").count() == 0
