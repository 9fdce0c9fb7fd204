"""The playground of a LangGraph graph with a checkpointer, in headless Chromium.

The configuration panel offers the graph's ``thread_id``; runs on one thread build on
each other, and another thread starts afresh.
"""

from __future__ import annotations

from pages import field, screenshot
from playwright.sync_api import Page, expect


def run(page: Page, text: str) -> None:
    if not page.locator("textarea.whole-input").is_visible():
        page.get_by_role("button", name="Edit as JSON").click()
    page.locator("textarea.whole-input").fill(f'{{"messages": "{text}"}}')
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".run-status")).to_contain_text("Done")


def test_runs_on_a_thread_continue_its_state(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/graph/playground/")
    thread = field(page, "configurable.thread_id")
    expect(thread).to_have_count(1)
    expect(field(page, "configurable.checkpoint_id")).to_have_count(1)
    thread.fill("browser-thread")
    run(page, "first")
    expect(page.locator(".output")).to_contain_text("reply 1 to first")
    run(page, "second")
    expect(page.locator(".output")).to_contain_text("reply 2 to second")
    screenshot(page, "graph-playground-thread")
    thread.fill("another-thread")
    run(page, "third")
    expect(page.locator(".output")).to_contain_text("reply 1 to third")
    expect(page.locator(".output")).not_to_contain_text("second")


def test_a_run_without_a_thread_says_what_is_missing(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/graph/playground/")
    page.get_by_role("button", name="Edit as JSON").click()
    page.locator("textarea.whole-input").fill('{"messages": "hi"}')
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output .error-message")).to_contain_text("thread_id")
    screenshot(page, "graph-playground-no-thread")
