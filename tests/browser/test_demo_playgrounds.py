"""Every route of the built-in demo, used from its playground as a person would use it.

The routes come from the demo app itself, so a new demo route is covered as soon as it is
added, and fails here until ``USES`` says how a person fills its playground.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from pages import field, screenshot
from playwright.sync_api import Page, expect
from servers import serve

from chainserve.demo import LocalChatModel, create_app

# "<route>/playground" (the hashed twin "<route>/c/{config_hash}/playground" has braces).
_PLAYGROUND = re.compile(r"(?P<route>/[^{}]+)/playground")


def demo_routes() -> list[str]:
    """The demo's routes that have a playground, as the app registers them."""
    app = create_app(LocalChatModel())
    paths = [getattr(route, "path", "") for route in app.routes]
    return sorted({match["route"] for path in paths if (match := _PLAYGROUND.fullmatch(path))})


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """The demo app, answering with the local model (no key, no network), on a socket."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CHAINSERVE_MODEL", "local")
        app = create_app()
        with serve(app) as url:
            yield url


def run(page: Page) -> None:
    """Press Run and wait until the run is over, with its steps shown."""
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".run-status")).to_contain_text("Done")
    expect(page.locator(".steps details.step").first).to_be_visible()


def use_chat(page: Page) -> None:
    page.get_by_role("button", name="+ Human").click()
    page.locator(".message-row textarea.content").fill("hello demo")
    run(page)
    expect(page.locator(".output-text")).to_have_text("You said: hello demo")


def use_joke(page: Page) -> None:
    field(page, "topic").fill("penguins")
    run(page)
    expect(page.locator(".output-text")).to_contain_text("penguins")


def use_search(page: Page) -> None:
    page.get_by_placeholder("Type the input text").fill("how do streams work")
    run(page)
    # The bundled documents/streaming.md: the best match for the query.
    expect(page.locator(".output")).to_contain_text("Streams are Server-Sent Events")


def use_ask(page: Page) -> None:
    field(page, "question").fill("how do streams work?")
    run(page)
    expect(page.locator(".output-text")).to_have_text(
        "From the documents: Streams are Server-Sent Events: a metadata event, one data event "
        "per chunk, then an end event."
    )


def use_configurable(page: Page) -> None:
    output = page.locator(".output-text")
    field(page, "topic").fill("dogs")
    run(page)
    expect(output).to_contain_text("dogs")
    plain = output.inner_text()
    # The alternative: the same answer, shouted.
    field(page, "configurable.style").select_option(label="shout")
    run(page)
    expect(output).to_have_text(plain.upper())
    # The field: a different prompt gives a different answer.
    field(page, "configurable.template").fill("tell me a joke about robot {topic}")
    run(page)
    expect(output).to_contain_text("ROBOT DOGS")


def use_assistant(page: Page) -> None:
    expect(page.locator(".notice")).to_have_count(0)  # no fall back to the form
    box = page.locator("textarea.composer-input")
    box.fill("hello assistant")
    box.press("Enter")
    expect(page.locator(".bubble-ai").last).to_have_text(re.compile("You said: hello assistant"))
    box.fill("and again")
    page.get_by_role("button", name="Send").click()
    # The whole conversation is sent: the local model counts the earlier messages.
    expect(page.locator(".bubble-ai").last).to_contain_text(
        "You said: and again (2 earlier messages"
    )
    expect(page.locator(".bubble")).to_have_count(4)


# How a person fills each demo route's playground, runs it and sees a sensible answer.
USES: dict[str, Callable[[Page], None]] = {
    "/chat": use_chat,
    "/joke": use_joke,
    "/search": use_search,
    "/ask": use_ask,
    "/configurable": use_configurable,
    "/assistant": use_assistant,
}


def test_every_use_is_a_demo_route() -> None:
    assert set(USES) <= set(demo_routes()), "USES has entries for routes the demo lacks"


@pytest.mark.parametrize("route", demo_routes())
def test_demo_playground(page: Page, demo_url: str, route: str) -> None:
    use = USES.get(route)
    if use is None:
        pytest.fail(
            f"The demo route {route} has no entry in USES ({__file__}): add a function that "
            "fills its playground as a person would, runs it and checks the answer.",
            pytrace=False,
        )
    page.goto(f"{demo_url}{route}/playground/")
    use(page)
    screenshot(page, "demo" + route.replace("/", "-"))
